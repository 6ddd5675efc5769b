"""The ``otlp_file`` exporter: spans as OTLP JSON lines, the OpenTelemetry Collector's file format.

Each export is one ``ExportTraceServiceRequest`` on one line, written and flushed at once, so a
process killed mid-call leaves whole lines that a collector, a backend's importer or this
package's replay can read. Ids are hex and enums integers, as the OTLP/JSON encoding says
(protobuf's own JSON mapping would give base64 ids).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .config import ConfigError

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> None:
    """protobuf's JSON gives bytes as base64; OTLP/JSON wants trace and span ids as hex."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = _b64_to_hex(value)
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def spans_to_dict(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest`` in OTLP/JSON form."""
    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    _hex_ids(request)
    return request


def spans_to_line(spans: Sequence[ReadableSpan]) -> str:
    return json.dumps(spans_to_dict(spans), separators=(",", ":")) + "\n"


class OTLPJsonFileSpanExporter(SpanExporter):
    """Appends one OTLP JSON line per batch to ``path``."""

    def __init__(self, path: str, setting: str = "Config.otlp_file"):
        try:
            self._file = open(path, "a", encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"{setting}={path!r} cannot be written ({error.strerror}); accepted values: a writable file path"
            ) from None
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        line = spans_to_line(spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(line)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()
