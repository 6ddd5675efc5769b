"""A user's own service subclasses get the same spans as Pipecat's providers, and a streaming
STT (``run_stt`` called for every audio chunk) still yields one span per utterance."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from conftest import children

frames = pytest.importorskip("pipecat.frames.frames")
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.runner import PipelineRunner  # noqa: E402
from pipecat.pipeline.task import PipelineParams, PipelineTask  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.processors.frame_processor import FrameProcessor  # noqa: E402
from pipecat.services.llm_service import LLMService  # noqa: E402
from pipecat.services.stt_service import STTService  # noqa: E402

import opentelemetry_instrumentation_realtime_ai as rt  # noqa: E402

CHUNK = b"\x01\x00" * 320  # 20 ms of 16 kHz mono 16-bit audio


class StreamingSTT(STTService):
    """Like a websocket STT: every chunk goes to the provider, the transcript comes at the end."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.chunks = 0

    async def run_stt(self, audio: bytes):
        self.chunks += 1
        yield None

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, frames.VADUserStoppedSpeakingFrame):
            await self.push_frame(frames.TranscriptionFrame("turn the lights on", "user-1", "2026-01-01T00:00:00Z"))


class EarlyFinalSTT(StreamingSTT):
    """Streaming STT whose final transcript lands before the end of speech reaches it."""

    async def run_stt(self, audio: bytes):
        self.chunks += 1
        if self.chunks == 50:  # the provider finalizes on the last chunk of speech
            yield frames.TranscriptionFrame("lights on", "user-1", "2026-01-01T00:00:00Z")
        else:
            yield None

    async def process_frame(self, frame, direction):
        await STTService.process_frame(self, frame, direction)


class EchoLLM(LLMService):
    """A user's in-house LLM client: no Pipecat provider module in its ancestry."""

    def __init__(self, fail: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fail = fail

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, frames.LLMContextFrame):
            await self.push_frame(frames.LLMFullResponseStartFrame())
            await self.push_frame(frames.LLMTextFrame("Sure."))
            if self.fail:
                try:
                    raise ConnectionError("503 from model")
                except ConnectionError as error:
                    await self.push_error("upstream model overloaded", exception=error)
            await self.push_frame(frames.LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


def _utterance():
    audio = [frames.InputAudioRawFrame(audio=CHUNK, sample_rate=16000, num_channels=1) for _ in range(50)]
    return [frames.VADUserStartedSpeakingFrame(), *audio, frames.VADUserStoppedSpeakingFrame()]


async def _run(processors, queued):
    task = PipelineTask(Pipeline(processors), params=PipelineParams(), conversation_id="custom-1")
    await task.queue_frames([*queued, frames.EndFrame()])
    await PipelineRunner(handle_sigint=False).run(task)


async def test_streaming_stt_gives_one_span_per_utterance(instrument):
    otel = instrument()
    stt = StreamingSTT(sample_rate=16000)
    await _run([stt], _utterance() + _utterance())
    assert stt.chunks >= 100  # the provider really was called per chunk
    spans = otel.spans("speech_to_text")
    assert len(spans) == 2
    for span in spans:
        assert span.kind is SpanKind.CLIENT
        assert span.attributes["gen_ai.provider.name"] == "StreamingSTT"
        assert span.attributes["audio.data_size"] == 50 * len(CHUNK)
        assert span.attributes["stt.text_length"] == len("turn the lights on")
        assert isinstance(span.attributes["gen_ai.response.time_to_first_chunk"], float)
    turns = otel.spans("conversation.turn")
    assert {s.parent.span_id for s in spans} == {t.context.span_id for t in turns}


async def test_users_own_llm_subclass_is_traced(instrument):
    otel = instrument()
    context = LLMContext([{"role": "user", "content": "hi"}])
    await _run([EchoLLM()], [frames.LLMContextFrame(context), frames.LLMContextFrame(context)])
    spans = otel.spans("chat")
    assert len(spans) == 2
    run = otel.one("pipeline.run")
    assert {id(s) for s in children(otel.spans(), run)} == {id(s) for s in spans}
    for span in spans:
        assert span.attributes["gen_ai.provider.name"] == "EchoLLM"
        assert span.attributes["session.id"] == "custom-1"
        assert isinstance(span.attributes["gen_ai.response.time_to_first_chunk"], float)
        assert span.status.status_code is StatusCode.UNSET


async def test_error_pushed_by_a_service_marks_its_request(instrument):
    otel = instrument()
    context = LLMContext([{"role": "user", "content": "hi"}])
    await _run([EchoLLM(fail=True)], [frames.LLMContextFrame(context)])
    (span,) = otel.spans("chat")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"
    assert any(e.name == "exception" for e in span.events)
    (point,) = otel.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "ConnectionError"


async def test_transcript_before_end_of_speech_still_ends_the_utterance(instrument):
    otel = instrument()
    await _run([EarlyFinalSTT(sample_rate=16000)], _utterance())
    (span,) = otel.spans("speech_to_text")
    assert span.attributes["stt.text_length"] == len("lights on")
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes  # not measurable: it came first
    (run,) = otel.spans("pipeline.run")
    assert span.end_time < run.end_time


class AppStep(FrameProcessor):
    """An app's own element that traces its work, under the turn it serves."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, frames.VADUserStoppedSpeakingFrame):
            with rt.start_span("app.lookup", parent=rt.current_session().context()):
                pass
        await self.push_frame(frame, direction)


async def test_own_spans_inside_an_element_nest_under_the_turn(instrument):
    otel = instrument()
    assert rt.current_session() is None
    await _run([AppStep()], _utterance())
    (step,) = otel.spans("app.lookup")
    (turn,) = otel.spans("conversation.turn")
    assert step.parent.span_id == turn.context.span_id
    assert rt.current_session() is None  # only for the length of the run


async def test_a_processor_run_twice_reports_to_each_run(instrument):
    otel = instrument()
    stt = StreamingSTT(sample_rate=16000)
    await _run([stt], _utterance())
    assert not [v for v in vars(stt) if v.startswith("_otel")]  # the run took its state back
    await _run([stt], _utterance())

    runs = otel.spans("pipeline.run")
    spans = otel.spans("speech_to_text")
    assert len(runs) == len(spans) == 2
    assert sorted(s.context.trace_id for s in spans) == sorted(r.context.trace_id for r in runs)
    frames_seen = {
        p.attributes["message.type"]: p.value
        for p in otel.points("realtime_ai.frames")
        if p.attributes["pipeline.element"] == "StreamingSTT"
    }
    assert frames_seen["InputAudioRawFrame"] == 2 * 50


class Forward(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class Unhashable(Forward):
    """Defines equality, so Python makes it unhashable (as a dataclass would)."""

    def __eq__(self, other):
        return self is other


class AllEqual(Forward):
    """Hashable, and equal to every other instance of its kind."""

    def __eq__(self, other):
        return isinstance(other, AllEqual)

    def __hash__(self):
        return 1


class AllEqualToo(AllEqual):
    pass


async def test_processors_with_their_own_equality_are_counted_apart(instrument):
    """The frame hook finds a processor's state by identity: neither an unhashable processor nor two
    processors equal to each other lose or swap their frames."""
    otel = instrument()
    await _run([Unhashable(), AllEqual(), AllEqualToo()], _utterance() + _utterance())
    counts = {
        p.attributes["pipeline.element"]: p.value
        for p in otel.points("realtime_ai.frames")
        if p.attributes["message.type"] == "InputAudioRawFrame"
    }
    assert {name: counts.get(name) for name in ("Unhashable", "AllEqual", "AllEqualToo")} == {
        "Unhashable": 100,
        "AllEqual": 100,
        "AllEqualToo": 100,
    }
