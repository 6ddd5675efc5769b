"""Real Pipecat pipelines, run offline: the span tree, attributes and metrics a user would check.

The bot (examples/tracing_demo) is a cascade: mic input with VAD, an STT service, the user and
assistant context aggregators, Pipecat's real OpenAILLMService streaming through the real
openai SDK from a local server, a TTS service and an output transport.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from conftest import children

bot = pytest.importorskip("bot")
providers = pytest.importorskip("providers")


def by_number(turns):
    return sorted(turns, key=lambda s: s.attributes["turn.number"])


def settled(messages, interrupted=2):
    """The assistant messages that do not depend on scheduling.

    How much of the interrupted reply was spoken before the barge-in landed (and so stored in
    the context) is a race even without instrumentation, so that reply is left out.
    """
    return [m for m in messages if not m.startswith(f"Reply {interrupted}")]


def ai_spans(otel, operation):
    return [s for s in otel.spans() if (s.attributes or {}).get("gen_ai.operation.name") == operation]


@pytest.fixture(scope="module")
def uninstrumented_result():
    return asyncio.run(bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="plain"))


async def test_cascade_bot_span_tree(instrument, uninstrumented_result):
    otel = instrument()
    result = await bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="conv-1")

    # The app sees exactly what it sees without instrumentation.
    assert result.ended_by == uninstrumented_result.ended_by == "end"
    assert result.transcripts == uninstrumented_result.transcripts
    assert settled(result.assistant_messages) == settled(uninstrumented_result.assistant_messages)
    assert result.errors == uninstrumented_result.errors == []

    run = otel.one("pipeline.run")
    assert run.parent is None and run.kind is SpanKind.INTERNAL
    assert run.attributes["session.id"] == "conv-1"
    assert run.attributes["realtime_ai.framework"] == "pipecat"
    assert isinstance(run.attributes["realtime_ai.framework.version"], str)
    assert isinstance(run.attributes["pipeline.name"], str)

    turns = by_number(otel.spans("conversation.turn"))
    assert [t.attributes["turn.number"] for t in turns] == [1, 2, 3]
    assert all(t.parent.span_id == run.context.span_id for t in turns)
    assert all(t.attributes["session.id"] == "conv-1" for t in turns)
    assert [t.attributes["turn.interrupted"] for t in turns] == [False, True, False]
    for turn in turns:
        latency = turn.attributes["turn.user_bot_latency"]
        assert isinstance(latency, float) and 0 < latency < 5

    for operation, count in (("speech_to_text", 3), ("chat", 3)):
        spans = ai_spans(otel, operation)
        assert len(spans) == count, operation
        # Each request nests under the turn it serves, one per turn.
        assert sorted(s.parent.span_id for s in spans) == sorted(t.context.span_id for t in turns)
    assert {s.parent.span_id for s in ai_spans(otel, "text_to_speech")} <= {t.context.span_id for t in turns}

    for llm in ai_spans(otel, "chat"):
        a = llm.attributes
        assert llm.name == "chat local-llm" and llm.kind is SpanKind.CLIENT
        assert a["gen_ai.provider.name"] == "openai" and a["llm.provider"] == "openai"
        assert a["gen_ai.request.model"] == "local-llm" and a["llm.model"] == "local-llm"
        assert isinstance(a["gen_ai.response.time_to_first_chunk"], float)
        assert 0 < a["gen_ai.response.time_to_first_chunk"] < (llm.end_time - llm.start_time) / 1e9
        assert isinstance(a["gen_ai.usage.input_tokens"], int) and a["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a  # privacy by default
        assert llm.status.status_code is StatusCode.UNSET

    for stt in ai_spans(otel, "speech_to_text"):
        a = stt.attributes
        assert a["stt.provider"] == a["gen_ai.provider.name"]
        assert a["audio.sample_rate"] == 16000 and a["audio.channels"] == 1
        # Every 640-byte mic chunk of the utterance counts, not only the one in 64 that is timed.
        assert isinstance(a["audio.data_size"], int) and a["audio.data_size"] % 640 == 0
        assert a["audio.data_size"] >= 20 * 640
        assert isinstance(a["gen_ai.response.time_to_first_chunk"], float)
        assert a["stt.text_length"] > 0 and "gen_ai.output.text" not in a

    tts_spans = ai_spans(otel, "text_to_speech")
    assert len(tts_spans) >= 3
    for tts in tts_spans:
        a = tts.attributes
        assert isinstance(a["tts.voice"], str) and a["tts.provider"] == a["gen_ai.provider.name"]
        assert a["audio.data_size"] > 0 and isinstance(a["audio.sample_rate"], int)
        assert isinstance(a["gen_ai.response.time_to_first_chunk"], float)
    assert any(t.attributes.get("realtime_ai.interrupted") for t in tts_spans + ai_spans(otel, "chat"))

    assert not [s.name for s in otel.spans() if "#" in s.name]  # no instance names in span names


async def test_cascade_bot_metrics(instrument):
    otel = instrument()
    await bot.run_bot(turns=3, interrupt_turn=2, realtime=False)

    durations = {
        p.attributes["gen_ai.operation.name"]: p for p in otel.points("gen_ai.client.operation.duration")
    }
    assert durations["chat"].count == 3 and durations["speech_to_text"].count == 3
    assert durations["chat"].attributes["gen_ai.provider.name"] == "openai"
    assert 0 < durations["chat"].sum / durations["chat"].count < 10
    assert {
        p.attributes["gen_ai.operation.name"]
        for p in otel.points("gen_ai.client.operation.time_to_first_chunk")
    } == {
        "chat",
        "speech_to_text",
        "text_to_speech",
    }
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert tokens["input"].count == 3 and tokens["output"].sum > 0

    (latency,) = otel.points("realtime_ai.turn.user_bot_latency")
    assert latency.count == 3 and 0 < latency.sum < 15
    assert "#" not in latency.attributes["pipeline.name"]
    assert [p.value for p in otel.points("realtime_ai.turn.interruptions")] == [1]
    assert [p.value for p in otel.points("realtime_ai.turns")] == [3]
    assert [p.value for p in otel.points("realtime_ai.sessions.active")] == [0]

    element_time = {
        p.attributes["pipeline.element"]: p.value for p in otel.points("realtime_ai.element.processing.time")
    }
    assert element_time["OpenAILLMService"] > 0 and "OpenAILLMService#0" not in element_time
    frames = {
        (p.attributes["pipeline.element"], p.attributes["message.type"]): p.value
        for p in otel.points("realtime_ai.frames")
    }
    stt_class = next(e for e in element_time if "STT" in e)
    assert frames[(stt_class, "InputAudioRawFrame")] >= 3 * 25
    # Pipecat's own pipeline plumbing only forwards frames: not measured, not in the metrics
    assert not {"PipelineSource", "PipelineSink"} & {element for element, _ in frames}


async def test_provider_failing_mid_stream(instrument):
    plain = await bot.run_bot(turns=2, interrupt_turn=None, realtime=False, llm_fail=True)
    otel = instrument()
    result = await bot.run_bot(turns=2, interrupt_turn=None, realtime=False, llm_fail=True)
    assert result.ended_by == plain.ended_by
    assert len(result.errors) == len(plain.errors) > 0

    failed = [s for s in ai_spans(otel, "chat") if s.status.status_code is StatusCode.ERROR]
    assert failed, [s.attributes for s in ai_spans(otel, "chat")]
    for span in failed:
        assert isinstance(span.attributes["error.type"], str) and span.attributes["error.type"]
        assert span.end_time is not None
    errors = [p for p in otel.points("gen_ai.client.operation.duration") if "error.type" in p.attributes]
    assert {p.attributes["gen_ai.operation.name"] for p in errors} == {"chat"}  # not charged to STT or TTS
    assert all(s.status.status_code is StatusCode.UNSET for s in ai_spans(otel, "speech_to_text"))


async def test_pipeline_cancelled_mid_turn_ends_every_span(instrument):
    otel = instrument()
    result = await bot.run_bot(turns=3, interrupt_turn=None, realtime=False, cancel_at_turn=2)
    assert result.ended_by == "cancel"
    run = otel.one("pipeline.run")
    assert run.end_time is not None
    turns = otel.spans("conversation.turn")
    assert 1 <= len(turns) <= 2
    assert all(s.end_time is not None for s in otel.spans())
    assert [p.value for p in otel.points("realtime_ai.sessions.active")] == [0]


async def _cancel_after(seconds):
    """Cancel the asyncio task running the bot, as an app shutting down would; returns how it ended."""
    async with providers.LocalLLMServer() as llm:
        voice_bot = bot.VoiceBot(llm_base_url=llm.base_url, llm_server=llm, turns=3, realtime=False)
        task = asyncio.create_task(voice_bot.run())
        await asyncio.sleep(seconds)
        task.cancel()
        try:
            return type(await task).__name__
        except asyncio.CancelledError:
            return "CancelledError"


async def test_task_cancelled_ends_every_span(instrument):
    otel = instrument()
    # Where the cancellation lands (inside Pipecat, which may absorb it, or in the app) depends on timing.
    assert await _cancel_after(1.0) in ("CancelledError", "BotResult")
    run = otel.one("pipeline.run")
    assert run.end_time is not None
    if run.status.status_code is StatusCode.ERROR:
        assert run.attributes["error.type"].endswith("CancelledError")
    assert all(s.end_time is not None for s in otel.spans())
    assert [p.value for p in otel.points("realtime_ai.sessions.active")] == [0]


async def test_two_concurrent_sessions_are_two_traces(instrument):
    otel = instrument()
    async with providers.LocalLLMServer() as llm:
        a, b = await asyncio.gather(
            bot.run_bot(turns=2, interrupt_turn=None, realtime=False, conversation_id="A", llm_server=llm),
            bot.run_bot(turns=2, interrupt_turn=None, realtime=False, conversation_id="B", llm_server=llm),
        )
    assert a.ended_by == b.ended_by == "end"
    runs = {s.attributes["session.id"]: s for s in otel.spans("pipeline.run")}
    assert set(runs) == {"A", "B"}
    assert runs["A"].context.trace_id != runs["B"].context.trace_id
    for session_id, run in runs.items():
        in_trace = [s for s in otel.spans() if s.context.trace_id == run.context.trace_id]
        turns = [s for s in in_trace if s.name == "conversation.turn"]
        assert len(turns) == 2 and all(s.attributes["session.id"] == session_id for s in turns)
        requests = [s for s in in_trace if "gen_ai.operation.name" in (s.attributes or {})]
        assert all(s.attributes["session.id"] == session_id for s in requests)
        assert len([s for s in requests if s.attributes["gen_ai.operation.name"] == "chat"]) == 2
        assert {id(s) for s in children(in_trace, run)} == {id(t) for t in turns}


async def test_trace_per_turn(instrument):
    otel = instrument(trace_per_turn=True)
    await bot.run_bot(turns=2, interrupt_turn=None, realtime=False, conversation_id="long-call")
    run = otel.one("pipeline.run")
    turns = otel.spans("conversation.turn")
    assert len(turns) == 2
    for turn in turns:
        assert turn.parent is None and turn.context.trace_id != run.context.trace_id
        assert turn.links[0].context.span_id == run.context.span_id
        assert turn.attributes["session.id"] == "long-call"
        assert len([s for s in otel.spans("chat") if s.context.trace_id == turn.context.trace_id]) == 1


async def test_content_capture_is_opt_in(instrument):
    otel = instrument(capture_content=True)
    result = await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)
    (llm,) = ai_spans(otel, "chat")
    assert result.transcripts[0] in llm.attributes["gen_ai.input.messages"]
    assert result.assistant_messages[0][:20] in llm.attributes["gen_ai.output.messages"]
    (stt,) = ai_spans(otel, "speech_to_text")
    assert stt.attributes["gen_ai.output.text"] == result.transcripts[0]
    tts = ai_spans(otel, "text_to_speech")
    spoken = " ".join(t.attributes["gen_ai.input.text"] for t in tts)
    assert result.assistant_messages[0].split()[0] in spoken and "gen_ai.output.text" not in tts[0].attributes
    assert all(t.attributes["tts.text_length"] > 0 for t in tts)


async def test_frame_spans_off_by_default_and_sampled_when_on(instrument):
    otel = instrument()
    await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)
    assert otel.spans("element.process") == []

    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

    RealtimeAIInstrumentor().uninstrument()
    otel = instrument(frame_spans=True, frame_span_sampling_ratio=0.5)
    await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)
    frame_spans = otel.spans("element.process")
    total = sum(p.value for p in otel.points("realtime_ai.frames"))
    assert 0.35 * total < len(frame_spans) < 0.65 * total
    audio = next(s for s in frame_spans if s.attributes["message.type"] == "InputAudioRawFrame")
    assert audio.attributes["audio.sample_rate"] == 16000 and audio.attributes["audio.data_size"] > 0
    assert "#" in audio.attributes["pipeline.element"]  # spans may carry instance names
    run = otel.one("pipeline.run")
    assert all(s.context.trace_id == run.context.trace_id for s in frame_spans)


async def test_missing_hook_degrades_with_one_warning(instrument, monkeypatch, caplog):
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    monkeypatch.delattr(SmallWebRTCConnection, "_close")  # as if a future Pipecat renamed it
    with caplog.at_level("WARNING"):
        otel = instrument()
    warnings = [r for r in caplog.records if "not fully supported" in r.getMessage()]
    assert len(warnings) == 1 and "SmallWebRTCConnection._close" in warnings[0].getMessage()
    result = await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)
    assert result.ended_by == "end"
    assert len(otel.spans("chat")) == 1 and len(otel.spans("conversation.turn")) == 1


class ExplodingProcessor:
    """A span processor that fails on every call, as a buggy vendor exporter might."""

    def on_start(self, span, parent_context=None):
        raise RuntimeError("processor on_start failed")

    def on_end(self, span):
        raise RuntimeError("processor on_end failed")

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


async def test_failing_telemetry_pipeline_never_reaches_the_app(instrument, uninstrumented_result):
    otel = instrument(frame_spans=True)
    otel.tracer_provider.add_span_processor(ExplodingProcessor())
    result = await bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="conv-x")
    assert result.ended_by == "end" and result.errors == []
    assert result.transcripts == uninstrumented_result.transcripts
    assert settled(result.assistant_messages) == settled(uninstrumented_result.assistant_messages)


async def test_broken_bookkeeping_never_reaches_the_app(instrument, monkeypatch, uninstrumented_result):
    """If the per-frame hook's own state cannot be built, frames flow on untouched and the app sees nothing."""
    from opentelemetry_instrumentation_realtime_ai.frameworks.pipecat import services

    def broken(*args, **kwargs):
        raise RuntimeError("telemetry bug")

    otel = instrument()
    monkeypatch.setattr(services.ServiceState, "__init__", broken)  # every service element's state
    result = await bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="plain")
    assert (result.ended_by, result.user_turns, result.transcripts, result.errors) == (
        uninstrumented_result.ended_by,
        uninstrumented_result.user_turns,
        uninstrumented_result.transcripts,
        uninstrumented_result.errors,
    )
    assert [s.name for s in otel.spans() if s.name == "pipeline.run"] == ["pipeline.run"]
    assert not ai_spans(otel, "chat")  # the services went unobserved, not the app broken
