"""Speech-to-speech services: Pipecat's real OpenAIRealtimeLLMService and GeminiLiveLLMService against
local servers speaking their protocols (s2s_servers.py), in a real pipeline with context aggregators.

The conversation: the bot greets (a response to the context), the user asks (the server's voice
detection starts a response), asks again and talks over the answer (interrupted), and the server
answers that. One ``chat`` span per response the server made, each under its turn, with the audio,
usage and transcript the server saw, and the time to first audio the server's delay explains.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import children

pytest.importorskip("websockets")
providers = pytest.importorskip("providers")
frames = pytest.importorskip("pipecat.frames.frames")
_metadata = getattr(frames, "LLMServiceMetadataFrame", None)
if "is_realtime_service" not in getattr(_metadata, "__dataclass_fields__", {}):
    pytest.skip("this Pipecat does not say which services are speech-to-speech", allow_module_level=True)

import s2s_servers  # noqa: E402
from pipecat.frames.frames import EndFrame, InputAudioRawFrame, LLMContextFrame, LLMRunFrame  # noqa: E402
from pipecat.observers.base_observer import BaseObserver  # noqa: E402
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.task import PipelineParams, PipelineTask  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.processors.aggregators.llm_response_universal import (  # noqa: E402
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.transports.base_input import BaseInputTransport  # noqa: E402
from pipecat.transports.base_transport import TransportParams  # noqa: E402

from opentelemetry_instrumentation_realtime_ai import attributes as attrs  # noqa: E402

CHUNK_SECS = 0.02
SPEECH_CHUNKS, SILENCE_CHUNKS = 15, 10  # 300 ms of speech, then 200 ms of silence: where the VADs stop
# Time to first chunk is at most the time from when the input was given (the last speech chunk
# pushed, the context queued) to the output transport's first write of that response's audio,
# however slow the machine is. It is at least the server's delay, less how late the local
# end-of-speech signal reached the pipeline's elements: a few ms, up to 50 ms seen on a loaded
# 2-core machine. The lower bound is there to catch a request timed from its own first output
# (about 0.0002 s).
TTFC_SLACK = 0.1


class Microphone(BaseInputTransport):
    """Plays utterances on cue; between them it sends nothing (a push-to-talk client)."""

    def __init__(self, sample_rate: int):
        super().__init__(TransportParams(audio_in_enabled=True, audio_in_sample_rate=sample_rate))
        self.rate = sample_rate
        self.inputs: list[float] = []
        """time.perf_counter() of each input: the greeting's context queued, each utterance's last speech."""

    async def start(self, frame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    def utterance(self) -> list[InputAudioRawFrame]:
        chunk = int(self.rate * CHUNK_SECS) * 2
        speech = bytes([0, 8]) * (chunk // 2)
        audio = [speech] * SPEECH_CHUNKS + [b"\x00" * chunk] * SILENCE_CHUNKS
        return [InputAudioRawFrame(audio=a, sample_rate=self.rate, num_channels=1) for a in audio]

    async def play(self, utterance: list[InputAudioRawFrame] | None) -> None:
        """The frames given (made ahead of time), else frames made now; paced like a sound card."""
        for i, frame in enumerate(utterance or self.utterance()):
            await self.push_audio_frame(frame)
            if i == SPEECH_CHUNKS - 1:
                self.inputs.append(time.perf_counter())
            await asyncio.sleep(CHUNK_SECS)


class Speaker(providers.SpeakerOutput):
    """The demo's speaker, noting when each audio write happened."""

    def __init__(self):
        super().__init__(playback_speed=None)
        self.writes: list[float] = []
        """time.perf_counter() of each audio write."""

    async def write_audio_frame(self, frame) -> bool:
        self.writes.append(time.perf_counter())
        return await super().write_audio_frame(frame)

    def first_write_after(self, moment: float) -> float:
        return next(t for t in self.writes if t >= moment)


class ContextFrames(BaseObserver):
    """Counts the context frames that reach the speech-to-speech service (the first, then syncs)."""

    def __init__(self, service):
        super().__init__()
        self.service, self.count = service, 0

    async def on_push_frame(self, data):
        if data.destination is self.service and isinstance(data.frame, LLMContextFrame):
            self.count += 1


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the conversation stalled"
        await asyncio.sleep(0.01)


async def converse(llm, server, mic, speaker, *, vad=None, live: bool) -> int:
    """Greeting, a question, a question talked over, the answer to that; then the end.

    Returns how many context frames reached the service."""
    ahead = None if live else [mic.utterance() for _ in range(3)][::-1]  # made before the run, last first
    context = LLMContext([{"role": "system", "content": "You are a helpful voice bot."}])
    aggregators = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams())
    elements = [mic, *([vad] if vad else []), aggregators.user(), llm, speaker, aggregators.assistant()]
    task = PipelineTask(
        Pipeline(elements),
        params=PipelineParams(
            audio_in_sample_rate=mic.rate, audio_out_sample_rate=24000, enable_usage_metrics=True
        ),
        enable_rtvi=False,
        observers=[contexts := ContextFrames(llm)],
        name="s2s-bot",
    )

    def replied(n: int) -> bool:
        stats = speaker.stats
        done = len(server.responses) >= n and server.responses[n - 1].finished
        return done and stats.bot_started >= 1 and stats.bot_started == stats.bot_stopped

    async def script():
        mic.inputs.append(time.perf_counter())
        await task.queue_frames([LLMRunFrame()])
        await until(lambda: replied(1))
        await mic.play(ahead and ahead[0])
        await until(lambda: replied(2))
        await mic.play(ahead and ahead[1])
        await until(lambda: len(server.responses) >= 3 and server.responses[2].audio_out >= 2 * 4800)
        await mic.play(ahead and ahead[2])
        await until(lambda: replied(4))
        await task.queue_frame(EndFrame())

    from pipecat.pipeline.runner import PipelineRunner

    script_task = asyncio.ensure_future(script())
    try:
        await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 30)
    finally:
        script_task.cancel()
    assert not server.errors
    await script_task if script_task.done() and not script_task.cancelled() else None
    return contexts.count


def check(otel, server, contexts: int, inputs: list[float], speaker: Speaker) -> None:
    assert contexts >= 2, "the aggregators synced the context: those frames must not be requests"
    assert [r.trigger for r in server.responses] == ["client", "speech", "speech", "speech"]
    assert [r.cancelled for r in server.responses] == [False, False, True, False]
    chats = sorted(otel.spans("chat"), key=lambda s: s.start_time)
    assert len(chats) == len(server.responses), [dict(s.attributes) for s in chats]
    run = otel.one("pipeline.run")
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes[attrs.TURN_NUMBER])
    assert len(turns) == 3
    assert [t.attributes[attrs.TURN_INTERRUPTED] for t in turns] == [False, True, False]
    # The greeting comes before the user said anything: it belongs to the session.
    assert [children([c], run) != [] for c in chats] == [True, False, False, False]
    for chat, turn in zip(chats[1:], turns, strict=True):
        assert children([chat], turn) == [chat], "each answer is a child of its turn"

    for chat, response, given in zip(chats, server.responses, inputs, strict=True):
        a = chat.attributes
        assert a[attrs.AUDIO_INPUT_SIZE] == response.audio_in
        assert a[attrs.AUDIO_OUTPUT_SIZE] == response.audio_out
        assert a.get(attrs.LLM_INPUT_TRANSCRIPT_LENGTH, 0) == len(response.transcript)
        u = response.usage
        assert a[attrs.GEN_AI_USAGE_INPUT_TOKENS] == u["input"]
        assert a[attrs.GEN_AI_USAGE_OUTPUT_TOKENS] == u["output"]
        assert a[attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == u["cached"]
        assert a[attrs.GEN_AI_USAGE_AUDIO_INPUT_TOKENS] == u["audio_in"]
        assert a[attrs.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS] == u["audio_out"]
        ttfc = a[attrs.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
        written = speaker.first_write_after(response.first_audio_at)
        bounds = (s2s_servers.FIRST_AUDIO_DELAY - TTFC_SLACK, written - given)
        assert bounds[0] <= ttfc <= bounds[1], (response.number, ttfc, bounds)
        assert a.get(attrs.INTERRUPTED, False) == response.cancelled
    assert server.responses[0].audio_in == 0 and all(r.audio_in > 0 for r in server.responses[1:])

    durations = otel.points(attrs.METRIC_OPERATION_DURATION)
    assert sum(p.count for p in durations) == len(server.responses)
    tokens = {p.attributes[attrs.GEN_AI_TOKEN_TYPE]: p.sum for p in otel.points(attrs.METRIC_TOKEN_USAGE)}
    assert tokens == {
        "input": sum(r.usage["input"] for r in server.responses),
        "output": sum(r.usage["output"] for r in server.responses),
    }


@pytest.mark.timeout(60)
@pytest.mark.parametrize("live", [True, False], ids=["live", "made-ahead"])
async def test_openai_realtime(instrument, live):
    realtime = pytest.importorskip("pipecat.services.openai.realtime.llm")
    otel = instrument()
    async with s2s_servers.OpenAIRealtimeServer() as server:
        llm = realtime.OpenAIRealtimeLLMService(api_key="sk-local", base_url=server.url)
        contexts = await converse(llm, server, mic := Microphone(24000), speaker := Speaker(), live=live)
    check(otel, server, contexts, mic.inputs, speaker)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("live", [True, False], ids=["live", "made-ahead"])
async def test_gemini_live(instrument, live, tmp_path, monkeypatch):
    gemini = pytest.importorskip("pipecat.services.google.gemini_live.llm")
    pytest.importorskip("cryptography")
    from pipecat.processors.audio.vad_processor import VADProcessor

    cert_file, server_tls = s2s_servers.self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client insists on TLS with an API key
    otel = instrument()
    async with s2s_servers.GeminiLiveServer(server_tls) as server:
        llm = gemini.GeminiLiveLLMService(api_key="local-key", http_options={"base_url": server.base_url})
        vad = VADProcessor(vad_analyzer=providers.EnergyVADAnalyzer())
        mic, speaker = Microphone(16000), Speaker()
        contexts = await converse(llm, server, mic, speaker, vad=vad, live=live)
    assert server.setup is not None
    check(otel, server, contexts, mic.inputs, speaker)
