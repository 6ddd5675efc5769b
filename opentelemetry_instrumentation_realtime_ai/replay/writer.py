"""Writes ``<replay_dir>/<session.id>.html`` when a session's ``pipeline.run`` span ends.

A span processor: it keeps the ended spans a page shows of the sessions' traces (bounded), and at the session's end
hands them to a thread that encodes them as the ``otlp_file`` exporter does, reads them back
and builds the page, so that this page and the CLI's from the same spans are the same.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SDKSpan

from .. import attributes as attrs
from ..recording import RecordingProcessor, safe_name
from . import build_page
from .model import shown

_log = logging.getLogger(__name__)

MAX_TRACES = 1024
"""Sessions and per-turn traces open at once; past it the oldest is let go."""
MAX_SPANS_PER_TRACE = 20_000
"""Spans a page shows per trace (turns, requests, connections); past it a trace's newest are let go."""
_MAX_CONNECTIONS = 64
_RECORDING_WAIT_S = 10.0


class ReplayProcessor(SpanProcessor):
    def __init__(self, directory: str, recordings: RecordingProcessor | None = None):
        self.directory = directory
        self.active = True
        self._recordings = recordings
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._turn_traces: dict[str, set[int]] = {}
        self._connections: deque[ReadableSpan] = deque(maxlen=_MAX_CONNECTIONS)
        self._threads: list[threading.Thread] = []

    def on_start(self, span: SDKSpan, parent_context: Context | None = None) -> None:
        """Keep the traces of sessions (and, with ``trace_per_turn``, of their turns): no other."""
        if not self.active or span.context is None:
            return
        if span.name == attrs.SPAN_PIPELINE_RUN or (span.name == attrs.SPAN_TURN and span.parent is None):
            with self._lock:
                self._traces.setdefault(span.context.trace_id, [])
                while len(self._traces) > MAX_TRACES:
                    self._traces.popitem(last=False)

    def on_end(self, span: ReadableSpan) -> None:
        if not self.active or span.context is None:
            return
        attributes = span.attributes or {}
        if not shown(span.name, attributes, [e.name for e in span.events]):
            return
        trace_id = span.context.trace_id
        with self._lock:
            if span.parent is None and attrs.CONNECTION_ID in attributes:
                self._connections.append(span)
            spans = self._traces.get(trace_id)
            if spans is not None and len(spans) < MAX_SPANS_PER_TRACE:
                spans.append(span)
            session_id = attributes.get(attrs.SESSION_ID)
            if span.name == attrs.SPAN_TURN and span.parent is None and session_id is not None:
                self._turn_traces.setdefault(str(session_id), set()).add(trace_id)
            if span.name != attrs.SPAN_PIPELINE_RUN:
                return
            collected = self._traces.pop(trace_id, [])
            for other in self._turn_traces.pop(str(session_id), set()):
                collected += self._traces.pop(other, [])
            collected += [c for c in self._connections if c.context.trace_id != trace_id]
        thread = threading.Thread(target=self._write, args=(collected, span), name="realtime-ai-replay")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _write(self, spans: list[ReadableSpan], run: ReadableSpan) -> None:
        session_id = str((run.attributes or {}).get(attrs.SESSION_ID) or format(run.context.span_id, "016x"))
        path = os.path.join(self.directory, safe_name(session_id) + ".html")
        try:
            recording = (run.attributes or {}).get(attrs.RECORDING_PATH)
            if isinstance(recording, str) and self._recordings is not None:
                self._recordings.wait(recording, _RECORDING_WAIT_S)
            audio = recording if isinstance(recording, str) and os.path.exists(recording) else None
            build_page(spans, path, session_id=session_id, audio=audio)
        except Exception:  # the app's session is over; a page we could not write must not matter to it
            _log.warning("could not write the replay of session %s to %s", session_id, path, exc_info=True)

    def shutdown(self) -> None:
        self.active = False
        self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)


def install(tracer_provider: Any, options: Any) -> tuple[RecordingProcessor | None, list[SpanProcessor]]:
    """Add the recording and replay processors the options ask for to the SDK tracer provider."""
    if not (options.recording_dir or options.replay_dir):
        return None, []
    if not hasattr(tracer_provider, "add_span_processor"):
        _log.warning(
            "replay_dir / recording_dir need an SDK TracerProvider set before instrumenting; nothing is recorded"
        )
        return None, []
    recordings = RecordingProcessor(options.recording_dir) if options.recording_dir else None
    processors: list[SpanProcessor] = [recordings] if recordings else []
    if options.replay_dir:
        processors.append(ReplayProcessor(options.replay_dir, recordings))
    for processor in processors:  # the recording first: it is closed before the page reads it
        tracer_provider.add_span_processor(processor)
    return recordings, processors
