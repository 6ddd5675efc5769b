"""The tool-call helper (for code the automatic instrumentation cannot see) and a request found
complete only later (back-dated to when it was)."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import opentelemetry_instrumentation_realtime_ai as rt
from opentelemetry_instrumentation_realtime_ai import telemetry
from opentelemetry_instrumentation_realtime_ai.config import Options


def test_tool_call_span_names_the_tool_and_keeps_content_out(otel):
    with rt.instrument_tool_call("get_weather", "call_7", arguments={"city": "Paris"}) as call:
        call.result({"sky": "sunny"})
    (span,) = otel.spans("execute_tool")
    assert span.name == "execute_tool get_weather"
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_7",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_tool_call_content_only_with_capture():
    from conftest import Telemetry

    sink = Telemetry()
    telemetry.build(sink.tracer_provider, sink.meter_provider, Options(capture_content=True))
    try:
        with rt.instrument_tool_call("get_weather", arguments={"city": "Paris"}) as call:
            call.result({"sky": "sunny"})
    finally:
        telemetry.reset()
    (span,) = sink.spans("execute_tool")
    assert json.loads(span.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(span.attributes["gen_ai.tool.call.result"]) == {"sky": "sunny"}
    assert "gen_ai.tool.call.id" not in span.attributes


def test_tool_call_that_raises_is_an_error_and_the_exception_is_unchanged(otel):
    error = KeyError("city")
    with pytest.raises(KeyError) as raised, rt.instrument_tool_call("get_weather", "call_8"):
        raise error
    assert raised.value is error
    (span,) = otel.spans("execute_tool")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


def test_request_found_complete_later_ends_when_it_was(otel):
    request = rt.instrument_stt_request("custom", 3200)
    complete = time.perf_counter()
    complete_ns = time.time_ns()
    time.sleep(0.05)  # nothing more came: it ends as of ``complete``
    request.end(at=complete)
    (span,) = otel.spans("speech_to_text")
    assert span.end_time <= complete_ns + 5_000_000  # within the clocks' reading apart, not 50 ms later
    (point,) = otel.points("gen_ai.client.operation.duration")
    assert point.sum < 0.05


frames = pytest.importorskip("pipecat.frames.frames")


async def test_transcript_before_end_of_speech_ends_at_the_end_of_speech(instrument):
    """A streaming STT that finalized on its own before the end of speech and sent nothing after:
    its span ends at the end of speech, not when the next utterance or the session's end shows it."""
    from test_pipecat_custom_services import EarlyFinalSTT, _utterance
    from test_pipecat_providers import feed

    otel = instrument()
    utterance = _utterance()
    steps = [lambda: utterance, 0.3]  # the session goes on 0.3 s after the end of speech
    before = time.time_ns()
    await feed("live", [EarlyFinalSTT(sample_rate=16000)], steps)
    (span,) = otel.spans("speech_to_text")
    (run,) = otel.spans("pipeline.run")
    assert span.attributes["stt.text_length"] == len("lights on")
    assert before < span.end_time < run.end_time - 250_000_000


def test_tool_call_recorded_on_its_inference(otel):
    with rt.instrument_llm_request("openai", "gpt-4o-mini") as llm:
        rt.record_tool_call(llm, "get_weather", "call_9", arguments={"city": "Paris"})
    (span,) = otel.spans("chat")
    (event,) = span.events
    assert event.name == "gen_ai.tool.call"
    assert dict(event.attributes) == {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_9"}
