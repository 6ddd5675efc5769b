"""Spans in OTLP/JSON form (the Collector's file exporter, ours) read into plain records.

Both ways to a replay page go through here: the CLI reads the lines, the session-end writer
encodes its spans with the same encoder as the ``otlp_file`` exporter. One reading, one page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    name: str
    time: int
    attributes: dict[str, Any]


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: int
    end: int
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    status: int = 0


def _id(value: Any) -> str:
    """Hex, as OTLP/JSON has it; base64 (protobuf's JSON mapping) is accepted too."""
    if not value:
        return ""
    text = str(value)
    try:
        int(text, 16)
        if len(text) in (16, 32):
            return text.lower()
    except ValueError:
        pass
    return base64.b64decode(text).hex()


def _value(any_value: dict[str, Any]) -> Any:
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "boolValue" in any_value:
        return bool(any_value["boolValue"])
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    if "kvlistValue" in any_value:
        return _attributes(any_value["kvlistValue"].get("values", []))
    if "bytesValue" in any_value:
        return any_value["bytesValue"]
    return None


def _attributes(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def from_request(request: dict[str, Any]) -> Iterator[Span]:
    """The spans of one ``ExportTraceServiceRequest`` (as a dict)."""
    for resource_spans in request.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                yield Span(
                    trace_id=_id(span.get("traceId")),
                    span_id=_id(span.get("spanId")),
                    parent_id=_id(span.get("parentSpanId")),
                    name=span.get("name", ""),
                    start=int(span.get("startTimeUnixNano", 0)),
                    end=int(span.get("endTimeUnixNano", 0)),
                    attributes=_attributes(span.get("attributes", [])),
                    events=[
                        Event(
                            e.get("name", ""),
                            int(e.get("timeUnixNano", 0)),
                            _attributes(e.get("attributes", [])),
                        )
                        for e in span.get("events", [])
                    ],
                    status=int(span.get("status", {}).get("code", 0)),
                )


def read_lines(lines: Iterable[str]) -> list[Span]:
    """Every span in OTLP JSON lines; a torn last line (the writer was killed) is skipped."""
    spans: list[Span] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            continue
        spans.extend(from_request(request))
    return spans
