"""A console exporter a person can read: each trace as an indented tree with durations.

Spans are held until their trace's root span ends, then printed together; memory is
bounded (``max_spans``), so a trace whose root never ends cannot grow it for ever.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TextIO

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from . import attributes as attrs

# Attributes worth a glance in a tree line, in this order.
_SHOWN = (
    attrs.SESSION_ID,
    attrs.GEN_AI_PROVIDER_NAME,
    attrs.TURN_NUMBER,
    attrs.TURN_USER_BOT_LATENCY,
    attrs.TURN_INTERRUPTED,
    attrs.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    attrs.GEN_AI_USAGE_INPUT_TOKENS,
    attrs.GEN_AI_USAGE_OUTPUT_TOKENS,
    attrs.TTS_VOICE,
    attrs.AUDIO_DATA_SIZE,
    attrs.INTERRUPTED,
    attrs.CONNECTION_STATE,
    attrs.PIPELINE_ELEMENT,
    attrs.MESSAGE_TYPE,
    attrs.ERROR_TYPE,
)


class TreeConsoleSpanExporter(SpanExporter):
    def __init__(self, out: TextIO | None = None, max_spans: int = 20_000):
        self._out = out
        self._max_spans = max_spans
        self._traces: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready = []
        with self._lock:
            for span in spans:
                trace_spans = self._traces.setdefault(span.context.trace_id, [])
                trace_spans.append(span)
                self._count += 1
                if span.parent is None or span.parent.is_remote:
                    ready.append(self._traces.pop(span.context.trace_id))
                    self._count -= len(ready[-1])
            while self._count > self._max_spans and self._traces:
                _, dropped = self._traces.popitem(last=False)
                self._count -= len(dropped)
        for trace_spans in ready:
            self._print(trace_spans)
        return SpanExportResult.SUCCESS

    def _print(self, spans: list[ReadableSpan]) -> None:
        by_parent: dict[int | None, list[ReadableSpan]] = {}
        ids = {s.context.span_id for s in spans}
        for span in spans:
            parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
            by_parent.setdefault(parent, []).append(span)
        lines = [f"trace {spans[0].context.trace_id:032x}"]

        def walk(parent: int | None, depth: int) -> None:
            for span in sorted(by_parent.get(parent, []), key=lambda s: s.start_time or 0):
                lines.append("  " * depth + _line(span))
                lines.extend("  " * (depth + 1) + _event_line(e) for e in span.events if e.name in _EVENTS)
                walk(span.context.span_id, depth + 1)

        walk(None, 1)
        out = self._out or sys.stdout
        out.write("\n".join(lines) + "\n")
        out.flush()

    def shutdown(self) -> None:
        with self._lock:
            pending = list(self._traces.values())
            self._traces.clear()
        for trace_spans in pending:
            self._print(trace_spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _line(span: ReadableSpan) -> str:
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    shown = span.attributes or {}
    breakdown = _breakdown(shown)
    details = " ".join(
        f"{key}={_fmt(shown[key])}"
        for key in _SHOWN
        if key in shown and not (breakdown and key == attrs.TURN_USER_BOT_LATENCY)
    )
    error = " ERROR" if span.status.status_code is StatusCode.ERROR else ""
    return f"{span.name} {duration_ms:.1f} ms{error}" + (f"  [{details}]" if details else "") + breakdown


def _breakdown(shown: Mapping[str, object]) -> str:
    """``  latency 812 ms = endpointing 201 + turn_detection 150 + llm 310 + ...`` for a turn."""
    stages = [
        f"{stage} {value * 1000:.0f}"
        for stage in attrs.TURN_STAGES
        if isinstance(value := shown.get(attrs.TURN_LATENCY_PREFIX + stage), float)
    ]
    latency = shown.get(attrs.TURN_USER_BOT_LATENCY)
    if not stages or not isinstance(latency, float):
        return ""
    return f"  latency {latency * 1000:.0f} ms = " + " + ".join(stages)


# Events worth a line of their own under their span: what went wrong in real time.
_EVENTS = frozenset({attrs.EVENT_LOOP_BLOCKED})


def _event_line(event: Event) -> str:
    shown = dict(event.attributes or {})
    duration = shown.pop(attrs.EVENT_LOOP_BLOCKED_DURATION, None)
    details = " ".join(f"{key}={_fmt(value)}" for key, value in shown.items())
    took = f" {float(duration) * 1000:.0f} ms" if isinstance(duration, (int, float)) else ""
    return f"! {event.name}{took}" + (f"  [{details}]" if details else "")


def _fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
