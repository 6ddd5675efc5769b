"""A voice bot that hears real speech in real time, and the ground truth of its turn latencies.

The microphone (a real ``BaseInputTransport`` subclass) plays committed espeak-ng WAVs as 20 ms
chunks paced to the wall clock, silence in between, and notes when each utterance's first and
last voiced samples (|x| above ``VOICED_LEVEL``) were pushed. The speaker (a real
``BaseOutputTransport`` subclass) plays at real-time pace and notes when each reply's first
audio was written. Ground truth of a turn = that first write - the utterance's last voiced
sample. VAD is Pipecat's own Silero; the turn stop strategy is whatever the version defaults to
(smart-turn v3 on 1.x) unless given.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "tracing_demo"))

import providers

# isort: split

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_input import BaseInputTransport
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_RATE = 16000
CHUNK = 320  # 20 ms
VOICED_LEVEL = 0.02 * 32767  # about -34 dBFS: the first/last sample above it bounds the speech


def load(name: str) -> np.ndarray:
    with wave.open(str(FIXTURES / f"{name}.wav")) as wav:
        assert wav.getframerate() == SAMPLE_RATE and wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


@dataclass
class Utterance:
    name: str
    started_at: float = 0.0  # perf_counter of its first voiced sample
    ended_at: float = 0.0  # ... and of its last


@dataclass
class Step:
    """Say ``wav`` after the bot's reply has played (``after="reply"``) or once it starts (``"start"``)."""

    wav: str
    after: str = "reply"
    pause_secs: float = 0.6


class NotesVADStops:
    """Notes when the VAD's stop frame leaves this element: the end of the endpointing stage."""

    vad_stops: list[float]

    async def push_frame(self, frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        # downstream only: 1.x's VAD element broadcasts the stop both ways
        if direction == FrameDirection.DOWNSTREAM and isinstance(frame, VADUserStoppedSpeakingFrame):
            self.vad_stops.append(time.perf_counter())
        await super().push_frame(frame, direction)


class WavMic(NotesVADStops, BaseInputTransport):
    """Plays a script of WAVs as a microphone would: 20 ms chunks on the wall clock, silence between."""

    def __init__(self, steps: list[Step], speaker: RealtimeSpeaker, *, vad_analyzer=None, **kwargs):
        params = {"audio_in_enabled": True, "audio_in_sample_rate": SAMPLE_RATE}
        if vad_analyzer is not None:  # the 0.0.x transport-level VAD
            params["vad_analyzer"] = vad_analyzer
        super().__init__(TransportParams(**params), **kwargs)
        self._steps = steps
        self._speaker = speaker
        self._task: asyncio.Task | None = None
        self._silence = b"\x00" * (2 * CHUNK)
        self._pushed = 0
        self._t0 = 0.0
        self.utterances: list[Utterance] = []
        self.pushed_at: list[float] = []  # every chunk's push: the ground truth of microphone health
        self.vad_stops: list[float] = []  # the transport's VAD (0.0.x) or the VAD element after it
        self._register_event_handler("on_script_finished")

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)
        if self._task is None:
            self._task = self.create_task(self._script(), "wav_mic")

    async def stop(self, frame: EndFrame):
        await self._stop()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._stop()
        await super().cancel(frame)

    async def _stop(self):
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None

    async def _push(self, chunk: bytes) -> float:
        """Push chunk n once its last sample has been "captured": at t0 + (n + 1) * 20 ms."""
        self._pushed += 1
        due = self._t0 + self._pushed * CHUNK / SAMPLE_RATE
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pushed_at = time.perf_counter()
        self.pushed_at.append(pushed_at)
        await self.push_audio_frame(InputAudioRawFrame(audio=chunk, sample_rate=SAMPLE_RATE, num_channels=1))
        return pushed_at

    async def _silence_until(self, done, timeout: float = 15.0) -> None:
        deadline = time.perf_counter() + timeout
        while not done() and time.perf_counter() < deadline:
            await self._push(self._silence)

    async def _say(self, name: str) -> None:
        samples = load(name)
        voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > VOICED_LEVEL)
        first, last = int(voiced[0]), int(voiced[-1])
        utterance = Utterance(name)
        self.utterances.append(utterance)
        padded = np.concatenate([samples, np.zeros(-len(samples) % CHUNK, dtype="<i2")])
        for n in range(0, len(padded), CHUNK):
            pushed_at = await self._push(padded[n : n + CHUNK].tobytes())
            # A sample's time: its chunk's push time minus how far before the chunk's end it lies.
            if n <= first < n + CHUNK:
                utterance.started_at = pushed_at - (n + CHUNK - first) / SAMPLE_RATE
            if n <= last < n + CHUNK:
                utterance.ended_at = pushed_at - (n + CHUNK - last) / SAMPLE_RATE

    async def _script(self):
        self._t0 = time.perf_counter()
        await self._silence_until(lambda: False, timeout=0.5)
        for step in self._steps:
            await self._say(step.wav)
            # The reply is the first write after the speech ended: audio Pipecat's output still writes
            # right after a barge-in (seen in CI) is the interrupted reply's, not this one's.
            await self._silence_until(
                lambda ended=self.utterances[-1].ended_at: self._speaker.wrote_after(ended)
            )
            if step.after != "start":  # "start": barge in while the reply plays
                await self._silence_until(lambda: not self._speaker.speaking)
            await self._silence_until(lambda: False, timeout=step.pause_secs)
        await self._call_event_handler("on_script_finished")


class RealtimeSpeaker(BaseOutputTransport):
    """Plays audio at real-time pace and notes when each reply's first audio was written: the first
    write after Pipecat's output announced the bot speaking (a pause inside a reply is no new one)."""

    def __init__(self, **kwargs):
        super().__init__(TransportParams(audio_out_enabled=True, audio_out_end_silence_secs=0), **kwargs)
        self._play_until = 0.0
        self._reply_started = False
        self.first_writes: list[float] = []
        self.speaking = False

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    def wrote_after(self, at: float) -> bool:
        return bool(self.first_writes) and self.first_writes[-1] > at

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        now = time.perf_counter()
        if self._reply_started and any(frame.audio):
            self._reply_started = False
            self.first_writes.append(now)
        secs = len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)
        self._play_until = max(self._play_until, now) + secs
        ahead = self._play_until - time.perf_counter() - 0.02  # a 20 ms device buffer
        if ahead > 0:
            await asyncio.sleep(ahead)
        return True

    async def process_frame(self, frame, direction: FrameDirection):
        if isinstance(frame, InterruptionFrame):
            self._play_until = 0.0
        await super().process_frame(frame, direction)

    async def push_frame(self, frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotStartedSpeakingFrame):
                self.speaking = self._reply_started = True  # pushed just before its first audio is written
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self.speaking = False
        await super().push_frame(frame, direction)


@dataclass
class SpeechRun:
    utterances: list[Utterance]
    first_writes: list[float]
    pipecat_latencies: list[float] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    mic_pushed_at: list[float] = field(default_factory=list)
    vad_stops: list[float] = field(default_factory=list)
    """time.perf_counter() of each VAD stop, as the VAD pushed it downstream."""

    def vad_stop_after(self, utterance: Utterance) -> float:
        """When the VAD declared this utterance over: its first stop after the last voiced sample."""
        return next(t for t in self.vad_stops if t >= utterance.ended_at)


def _kwargs_for(callable_, **kwargs) -> dict:
    params = inspect.signature(callable_).parameters
    return {k: v for k, v in kwargs.items() if k in params}


async def run_speech_bot(
    steps: list[Step],
    transcripts: list[str],
    *,
    transport_vad: bool = False,
    stop_strategies=None,
    llm_first_token_delay: float = 0.3,
    timeout: float = 60.0,
) -> SpeechRun:
    """Run the bot over ``steps``; returns the ground truth and Pipecat's own observer's latencies."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import EndFrame as End
    from pipecat.observers.user_bot_latency_observer import UserBotLatencyObserver
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.services.openai.llm import OpenAILLMService

    from bot import PipelineParams, PipelineTask, _run_task, _Runner

    speaker = RealtimeSpeaker()
    vad = SileroVADAnalyzer()
    mic = WavMic(steps, speaker, vad_analyzer=vad if transport_vad else None)
    stt = providers.ScriptedSTTService(utterances=transcripts, delay=0.05)
    context = LLMContext()
    user_params = {}
    if stop_strategies is not None:
        from pipecat.turns.user_turn_strategies import UserTurnStrategies

        user_params["user_turn_strategies"] = UserTurnStrategies(stop=stop_strategies)
    aggregators = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(**user_params))
    observer = UserBotLatencyObserver()
    run = SpeechRun(
        mic.utterances, speaker.first_writes, mic_pushed_at=mic.pushed_at, vad_stops=mic.vad_stops
    )

    @observer.event_handler("on_latency_measured")
    async def _measured(_observer, latency):
        run.pipecat_latencies.append(latency)

    async with providers.LocalLLMServer(
        first_token_delay=llm_first_token_delay, token_delay=0.01
    ) as llm_server:
        llm = OpenAILLMService(
            api_key="sk-local",
            base_url=llm_server.base_url,
            settings=OpenAILLMService.Settings(model="local-llm", system_instruction="Be brief."),
        )
        tts = providers.SineTTSService(first_audio_delay=0.08, seconds_per_char=0.012, speedup=5.0)

        class TimedVADProcessor(NotesVADStops, VADProcessor):
            vad_stops = mic.vad_stops

        elements = [mic] + ([] if transport_vad else [TimedVADProcessor(vad_analyzer=vad)])
        elements += [stt, aggregators.user(), llm, tts, speaker, aggregators.assistant()]
        task = PipelineTask(
            Pipeline(elements),
            **_kwargs_for(
                PipelineTask.__init__,
                params=PipelineParams(
                    audio_in_sample_rate=SAMPLE_RATE,
                    audio_out_sample_rate=24000,
                    enable_metrics=True,
                ),
                enable_rtvi=False,
                observers=[observer],
                name="speech-bot",
            ),
        )

        @mic.event_handler("on_script_finished")
        async def _finished(_mic):
            await task.queue_frame(End())

        runner = _Runner(**_kwargs_for(_Runner.__init__, handle_sigint=False))
        await asyncio.wait_for(_run_task(task, runner), timeout)
    run.transcripts = list(stt.transcripts)
    return run
