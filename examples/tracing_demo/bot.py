"""Offline, key-less Pipecat voice bot: the application the tracing demo observes.

Pipeline (all real Pipecat classes, providers faked in ``providers.py``)::

    ScriptedMicInput -> VADProcessor(EnergyVADAnalyzer) -> ScriptedSTTService
      -> user context aggregator -> OpenAILLMService (HTTP to LocalLLMServer)
      -> SineTTSService -> SpeakerOutput -> assistant context aggregator

The mic plays ``turns`` user utterances; on ``interrupt_turn`` the next
utterance barges in while the bot answers, so Pipecat interrupts it. When the
script is done the app queues an ``EndFrame``. No OpenTelemetry here.

Library use (tests, benchmark)::

    sys.path.insert(0, "examples/tracing_demo"); import bot, providers
    result = await bot.run_bot(turns=3, realtime=False)

    async with providers.LocalLLMServer() as llm:          # one server, two bots
        a, b = await asyncio.gather(bot.run_bot(conversation_id="a", llm_server=llm),
                                    bot.run_bot(conversation_id="b", llm_server=llm))

    voice_bot = bot.VoiceBot(llm_base_url=llm.base_url)   # lower level
    run = asyncio.create_task(voice_bot.run()); ...; await voice_bot.cancel()  # CancelFrame
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import providers  # first: seeds offline NLTK data before Pipecat is imported (see providers.py)

# isort: split

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.turns.user_start import (
    TranscriptionUserTurnStartStrategy,
    VADUserTurnStartStrategy,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from providers import (
    EnergyVADAnalyzer,
    LocalLLMServer,
    LoopBlocker,
    ScriptedMicInput,
    ScriptedSTTService,
    SineTTSService,
    SpeakerOutput,
)

try:  # Pipecat >= 1.3: PipelineTask/PipelineRunner are deprecated aliases.
    from pipecat.pipeline.worker import PipelineParams
    from pipecat.pipeline.worker import PipelineWorker as PipelineTask
    from pipecat.workers.runner import WorkerRunner as _Runner

    async def _run_task(task, runner) -> None:
        await runner.add_workers(task)
        await runner.run()

except ImportError:  # 0.0.x - 1.2
    from pipecat.pipeline.runner import PipelineRunner as _Runner
    from pipecat.pipeline.task import PipelineParams, PipelineTask

    async def _run_task(task, runner) -> None:
        await runner.run(task)


SYSTEM_PROMPT = "You are a friendly voice assistant. Keep answers to one or two short sentences."

# Frames that mark turn boundaries; what FrameTrace records.
TURN_FRAMES = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    TranscriptionFrame,
    LLMFullResponseStartFrame,
    LLMFullResponseEndFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    ErrorFrame,
    EndFrame,
    CancelFrame,
)


@dataclass
class Pacing:
    """Provider latencies; ``REALTIME`` looks like a live call, ``FAST`` is for benchmarks."""

    llm_first_token_delay: float
    llm_token_delay: float
    stt_delay: float
    tts_first_audio_delay: float
    tts_speedup: float | None  # TTS generation speed vs real time (None: no pauses)
    playback_speed: float | None  # speaker clock (None: as fast as Pipecat pushes)
    user_speech_timeout: float  # turn-stop wait after VAD stop


REALTIME = Pacing(0.15, 0.02, 0.05, 0.08, 5.0, 1.0, 0.2)
# In FAST mode the TTS still streams at 10x real time, so the bot is "speaking"
# for a few hundred ms per answer: long enough for the scripted barge-in to land.
FAST = Pacing(0.0, 0.0, 0.0, 0.01, 10.0, None, 0.05)


class FrameTrace(BaseObserver):
    """Records turn-related frame hops: (t, frame name, frame id, source, dest, direction)."""

    def __init__(self, frame_types: tuple = TURN_FRAMES, **kwargs):
        super().__init__(**kwargs)
        self._types = frame_types
        self._t0 = time.monotonic()
        self.events: list[tuple[float, str, int, str, str, str]] = []

    async def on_push_frame(self, data: FramePushed):
        """Observer hook (called for every push, so keep it cheap)."""
        if isinstance(data.frame, self._types):
            self.events.append(
                (
                    round(time.monotonic() - self._t0, 3),
                    type(data.frame).__name__,
                    data.frame.id,
                    str(data.source),
                    str(data.destination),
                    data.direction.name,
                )
            )


@dataclass
class BotResult:
    """What happened in one bot session (counts come from the stand-ins themselves)."""

    conversation_id: str
    ended_by: str  # "end" (EndFrame), "cancel" (CancelFrame) or "timeout"
    duration_s: float
    user_turns: int  # utterances the mic started
    audio_chunks_in: int
    transcripts: list[str]  # what the STT returned
    assistant_messages: list[str]  # assistant turns as stored in the LLM context
    messages: list[dict]  # the whole LLM context
    llm_requests: list[Any]  # providers.LLMRequestRecord for this conversation (if known)
    tts_requests: list[str]  # texts sent to the TTS
    audio_frames_out: int  # frames written to the speaker
    audio_secs_out: float
    bot_started_speaking: int
    bot_stopped_speaking: int
    interruptions: int  # InterruptionFrames that reached the speaker while the bot spoke
    errors: list[str]  # ErrorFrames that reached the pipeline task
    trace: list[tuple] = field(default_factory=list)  # FrameTrace.events when trace=True
    blocked: list[tuple[int, float]] = field(default_factory=list)  # (turn, seconds) the loop was blocked


def configure_logging(level: str = "INFO") -> None:
    """Route loguru (Pipecat's logger) to stderr at ``level``; DEBUG is very chatty."""
    logger.remove()
    logger.add(sys.stderr, level=level)


def _kwargs_for(callable_, **kwargs) -> dict:
    """Drop kwargs that this Pipecat version's constructor does not know."""
    params = inspect.signature(callable_).parameters
    return {k: v for k, v in kwargs.items() if k in params}


class VoiceBot:
    """One voice session: builds the pipeline, runs it, and reports a ``BotResult``.

    Ending: the mic's script finishing queues an ``EndFrame`` (normal end).
    Cancelling: ``await bot.cancel()`` (-> ``PipelineTask.cancel()``, i.e. a
    CancelFrame) at any time, or ``cancel_at_turn=N`` to cancel as soon as the
    bot starts answering user turn N. ``timeout`` bounds the whole session.
    ``task_kwargs`` go to ``PipelineTask`` / ``PipelineWorker`` as given
    (e.g. ``enable_tracing=True``).
    """

    def __init__(
        self,
        *,
        llm_base_url: str,
        turns: int = 3,
        interrupt_turn: int | None = 2,
        chunks_per_utterance: int = 25,
        realtime: bool = True,
        conversation_id: str | None = None,
        llm_fail: bool | str = False,
        llm_fail_turns: Sequence[int] | None = None,
        llm_server: LocalLLMServer | None = None,
        llm_model: str = "local-llm",
        pacing: Pacing | None = None,
        cancel_at_turn: int | None = None,
        timeout: float | None = None,
        observers: Sequence[BaseObserver] = (),
        trace: bool = False,
        enable_metrics: bool = True,
        task_kwargs: dict[str, Any] | None = None,
        block_seconds: float = 0.0,
        block_turn: int = 1,
        tts_pause: tuple[float, float] | None = None,
    ):
        self.conversation_id = conversation_id or f"conv-{uuid.uuid4().hex[:8]}"
        self.pacing = pacing or (REALTIME if realtime else FAST)
        p = self.pacing
        self.llm_server = llm_server
        self.cancel_at_turn = cancel_at_turn
        self.timeout = timeout or (
            20 + 8 * turns if realtime else 20 + 3 * turns + 0.002 * turns * chunks_per_utterance
        )
        self.ended_by = "running"
        self.errors: list[str] = []
        self._cancel_task: asyncio.Task | None = None

        headers = {
            "X-Conversation-Id": self.conversation_id,
            "X-Local-Token-Delay": str(p.llm_token_delay),
            "X-Local-First-Token-Delay": str(p.llm_first_token_delay),
        }
        if llm_fail:
            headers["X-Local-Fail"] = llm_fail if isinstance(llm_fail, str) else "abort"
            if llm_fail_turns:
                headers["X-Local-Fail-Turns"] = ",".join(map(str, llm_fail_turns))

        self.mic = ScriptedMicInput(
            turns=turns,
            interrupt_turn=interrupt_turn,
            chunks_per_utterance=chunks_per_utterance,
            realtime=realtime,
        )
        self.vad = VADProcessor(vad_analyzer=EnergyVADAnalyzer())
        self.stt = ScriptedSTTService(delay=p.stt_delay)
        self.context = LLMContext()
        self.aggregators = LLMContextAggregatorPair(
            self.context,
            user_params=LLMUserAggregatorParams(
                user_turn_strategies=UserTurnStrategies(
                    start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()],
                    stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=p.user_speech_timeout)],
                ),
            ),
        )
        self.llm = OpenAILLMService(
            api_key="sk-local",
            base_url=llm_base_url,
            settings=OpenAILLMService.Settings(model=llm_model, system_instruction=SYSTEM_PROMPT),
            default_headers=headers,
        )
        self.tts = SineTTSService(
            first_audio_delay=p.tts_first_audio_delay,
            speedup=2.0 if tts_pause else p.tts_speedup,  # twice real time: a pause drains what was ahead
            pause=tts_pause,
        )
        self.speaker = SpeakerOutput(playback_speed=p.playback_speed)
        self.blocker = LoopBlocker(block_seconds, block_turn) if block_seconds else None
        self.pipeline = Pipeline(
            [
                self.mic,
                self.vad,
                self.stt,
                *([self.blocker] if self.blocker else []),
                self.aggregators.user(),
                self.llm,
                self.tts,
                self.speaker,
                self.aggregators.assistant(),
            ]
        )
        self.frame_trace = FrameTrace() if trace else None
        all_observers = list(observers) + ([self.frame_trace] if self.frame_trace else [])
        self.task = PipelineTask(
            self.pipeline,
            **_kwargs_for(
                PipelineTask.__init__,
                params=PipelineParams(
                    audio_in_sample_rate=providers.IN_SAMPLE_RATE,
                    audio_out_sample_rate=24000,
                    enable_metrics=enable_metrics,
                    enable_usage_metrics=enable_metrics,
                ),
                conversation_id=self.conversation_id,
                enable_rtvi=False,
                observers=all_observers,
                name="voice-bot",  # a role, not an id: it becomes a metric label
            )
            # Extra PipelineTask/PipelineWorker arguments, e.g. enable_tracing=True.
            | dict(task_kwargs or {}),
        )

        @self.mic.event_handler("on_script_finished")
        async def _on_script_finished(_mic):
            await self.task.queue_frame(EndFrame())

        @self.mic.event_handler("on_bot_started_speaking")
        async def _on_bot_started(_mic, turn):
            if self.cancel_at_turn is not None and turn == self.cancel_at_turn:
                self._spawn_cancel()

        @self.task.event_handler("on_pipeline_error")
        async def _on_error(_task, frame):
            self.errors.append(str(frame.error))

        @self.task.event_handler("on_pipeline_finished")
        async def _on_finished(_task, frame):
            if self.ended_by == "running":
                self.ended_by = "cancel" if isinstance(frame, CancelFrame) else "end"

    def _spawn_cancel(self):
        """Cancel from outside the pipeline's own tasks (safe to call from event handlers)."""
        if not self._cancel_task:
            self._cancel_task = asyncio.get_running_loop().create_task(self.task.cancel())

    async def cancel(self):
        """Cancel the session now (Pipecat pushes a CancelFrame through the pipeline)."""
        self._spawn_cancel()
        await self._cancel_task

    async def run(self) -> BotResult:
        """Run the session to its end (EndFrame), cancellation, or ``timeout``."""
        t0 = time.monotonic()
        runner = _Runner(**_kwargs_for(_Runner.__init__, handle_sigint=False))

        async def watchdog():
            await asyncio.sleep(self.timeout)
            logger.warning(f"{self.conversation_id}: timeout after {self.timeout}s, cancelling")
            self.ended_by = "timeout"
            await self.task.cancel()

        guard = asyncio.create_task(watchdog())
        try:
            # Hard bound in case cancellation itself hangs.
            await asyncio.wait_for(_run_task(self.task, runner), self.timeout + 15)
        except asyncio.TimeoutError:
            self.ended_by = "timeout"
        finally:
            guard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await guard
            if self._cancel_task:
                with contextlib.suppress(Exception):
                    await self._cancel_task
        return self.result(time.monotonic() - t0)

    def result(self, duration_s: float = 0.0) -> BotResult:
        """Snapshot of what happened so far."""
        messages = [dict(m) for m in self.context.get_messages()]
        stats = self.speaker.stats
        return BotResult(
            conversation_id=self.conversation_id,
            ended_by=self.ended_by,
            duration_s=round(duration_s, 3),
            user_turns=self.mic.current_turn,
            audio_chunks_in=self.mic.chunks_sent,
            transcripts=list(self.stt.transcripts),
            assistant_messages=[str(m.get("content")) for m in messages if m.get("role") == "assistant"],
            messages=messages,
            llm_requests=self.llm_server.requests_for(self.conversation_id) if self.llm_server else [],
            tts_requests=list(self.tts.requests),
            audio_frames_out=stats.audio_frames,
            audio_secs_out=round(stats.audio_secs, 3),
            bot_started_speaking=stats.bot_started,
            bot_stopped_speaking=stats.bot_stopped,
            interruptions=stats.interrupted_while_speaking,
            errors=list(self.errors),
            trace=list(self.frame_trace.events) if self.frame_trace else [],
            blocked=list(self.blocker.blocked) if self.blocker else [],
        )


async def run_bot(
    *, llm_base_url: str | None = None, llm_server: LocalLLMServer | None = None, **kwargs
) -> BotResult:
    """Run one bot session; starts a private ``LocalLLMServer`` unless one is given.

    ``kwargs`` are ``VoiceBot``'s (``turns``, ``interrupt_turn``, ``realtime``, ``llm_fail``: True/"abort"
    drops the LLM stream mid-answer, "http_500" returns HTTP 500 (the openai SDK retries twice first),
    ``cancel_at_turn``, ``timeout``, ``observers``, ``trace``, ...).
    """
    async with contextlib.AsyncExitStack() as stack:
        if llm_base_url is None:
            if llm_server is None:
                llm_server = await stack.enter_async_context(LocalLLMServer())
            llm_base_url = llm_server.base_url
        return await VoiceBot(llm_base_url=llm_base_url, llm_server=llm_server, **kwargs).run()


def _summary(r: BotResult) -> str:
    lines = [
        f"[{r.conversation_id}] ended_by={r.ended_by} in {r.duration_s}s: "
        f"{r.user_turns} user turns, {r.audio_chunks_in} mic chunks, "
        f"{len(r.llm_requests)} LLM requests {[q.outcome for q in r.llm_requests]}, "
        f"{len(r.tts_requests)} TTS requests, {r.audio_secs_out}s audio out, "
        f"bot spoke {r.bot_started_speaking}x/{r.bot_stopped_speaking}x, "
        f"{r.interruptions} interruption(s), {len(r.errors)} error(s)"
    ]
    lines += [f"  user: {t}" for t in r.transcripts]
    lines += [f"  bot:  {m}" for m in r.assistant_messages]
    lines += [f"  error: {e}" for e in r.errors]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python examples/tracing_demo/bot.py [--turns N] [--fast] ...``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--interrupt-turn", type=int, default=2, help="0 = no barge-in")
    ap.add_argument("--chunks", type=int, default=25, help="20 ms chunks per user utterance")
    ap.add_argument("--fast", action="store_true", help="no real-time pacing (benchmarks)")
    ap.add_argument("--bots", type=int, default=1, help="concurrent sessions, one LLM server")
    ap.add_argument("--llm-fail", choices=["abort", "http_500"], help="make every LLM call fail")
    ap.add_argument("--cancel-at-turn", type=int, help="cancel when the bot answers turn N")
    ap.add_argument("--trace", action="store_true", help="print turn-related frame hops")
    ap.add_argument(
        "--block-ms", type=int, default=0, help="an element blocks the event loop this long on turn 1's transcript"
    )
    ap.add_argument("--log-level", default="WARNING")
    ap.add_argument(
        "--conversation-id",
        help="conversation id of the session (default demo-1); with --bots N: ID-1 .. ID-N",
    )
    args = ap.parse_args(argv)
    configure_logging(args.log_level)

    async def go():
        async with LocalLLMServer() as llm:
            return await asyncio.gather(
                *(
                    run_bot(
                        turns=args.turns,
                        interrupt_turn=args.interrupt_turn or None,
                        chunks_per_utterance=args.chunks,
                        realtime=not args.fast,
                        conversation_id=args.conversation_id
                        if args.conversation_id and args.bots == 1
                        else f"{args.conversation_id or 'demo'}-{i + 1}",
                        llm_fail=args.llm_fail or False,
                        llm_server=llm,
                        cancel_at_turn=args.cancel_at_turn,
                        trace=args.trace,
                        block_seconds=args.block_ms / 1000,
                    )
                    for i in range(args.bots)
                )
            )

    results = asyncio.run(go())
    for r in results:
        if args.trace:
            for t, name, fid, src, dst, direction in r.trace:
                print(f"  {t:7.3f} {name:28s} #{fid:<6} {src} -> {dst} ({direction})")
        print(_summary(r))
    return 0 if all(r.ended_by in ("end", "cancel") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
