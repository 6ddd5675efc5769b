"""A response whose usage comes after it (Gemini Live): the span waits for it, bounded, and keeps its end."""

from __future__ import annotations

import time

from opentelemetry_instrumentation_realtime_ai import attributes as attrs
from opentelemetry_instrumentation_realtime_ai.helpers.ai import AIRequest
from opentelemetry_instrumentation_realtime_ai.helpers.session import Session


def _chat() -> AIRequest:
    return AIRequest(attrs.OPERATION_CHAT, attrs.llm_attributes("gcp.gemini", "gemini-live"))


def test_usage_after_the_response_ends_the_span_at_the_response_end(otel):
    request = _chat()
    request.chunk(100)
    request.complete(interrupted=True)
    assert request.completed and not request.ended and otel.spans("chat") == []
    before_usage = time.time_ns()
    request.set_usage(12, 34, cache_read_input_tokens=5, audio_input_tokens=7, audio_output_tokens=30)
    span = otel.one("chat")
    assert span.end_time <= before_usage, "the span ends when the response did, not when usage came"
    a = span.attributes
    assert (a[attrs.GEN_AI_USAGE_INPUT_TOKENS], a[attrs.GEN_AI_USAGE_OUTPUT_TOKENS]) == (12, 34)
    assert a[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 5
    assert (a[attrs.GEN_AI_USAGE_AUDIO_INPUT_TOKENS], a[attrs.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS]) == (7, 30)
    assert a[attrs.INTERRUPTED] is True
    tokens = {p.attributes[attrs.GEN_AI_TOKEN_TYPE]: p.sum for p in otel.points(attrs.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": 12, "output": 34}, "cached and audio tokens are parts of these, not types"
    assert sum(p.count for p in otel.points(attrs.METRIC_OPERATION_DURATION)) == 1


def test_no_usage_the_span_ends_as_it_completed_when_closed(otel):
    request = _chat()
    request.complete()
    request.end(error=RuntimeError("session failed"), interrupted=True)  # e.g. the session's end
    span = otel.one("chat")
    assert attrs.INTERRUPTED not in span.attributes and attrs.ERROR_TYPE not in span.attributes
    assert attrs.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes


def test_usage_before_the_end_ends_the_span_at_once(otel):
    request = _chat()
    request.set_usage(1, 2)
    request.complete()
    assert request.ended and otel.one("chat").attributes[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_a_response_waiting_for_usage_does_not_hold_the_turn(otel):
    session = Session("bot")
    session.user_started_speaking()
    session.user_stopped_speaking()
    assert session.user_speech_ended_at is not None
    request = session.track(AIRequest(attrs.OPERATION_CHAT, {}, parent=session.context()))
    session.bot_started_speaking()
    request.complete()
    session.bot_stopped_speaking()
    assert session.turn is None and len(otel.spans("conversation.turn")) == 1
    session.end()
    assert request.ended and len(otel.spans("chat")) == 1
