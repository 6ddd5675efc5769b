"""The otlp_file exporter: OTLP JSON lines as the Collector's file exporter writes them."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from opentelemetry_instrumentation_realtime_ai.config import Config, ConfigError, Options
from opentelemetry_instrumentation_realtime_ai.otlp_file import OTLPJsonFileSpanExporter
from opentelemetry_instrumentation_realtime_ai.replay import spans as otlp_spans
from opentelemetry_instrumentation_realtime_ai.tracing import _metric_exporters, _span_exporters


def test_one_request_per_line_with_hex_ids_and_integer_enums(tmp_path):
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(str(path))))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("pipeline.run", attributes={"session.id": "s1", "turn.number": 3}) as run:
        with tracer.start_as_current_span("conversation.turn", attributes={"turn.user_bot_latency": 0.25}) as turn:
            turn.add_event("realtime_ai.event_loop.blocked", {"realtime_ai.event_loop.blocked_duration": 0.2})
    provider.shutdown()

    lines = path.read_text().splitlines()
    assert len(lines) == 2  # one export per ended span with the simple processor, each a whole request
    requests = [json.loads(line) for line in lines]
    span = requests[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["name"] == "conversation.turn"
    assert span["traceId"] == format(turn.get_span_context().trace_id, "032x")
    assert span["spanId"] == format(turn.get_span_context().span_id, "016x")
    assert span["parentSpanId"] == format(run.get_span_context().span_id, "016x")
    assert span["kind"] == 1  # SPAN_KIND_INTERNAL, as an integer
    assert isinstance(span["startTimeUnixNano"], str)  # int64 as a string, per the JSON mapping

    read = otlp_spans.read_lines(lines)
    assert [s.name for s in read] == ["conversation.turn", "pipeline.run"]
    assert read[1].attributes == {"session.id": "s1", "turn.number": 3}
    assert read[0].events[0].attributes == {"realtime_ai.event_loop.blocked_duration": 0.2}
    assert read[0].start == turn.start_time and read[0].end == turn.end_time


def test_batches_are_flushed_whole_and_a_torn_line_is_skipped(tmp_path):
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPJsonFileSpanExporter(str(path))))
    tracer = provider.get_tracer("test")
    for number in range(5):
        tracer.start_span("chat", attributes={"n": number}).end()
    provider.force_flush()
    # the file is complete without closing the exporter: what a killed process leaves
    text = path.read_text()
    assert text.endswith("\n")
    assert sorted(s.attributes["n"] for s in otlp_spans.read_lines(text.splitlines())) == list(range(5))
    assert len(otlp_spans.read_lines([*text.splitlines(), text[: len(text) // 2]])) == 5
    provider.shutdown()


def test_config_chooses_it_and_names_the_setting(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    config = Config.from_env({"TRACE_EXPORTER": "otlp_file", "OTEL_INSTRUMENTATION_REALTIME_AI_OTLP_FILE": str(path)})
    assert (config.exporter, config.otlp_file) == ("otlp_file", str(path))
    (exporter,) = _span_exporters(config)
    assert isinstance(exporter, OTLPJsonFileSpanExporter)
    assert _metric_exporters(config) == []  # traces only
    exporter.shutdown()
    with pytest.raises(ConfigError, match=r"OTEL_INSTRUMENTATION_REALTIME_AI_OTLP_FILE"):
        Config.from_env({"TRACE_EXPORTER": "otlp_file"})
    with pytest.raises(ConfigError, match=r"Config.otlp_file='/nonexistent/dir/x.jsonl' cannot be written"):
        _span_exporters(Config(exporter="otlp_file", otlp_file="/nonexistent/dir/x.jsonl"))


def test_directory_options(tmp_path):
    made = tmp_path / "a" / "b"
    options = Options.resolve({"replay_dir": str(made)}, env={"OTEL_INSTRUMENTATION_REALTIME_AI_RECORDING_DIR": ""})
    assert options.replay_dir == str(made) and made.is_dir()
    assert options.recording_dir is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"OTEL_INSTRUMENTATION_REALTIME_AI_RECORDING_DIR=.*accepted values: a writable directory"):
        Options.resolve({}, env={"OTEL_INSTRUMENTATION_REALTIME_AI_RECORDING_DIR": str(blocker / "x")})
    with pytest.raises(ConfigError, match=r"replay_dir=3 is not a directory path"):
        Options.resolve({"replay_dir": 3})
