"""Fixtures: a real SDK with in-memory exporters, and the demo bots on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor, telemetry
from opentelemetry_instrumentation_realtime_ai.config import Options

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "tracing_demo"))
sys.path.append(str(ROOT / "examples" / "livekit_demo"))  # its offline stand-ins (after: both have a main.py)


class Telemetry:
    """What a test reads back: finished spans and collected metric points."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None):
        spans = self.exporter.get_finished_spans()
        return [s for s in spans if name is None or s.name == name or s.name.startswith(name + " ")]

    def one(self, name: str):
        found = self.spans(name)
        assert len(found) == 1, f"expected one {name!r} span, got {[s.name for s in self.spans()]}"
        return found[0]

    def points(self, metric_name: str) -> list:
        data = self.reader.get_metrics_data()
        points = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == metric_name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def otel():
    """The helpers record through a fresh SDK (not instrumented)."""
    sink = Telemetry()
    telemetry.build(sink.tracer_provider, sink.meter_provider, Options())
    yield sink
    telemetry.reset()


@pytest.fixture
def instrument():
    """Call it with instrument() options; uninstruments at teardown."""
    instrumentor = RealtimeAIInstrumentor()
    sinks = []

    def start(**options):
        sink = Telemetry()
        instrumentor.instrument(
            tracer_provider=sink.tracer_provider, meter_provider=sink.meter_provider, **options
        )
        sinks.append(sink)
        return sink

    yield start
    instrumentor.uninstrument()


def children(spans, parent):
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
