"""The seed's helper API against a real SDK: span names, parents, attributes and their types, metrics."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import opentelemetry_instrumentation_realtime_ai as rt
from opentelemetry_instrumentation_realtime_ai import attributes as attrs


class Boom(RuntimeError):
    pass


def test_start_span_is_current_and_records_errors(otel):
    with pytest.raises(Boom) as caught:
        with rt.start_span("work", {"k": 1}) as span:
            assert trace.get_current_span() is span
            assert len(rt.trace_id()) == 32 and len(rt.span_id()) == 16
            raise Boom("bad")
    assert str(caught.value) == "bad"
    finished = otel.one("work")
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.attributes["error.type"] == "test_helpers.Boom"
    assert finished.events[0].name == "exception"


def test_with_span_sync_and_async(otel):
    @rt.with_span("sync.op")
    def double(x):
        return x * 2

    @rt.with_span("async.op", kind=SpanKind.CLIENT)
    async def fail():
        raise Boom("async")

    assert double(21) == 42
    with pytest.raises(Boom):
        asyncio.run(fail())
    assert otel.one("sync.op").status.status_code is StatusCode.UNSET
    failed = otel.one("async.op")
    assert failed.kind is SpanKind.CLIENT and failed.status.status_code is StatusCode.ERROR


def test_ids_are_empty_without_a_span(otel):
    assert rt.trace_id() == "" and rt.span_id() == ""
    assert rt.log_with_trace("hello") == "hello"


def test_log_with_trace_formats_like_the_seed(otel):
    with rt.start_span("op") as span:
        line = rt.log_with_trace("processing")
    ctx = span.get_span_context()
    assert line == f"[trace_id={ctx.trace_id:032x} span_id={ctx.span_id:016x}] processing"


def test_add_event_and_set_attributes(otel):
    with rt.start_span("op"):
        rt.add_event("audio.processing.completed", {"bytes": 320})
        rt.set_attributes({attrs.SESSION_ID: "s-1"})
    span = otel.one("op")
    assert span.events[0].name == "audio.processing.completed" and span.events[0].attributes["bytes"] == 320
    assert span.attributes["session.id"] == "s-1"


def test_record_error_on_a_given_span(otel):
    span = rt.get_tracer().start_span("manual")
    rt.record_error(span, ValueError("no"))
    span.end()
    assert otel.one("manual").attributes["error.type"] == "ValueError"


def test_builders_drop_unknown_values():
    assert attrs.audio_attributes(sample_rate=16000, channels=1) == {
        "audio.sample_rate": 16000,
        "audio.channels": 1,
    }
    assert attrs.video_attributes(width=640, height=480, codec="vp8")["video.codec"] == "vp8"
    assert attrs.pipeline_attributes("p", "e") == {"pipeline.name": "p", "pipeline.element": "e"}
    assert attrs.session_attributes("s", "audio") == {"session.id": "s", "message.type": "audio"}
    assert attrs.connection_attributes("c", "webrtc", "new")["connection.state"] == "new"
    assert attrs.llm_attributes("openai", "gpt-4o")["gen_ai.request.model"] == "gpt-4o"
    assert attrs.error_attributes(KeyError("x")) == {"error.type": "KeyError", "error.message": "'x'"}


class AudioMessage:
    type = "audio"

    def __init__(self):
        self.audio = b"\x00" * 640
        self.sample_rate = 16000
        self.channels = 1


def test_pipeline_helpers_use_fixed_names(otel):
    session = rt.instrument_pipeline_start("my-pipeline", session_id="call-1")
    for span in (
        rt.instrument_element_start("decoder", pipeline_name="my-pipeline", parent=session.context()),
        rt.instrument_element_process(
            "decoder", AudioMessage(), pipeline_name="my-pipeline", parent=session.span
        ),
        rt.instrument_pipeline_push("my-pipeline", AudioMessage(), parent=session.span),
        rt.instrument_pipeline_pull("my-pipeline", parent=session.span),
        rt.instrument_element_stop("decoder", pipeline_name="my-pipeline", parent=session.span),
    ):
        span.end()
    rt.instrument_pipeline_stop(session)
    run = otel.one("pipeline.run")
    assert run.attributes["pipeline.name"] == "my-pipeline" and run.attributes["session.id"] == "call-1"
    assert run.events[-1].name == "pipeline.stop"
    process = otel.one("element.process")
    assert process.parent.span_id == run.context.span_id
    assert process.attributes["pipeline.element"] == "decoder"
    assert process.attributes["message.type"] == "audio"
    assert process.attributes["audio.sample_rate"] == 16000
    assert process.attributes["audio.data_size"] == 640
    names = {s.name for s in otel.spans()}
    assert names == {
        "pipeline.run",
        "element.start",
        "element.process",
        "pipeline.push",
        "pipeline.pull",
        "element.stop",
    }
    assert [p.value for p in otel.points("realtime_ai.sessions.active")] == [0]


def test_llm_request_is_one_span_with_time_to_first_chunk(otel):
    request = rt.instrument_llm_request("gemini", "gemini-2.0-flash")
    rt.instrument_llm_response(request, "text", 12)
    rt.instrument_llm_response(request, "text", 30)
    request.set_usage(100, 20)
    request.end(finish_reasons=["stop"])
    span = otel.one("chat gemini-2.0-flash")
    assert span.kind is SpanKind.CLIENT
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "gemini"
    assert a["llm.provider"] == "gemini" and a["llm.model"] == "gemini-2.0-flash"
    assert (
        isinstance(a["gen_ai.response.time_to_first_chunk"], float)
        and a["gen_ai.response.time_to_first_chunk"] >= 0
    )
    assert a["llm.response_size"] == 42 and a["llm.response_type"] == "text"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (100, 20)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    duration = otel.points("gen_ai.client.operation.duration")
    assert duration[0].count == 1 and duration[0].attributes["gen_ai.request.model"] == "gemini-2.0-flash"
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")}
    assert tokens == {"input": 100, "output": 20}


def test_failed_request_has_status_error_and_error_metric(otel):
    with pytest.raises(TimeoutError):
        with rt.instrument_stt_request("deepgram", 3200, sample_rate=16000, channels=1):
            raise TimeoutError("provider timed out")
    span = otel.one("speech_to_text")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TimeoutError"
    assert span.attributes["audio.data_size"] == 3200
    assert otel.points("gen_ai.client.operation.duration")[0].attributes["error.type"] == "TimeoutError"


def test_stt_and_tts_helpers(otel):
    stt = rt.instrument_stt_request("deepgram", 6400, model="nova-3")
    rt.instrument_stt_response(stt, "hello there")
    stt.end()
    tts = rt.instrument_tts_request("cartesia", "voice-1", "Hi! How can I help?")
    rt.instrument_tts_response(tts, 960, sample_rate=24000)
    rt.instrument_tts_response(tts, 960)
    tts.end()
    s = otel.one("speech_to_text nova-3").attributes
    assert s["stt.provider"] == "deepgram" and s["stt.text_length"] == 11
    assert "gen_ai.output.text" not in s  # content capture is off by default
    t = otel.one("text_to_speech").attributes
    assert t["tts.voice"] == "voice-1" and t["tts.text_length"] == 19
    assert t["audio.data_size"] == 1920 and t["audio.sample_rate"] == 24000
    assert "gen_ai.input.text" not in t


def test_content_capture_is_opt_in(otel):
    from opentelemetry_instrumentation_realtime_ai.config import Options

    rt.telemetry.build(otel.tracer_provider, otel.meter_provider, Options(capture_content=True))
    stt = rt.instrument_stt_request("deepgram")
    rt.instrument_stt_response(stt, "my secret words")
    stt.end()
    assert otel.one("speech_to_text").attributes["gen_ai.output.text"] == "my secret words"


def test_media_processing_spans(otel):
    rt.instrument_audio_processing("resample", 640, 1920).end()
    rt.instrument_video_processing("scale", 921600, 230400).end()
    assert otel.one("audio.process").attributes["audio.operation"] == "resample"
    assert otel.one("video.process").attributes["video.output_size"] == 230400


def test_connection_lifecycle(otel):
    conn = rt.instrument_connection_created("pc-1", "webrtc")
    rt.instrument_connection_state_change(conn, "new", "connecting")
    rt.instrument_connection_state_change(conn, None, "connected")
    rt.instrument_connection_message(conn, "received", 10)
    rt.instrument_connection_message(conn, "sent", 4)
    rt.instrument_connection_error(conn, ConnectionResetError("ice failed"))
    rt.instrument_connection_closed(conn)
    rt.instrument_connection_closed(conn)  # twice is harmless
    span = otel.one("connection webrtc")
    assert span.kind is SpanKind.SERVER
    changes = [
        (e.attributes["connection.old_state"], e.attributes["connection.state"])
        for e in span.events
        if e.name == "connection.state_change"
    ]
    assert changes == [("new", "connecting"), ("connecting", "connected"), ("connected", "closed")]
    assert (
        span.attributes["connection.messages.received"] == 1 and span.attributes["connection.bytes.sent"] == 4
    )
    assert span.status.status_code is StatusCode.ERROR
    assert [p.value for p in otel.points("realtime_ai.connection.active")] == [0]
    by_state = {
        p.attributes["connection.state"]: p.value for p in otel.points("realtime_ai.connection.state_changes")
    }
    assert by_state == {"connecting": 1, "connected": 1, "closed": 1}
    with pytest.raises(ValueError, match="direction='up'.*received, sent"):
        conn.message("up")


def test_session_turns_latency_and_interruption(otel):
    session = rt.Session("bot", "conv-9")
    session.user_started_speaking()
    session.user_stopped_speaking()
    session.bot_started_speaking()
    session.user_started_speaking()  # barge-in while the bot speaks
    session.user_stopped_speaking()
    session.bot_stopped_speaking()
    session.bot_started_speaking()
    session.bot_stopped_speaking()
    session.end()
    run = otel.one("pipeline.run")
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [t.attributes["turn.number"] for t in turns] == [1, 2]
    assert [t.attributes["turn.interrupted"] for t in turns] == [True, False]
    assert all(
        t.parent.span_id == run.context.span_id and t.attributes["session.id"] == "conv-9" for t in turns
    )
    assert isinstance(turns[0].attributes["turn.user_bot_latency"], float)
    assert otel.points("realtime_ai.turn.interruptions")[0].value == 1
    assert otel.points("realtime_ai.turn.user_bot_latency")[0].count == 2


def test_trace_per_turn_links_to_session(otel):
    from opentelemetry_instrumentation_realtime_ai.config import Options

    rt.telemetry.build(otel.tracer_provider, otel.meter_provider, Options(trace_per_turn=True))
    session = rt.Session("bot")
    session.user_started_speaking()
    request = rt.instrument_llm_request("openai", "gpt", parent=session.context())
    request.end()
    session.end()
    run, turn, llm = otel.one("pipeline.run"), otel.one("conversation.turn"), otel.one("chat")
    assert turn.parent is None and turn.context.trace_id != run.context.trace_id
    assert turn.links[0].context.span_id == run.context.span_id
    assert turn.attributes["session.id"] == run.attributes["session.id"]
    assert llm.parent.span_id == turn.context.span_id


def test_pipeline_names_on_metrics_are_bounded(otel, monkeypatch):
    from opentelemetry_instrumentation_realtime_ai.helpers import session as session_module

    monkeypatch.setattr(session_module, "_pipeline_names", set())
    monkeypatch.setattr(session_module, "MAX_PIPELINE_NAMES", 3)
    names = [rt.Session(f"bot-for-call-{i}").metric_name for i in range(5)]
    assert names == ["bot-for-call-0", "bot-for-call-1", "bot-for-call-2", "_other", "_other"]
    assert rt.Session("bot-for-call-1").metric_name == "bot-for-call-1"


def test_playout_finds_the_holes_a_real_time_output_would_play():
    """An output handed audio ahead of real time plays it in turn: a piece after the queue ran dry is a hole."""
    from opentelemetry_instrumentation_realtime_ai.helpers.output_audio import Playout

    playout = Playout()
    assert playout.queued(10.0, 0.5) == 0.0  # the reply's first piece starts the playout
    assert playout.queued(10.1, 0.5) == 0.0  # queued until 11.0
    assert playout.queued(11.01, 0.2) == 0.0  # 10 ms late: within an output's own jitter
    assert playout.queued(11.51, 0.2) == pytest.approx(0.30)  # the audio ran out at 11.21
    playout.pause(11.6)  # 0.11 s of it left, held
    assert playout.queued(12.5, 0.2) == 0.0  # taken while paused: plays after what is held
    playout.resume(13.0)  # 0.11 + 0.2 s left: due at 13.31
    assert playout.queued(13.3, 0.1) == 0.0
    assert playout.queued(13.5, 0.1) == pytest.approx(0.09)
    playout.restart()  # the reply ended: the next one starts afresh, however late
    assert playout.queued(20.0, 0.1) == 0.0
