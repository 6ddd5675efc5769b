"""Offline, key-less stand-ins for the AI providers of the tracing demo bot.

Everything here subclasses Pipecat's real base classes (or speaks a real wire
protocol), so the frames Pipecat emits are the ones a production voice bot
emits; only the network/model work is faked:

* ``LocalLLMServer``: an aiohttp server on 127.0.0.1 speaking the OpenAI Chat
  Completions streaming protocol, used by the *real* ``OpenAILLMService``
  through the real ``openai`` SDK.
* ``ScriptedSTTService``: a ``SegmentedSTTService`` (one ``run_stt`` per VAD
  segment) that returns a deterministic transcript after a small delay.
* ``SineTTSService``: a ``TTSService`` producing 16-bit PCM sine audio.
* ``EnergyVADAnalyzer``: a ``VADAnalyzer`` that needs no model (RMS gate), run
  by Pipecat's own ``VADProcessor``.
* ``ScriptedMicInput`` / ``SpeakerOutput``: ``BaseInputTransport`` /
  ``BaseOutputTransport`` subclasses; the input plays a scripted conversation
  (speech, pauses, barge-in), the output discards audio at a device-like pace.

No OpenTelemetry here on purpose: this is the application under observation.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def ensure_offline_nltk() -> str | None:
    """Make NLTK's ``punkt_tab`` resolvable without network access.

    Pipecat 0.0.x/1.0-1.2 call ``nltk.download("punkt_tab")`` at import of
    ``pipecat.utils.string`` when the data is missing (slow, fails offline)
    and its sentence splitter raises ``LookupError`` later. We seed a minimal
    punkt_tab model (empty collocations, a few abbreviations; plain
    punctuation-based sentence splitting) in a cache dir and put it on
    ``NLTK_DATA``/``nltk.data.path``. Must run before Pipecat is imported to
    skip the download attempt; running later still fixes sentence splitting.
    Returns the data dir used, or None when nothing was needed.
    """
    if importlib.util.find_spec("nltk") is None:  # Pipecat >= 1.3 has no NLTK.
        return None
    root = Path(
        os.environ.get("REALTIME_AI_DEMO_NLTK_DATA")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "realtime-ai-demo" / "nltk_data"
    )
    lang_dir = root / "tokenizers" / "punkt_tab" / "english"
    files = {
        "collocations.tab": "",
        "sent_starters.txt": "",
        "ortho_context.tab": "",
        "abbrev_types.txt": "\n".join(["dr", "mr", "mrs", "ms", "e.g", "i.e", "etc", "vs"]) + "\n",
    }
    if not all((lang_dir / name).exists() for name in files):
        lang_dir.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (lang_dir / name).write_text(content)
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *paths])
    if "nltk.data" in sys.modules:  # NLTK already imported: patch its search path
        import nltk.data

        if str(root) not in nltk.data.path:
            nltk.data.path.insert(0, str(root))
    return str(root)


ensure_offline_nltk()

import numpy as np  # noqa: E402
from aiohttp import web  # noqa: E402
from loguru import logger  # noqa: E402
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.services.settings import STTSettings, TTSSettings  # noqa: E402
from pipecat.services.stt_service import SegmentedSTTService  # noqa: E402
from pipecat.services.tts_service import TTSService  # noqa: E402
from pipecat.transports.base_input import BaseInputTransport  # noqa: E402
from pipecat.transports.base_output import BaseOutputTransport  # noqa: E402
from pipecat.transports.base_transport import TransportParams  # noqa: E402
from pipecat.utils.time import time_now_iso8601  # noqa: E402

IN_SAMPLE_RATE = 16000
CHUNK_SECS = 0.02  # 20 ms microphone chunks

# ---------------------------------------------------------------------------
# LLM: OpenAI-compatible streaming server
# ---------------------------------------------------------------------------

CANNED_ANSWERS = (
    "I am a small offline test bot.",
    "It is sunny and mild today.",
    "A robot crossed the road because it was programmed to.",
    "Goodbye, it was nice talking to you.",
)


def reply_for(messages: Sequence[dict]) -> str:
    """Deterministic assistant reply: echoes the last user message, numbered by user turn."""
    user_msgs = [m for m in messages if m.get("role") == "user"]
    turn = len(user_msgs)
    last = user_msgs[-1].get("content", "") if user_msgs else ""
    if isinstance(last, list):  # content parts
        last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
    heard = str(last).strip().rstrip(".!?") or "nothing"
    return f"Reply {turn}. You said: {heard}. {CANNED_ANSWERS[(turn - 1) % len(CANNED_ANSWERS)]}"


def tokenize(text: str) -> list[str]:
    """Split text into word-ish streaming tokens that keep their leading space."""
    return re.findall(r"\s*[\w']+|\s*[^\w\s]", text)


@dataclass
class LLMRequestRecord:
    """What the server saw/did for one chat-completions request."""

    conversation_id: str | None
    model: str
    user_turn: int
    stream: bool
    outcome: str = "pending"  # ok | aborted | http_500 | client_disconnected
    tokens_sent: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None


class LocalLLMServer:
    """OpenAI Chat Completions look-alike on 127.0.0.1 (free port), SSE streaming.

    Defaults can be overridden per request with headers (the bot sets them via
    ``OpenAILLMService(default_headers=...)``), so one server can be shared by
    several concurrent bots with different pacing/failure settings:

    * ``X-Conversation-Id``: recorded in ``requests`` for per-bot accounting.
    * ``X-Local-Token-Delay`` / ``X-Local-First-Token-Delay``: seconds.
    * ``X-Local-Fail``: ``abort`` (stream a few tokens, then drop the TCP
      connection: the SDK raises mid-iteration, no retry) or ``http_500`` (the
      SDK retries twice with backoff, then raises ``InternalServerError``).
    * ``X-Local-Fail-Turns``: comma-separated user-turn numbers to fail
      (default: all), the turn being the number of user messages sent.
    """

    def __init__(
        self,
        *,
        token_delay: float = 0.02,
        first_token_delay: float = 0.1,
        fail_mode: str | None = None,
        fail_after_tokens: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.fail_mode = fail_mode
        self.fail_after_tokens = fail_after_tokens
        self.host, self.port = host, port
        self.requests: list[LLMRequestRecord] = []
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (ends in /v1)."""
        return f"http://{self.host}:{self.port}/v1"

    def requests_for(self, conversation_id: str | None) -> list[LLMRequestRecord]:
        """Requests made by one conversation (matched on X-Conversation-Id)."""
        return [r for r in self.requests if r.conversation_id == conversation_id]

    async def start(self) -> str:
        """Bind to a free loopback port and serve; returns ``base_url``."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, shutdown_timeout=0.5).start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked
        logger.debug(f"LocalLLMServer listening on {self.base_url}")
        return self.base_url

    async def stop(self):
        """Stop serving (in-flight streams are dropped)."""
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalLLMServer:
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        h = request.headers
        messages = body.get("messages", [])
        user_turn = sum(1 for m in messages if m.get("role") == "user")
        rec = LLMRequestRecord(
            conversation_id=h.get("X-Conversation-Id"),
            model=body.get("model", ""),
            user_turn=user_turn,
            stream=bool(body.get("stream")),
        )
        self.requests.append(rec)
        token_delay = float(h.get("X-Local-Token-Delay", self.token_delay))
        first_delay = float(h.get("X-Local-First-Token-Delay", self.first_token_delay))
        fail = h.get("X-Local-Fail", self.fail_mode or "") or None
        fail_turns = h.get("X-Local-Fail-Turns", "")
        if fail and fail_turns and str(user_turn) not in fail_turns.replace(" ", "").split(","):
            fail = None

        if fail == "http_500":
            rec.outcome, rec.ended = "http_500", time.monotonic()
            err = {"error": {"message": "local server: injected failure", "type": "server_error"}}
            return web.json_response(err, status=500)

        text = reply_for(messages)
        tokens = tokenize(text)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = rec.model or "local-llm"
        usage = {
            "prompt_tokens": sum(len(tokenize(str(m.get("content", "")))) for m in messages),
            "completion_tokens": len(tokens),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]

        base = {"id": cid, "created": created, "model": model, "system_fingerprint": None}

        if not rec.stream:  # e.g. Pipecat's out-of-band run_inference()
            await asyncio.sleep(first_delay + token_delay * len(tokens))
            rec.outcome, rec.tokens_sent, rec.ended = "ok", len(tokens), time.monotonic()
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{**choice, "finish_reason": "stop"}],
                }
            )

        def chunk(delta: dict | None, finish: str | None = None, **extra) -> bytes:
            choices = (
                []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            )
            payload = {**base, "object": "chat.completion.chunk", "choices": choices, **extra}
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await asyncio.sleep(first_delay)
            await resp.write(chunk({"role": "assistant", "content": ""}))
            for i, tok in enumerate(tokens):
                if fail == "abort" and i >= self.fail_after_tokens:
                    rec.outcome, rec.ended = "aborted", time.monotonic()
                    # Drop the connection mid-body: the client sees an incomplete
                    # chunked response (httpx.RemoteProtocolError in the SDK).
                    if request.transport:
                        request.transport.abort()
                    return resp
                await resp.write(chunk({"content": tok}))
                rec.tokens_sent += 1
                await asyncio.sleep(token_delay)
            await resp.write(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                await resp.write(chunk(None, usage=usage))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            rec.outcome = "ok"
        except ConnectionError:  # incl. ConnectionResetError
            # Client went away, e.g. Pipecat closed the stream on interruption.
            rec.outcome = "client_disconnected"
        except asyncio.CancelledError:
            rec.outcome = "client_disconnected"
            raise
        finally:
            rec.ended = time.monotonic()
        return resp


# ---------------------------------------------------------------------------
# STT
# ---------------------------------------------------------------------------

DEFAULT_UTTERANCES = (
    "Hello there.",
    "What is the weather like?",
    "Wait, tell me a joke.",
    "Thanks, bye.",
)


class LoopBlocker(FrameProcessor):
    """Blocks the event loop (``time.sleep``) on the transcript of one turn, as a slow synchronous call
    in an element would: every frame of every element waits. ``blocked`` records (turn, seconds)."""

    def __init__(self, seconds: float, turn: int = 1):
        super().__init__()
        self.seconds, self.turn = seconds, turn
        self.transcripts = 0
        self.blocked: list[tuple[int, float]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self.transcripts += 1
            if self.transcripts == self.turn:
                start = time.perf_counter()
                time.sleep(self.seconds)
                self.blocked.append((self.turn, time.perf_counter() - start))
        await self.push_frame(frame, direction)


class ScriptedSTTService(SegmentedSTTService):
    """Segmented STT stand-in: one ``run_stt`` per VAD segment, scripted text.

    The transcript is ``utterances[i % len]`` for the i-th segment; it is
    marked ``finalized`` (a segment transcript is final), which lets the
    speech-timeout turn strategy close the turn without waiting for the
    STT p99 safety timer.
    """

    def __init__(
        self,
        *,
        utterances: Sequence[str] = DEFAULT_UTTERANCES,
        delay: float = 0.05,
        **kwargs,
    ):
        # P99 "speech end -> final transcript"; kept above VAD stop_secs (0.2 s)
        # so the speech-timeout strategy's STT wait is meaningful.
        kwargs.setdefault("ttfs_p99_latency", max(0.3, delay + 0.1))
        super().__init__(settings=STTSettings(model="scripted-stt", language=None), **kwargs)
        self._utterances = list(utterances)
        self._delay = delay
        self.segments = 0
        self.transcripts: list[str] = []

    def can_generate_metrics(self) -> bool:
        """Let Pipecat emit TTFB/processing metrics for this service."""
        return True

    async def run_stt(self, audio: bytes):
        """Pretend to transcribe a WAV segment (Pipecat's ``run_stt`` contract)."""
        await self.start_processing_metrics()
        await asyncio.sleep(self._delay)
        text = self._utterances[self.segments % len(self._utterances)]
        self.segments += 1
        self.transcripts.append(text)
        await self.stop_processing_metrics()
        yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), finalized=True)


# ---------------------------------------------------------------------------
# TTS
# ---------------------------------------------------------------------------


class SineTTSService(TTSService):
    """TTS stand-in: 16-bit mono sine PCM, ``seconds_per_char`` of audio per character.

    Uses the base class's audio contexts (``push_start_frame``/
    ``push_stop_frames``), like Pipecat's HTTP TTS services, so TTSStarted/
    TTSStopped framing is the version's own. ``run_tts(text, context_id)`` is
    the contract of every supported version (>= 0.0.102).

    Args:
        first_audio_delay: seconds before the first audio chunk (TTFB).
        seconds_per_char: audio duration per input character.
        speedup: generation speed vs. real time (e.g. 5 = 5x faster than
            playback); None streams the whole utterance without pauses.
    """

    def __init__(
        self,
        *,
        first_audio_delay: float = 0.08,
        seconds_per_char: float = 0.03,
        speedup: float | None = 5.0,
        frequency: float = 220.0,
        chunk_secs: float = 0.04,
        pause: tuple[float, float] | None = None,
        **kwargs,
    ):
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model="sine-tts", voice="sine", language=None),
            **kwargs,
        )
        self._first_audio_delay = first_audio_delay
        self._seconds_per_char = seconds_per_char
        self._speedup = speedup
        self._frequency = frequency
        self._chunk_secs = chunk_secs
        self._pause = pause
        """(seconds of audio, seconds): once, stop generating that long after that much audio in all."""
        self._generated = 0
        self.requests: list[str] = []

    def can_generate_metrics(self) -> bool:
        """Let Pipecat emit TTFB/processing/usage metrics for this service."""
        return True

    async def run_tts(self, text: str, context_id: str | None = None):
        """Yield ``TTSAudioRawFrame``s for ``text`` (Pipecat's ``run_tts`` contract)."""
        self.requests.append(text)
        await self.start_tts_usage_metrics(text)
        await asyncio.sleep(self._first_audio_delay)
        await self.stop_ttfb_metrics()
        sr = self.sample_rate
        total = int(len(text.strip()) * self._seconds_per_char * sr)
        step = max(1, int(self._chunk_secs * sr))
        for start in range(0, total, step):
            if self._pause and self._generated >= self._pause[0] * sr:
                await asyncio.sleep(self._pause[1])
                self._pause = None
            n = np.arange(start, min(start + step, total))
            self._generated += len(n)
            pcm = (0.3 * 32767 * np.sin(2 * np.pi * self._frequency * n / sr)).astype("<i2")
            yield TTSAudioRawFrame(pcm.tobytes(), sr, 1, context_id=context_id)
            await asyncio.sleep(len(n) / sr / self._speedup if self._speedup else 0)


# ---------------------------------------------------------------------------
# VAD
# ---------------------------------------------------------------------------


class EnergyVADAnalyzer(VADAnalyzer):
    """Model-free, deterministic VAD: a 20 ms window is voiced iff its RMS is above a threshold.

    Pipecat's ``VADAnalyzer`` state machine (start/stop secs) and
    ``VADProcessor`` do the rest, so VAD frames are produced by Pipecat itself.
    The energy gate replaces Pipecat's loudness gate: pyloudnorm on every
    20 ms window costs ~1 ms on 0.0.x, and 1.x only reports volume after a
    0.4 s window has filled, which would delay speech start.
    """

    def __init__(self, *, threshold_dbfs: float = -35.0, **kwargs):
        kwargs.setdefault("params", VADParams(start_secs=0.1, stop_secs=0.2))
        super().__init__(**kwargs)
        self._threshold = 32767 * 10 ** (threshold_dbfs / 20)

    def num_frames_required(self) -> int:
        """Analyze 20 ms windows."""
        return int((self.sample_rate or IN_SAMPLE_RATE) * CHUNK_SECS)

    def voice_confidence(self, buffer: bytes) -> float:
        """1.0 for loud-enough windows, else 0.0."""
        samples = np.frombuffer(buffer, dtype="<i2").astype(np.float32)
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        return 1.0 if rms >= self._threshold else 0.0

    def _get_smoothed_volume(self, audio: bytes) -> float:
        """Volume gate disabled (see class docstring); same private hook in 0.0.108-1.14."""
        return 1.0


# ---------------------------------------------------------------------------
# Transports
# ---------------------------------------------------------------------------


def _speech_chunk(sample_rate: int) -> bytes:
    """20 ms of a 250 Hz tone (exactly 5 periods, so chunks join seamlessly)."""
    n = np.arange(int(sample_rate * CHUNK_SECS))
    return (0.25 * 32767 * np.sin(2 * np.pi * 250.0 * n / sample_rate)).astype("<i2").tobytes()


class ScriptedMicInput(BaseInputTransport):
    """A microphone that plays a scripted conversation and listens to the bot.

    For each user turn it streams ``chunks_per_utterance`` 20 ms chunks of
    "speech" (a tone) and then silence long enough for the VAD to stop. It then
    waits for the bot's reply to finish (Bot{Started,Stopped}SpeakingFrame,
    which the output transport broadcasts upstream), or for an ErrorFrame. On
    ``interrupt_turn`` it only waits for the reply to *start* and then barges
    in with the next utterance, so Pipecat interrupts the bot.

    ``realtime=True`` paces chunks at 20 ms and keeps streaming silence while
    waiting (like a real mic); ``realtime=False`` pushes as fast as possible
    and streams nothing while waiting.

    Events: ``on_user_utterance(input, turn)`` (an utterance starts),
    ``on_bot_started_speaking(input, turn)`` (the bot starts answering ``turn``),
    ``on_script_finished(input)`` (the app should end the session).
    """

    def __init__(
        self,
        *,
        turns: int = 3,
        interrupt_turn: int | None = 2,
        chunks_per_utterance: int = 25,
        realtime: bool = True,
        sample_rate: int = IN_SAMPLE_RATE,
        silence_tail_secs: float = 0.3,
        think_secs: float = 0.2,
        barge_in_delay_secs: float = 0.3,
        reply_timeout: float = 15.0,
        error_grace_secs: float = 0.5,
        **kwargs,
    ):
        if interrupt_turn is not None and not 1 <= interrupt_turn < turns:
            raise ValueError("interrupt_turn must be in [1, turns) (the next turn barges in)")
        super().__init__(TransportParams(audio_in_enabled=True, audio_in_sample_rate=sample_rate), **kwargs)
        self._turns, self._interrupt_turn = turns, interrupt_turn
        self._chunks_per_utterance = chunks_per_utterance
        self._realtime = realtime
        self._sr = sample_rate
        self._tail = math.ceil(silence_tail_secs / CHUNK_SECS)
        self._think = math.ceil(think_secs / CHUNK_SECS) if realtime else 0
        self._barge_in_delay = math.ceil(barge_in_delay_secs / CHUNK_SECS) if realtime else 0
        self._reply_timeout = reply_timeout
        self._error_grace = error_grace_secs
        self._speech = _speech_chunk(sample_rate)
        self._silence = b"\x00" * len(self._speech)
        self._script_task: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._next_t = 0.0
        # What this transport saw coming back upstream.
        self.chunks_sent = 0
        self.current_turn = 0
        self.bot_started = 0
        self.bot_stopped = 0
        self.bot_speaking = False
        self.interruptions = 0
        self.errors: list[str] = []
        self.finished = False
        self._register_event_handler("on_user_utterance")
        self._register_event_handler("on_bot_started_speaking")
        self._register_event_handler("on_script_finished")

    async def start(self, frame: StartFrame):
        """Open the "mic" and start the script."""
        await super().start(frame)
        await self.set_transport_ready(frame)
        if not self._script_task:
            self._script_task = self.create_task(self._run_script(), "scripted_mic")

    async def stop(self, frame: EndFrame):
        """Stop the script, then the base transport."""
        await self._stop_script()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame):
        """Stop the script, then the base transport."""
        await self._stop_script()
        await super().cancel(frame)

    async def _stop_script(self):
        if self._script_task:
            await self.cancel_task(self._script_task)
            self._script_task = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        """Pass frames through; note what the bot does (frames arriving upstream)."""
        await super().process_frame(frame, direction)
        if direction != FrameDirection.UPSTREAM:
            return
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_started += 1
            self.bot_speaking = True
            await self._call_event_handler("on_bot_started_speaking", self.current_turn)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_stopped += 1
            self.bot_speaking = False
        elif isinstance(frame, InterruptionFrame):
            self.interruptions += 1
        elif isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.error))
        else:
            return
        self._changed.set()

    # -- script -------------------------------------------------------------

    async def _push_chunk(self, audio: bytes):
        if self._realtime:  # wall-clock pacing, like a sound card
            now = time.monotonic()
            self._next_t = max(self._next_t + CHUNK_SECS, now - 0.1)
            if self._next_t > now:
                await asyncio.sleep(self._next_t - now)
        else:
            await asyncio.sleep(0)  # stay cooperative at full speed
        await self.push_audio_frame(InputAudioRawFrame(audio=audio, sample_rate=self._sr, num_channels=1))
        self.chunks_sent += 1

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``predicate``; in realtime mode keep the mic streaming silence meanwhile."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._realtime:
                await self._push_chunk(self._silence)
                continue
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return predicate()
        return True

    async def _wait_reply(self, started_before: int, errors_before: int, *, done: bool):
        """Wait until the reply to the last utterance has started (``done``: been
        spoken), or the LLM failed without the bot saying anything."""
        t = self._reply_timeout
        if not await self._wait_until(
            lambda: self.bot_started > started_before or len(self.errors) > errors_before, t
        ):
            logger.warning(f"{self}: no bot reply within {t}s, moving on")
            return
        if self.bot_started == started_before:  # failed before any audio; audio may still come
            await self._wait_until(lambda: self.bot_started > started_before, self._error_grace)
        if done and self.bot_started > started_before:
            if not await self._wait_until(lambda: not self.bot_speaking, t):
                logger.warning(f"{self}: bot still speaking after {t}s, moving on")

    async def _run_script(self):
        self._next_t = time.monotonic()
        for _ in range(self._think):
            await self._push_chunk(self._silence)
        for turn in range(1, self._turns + 1):
            started_before, errors_before = self.bot_started, len(self.errors)
            self.current_turn = turn
            await self._call_event_handler("on_user_utterance", turn)
            for _ in range(self._chunks_per_utterance):
                await self._push_chunk(self._speech)
            for _ in range(self._tail):
                await self._push_chunk(self._silence)
            if turn == self._interrupt_turn:
                # Barge in as soon as (realtime: shortly after) the bot starts answering.
                await self._wait_reply(started_before, errors_before, done=False)
                for _ in range(self._barge_in_delay):
                    await self._push_chunk(self._silence)
                continue
            await self._wait_reply(started_before, errors_before, done=True)
            for _ in range(self._think):
                await self._push_chunk(self._silence)
        self.finished = True
        await self._call_event_handler("on_script_finished")


@dataclass
class OutputStats:
    """What reached the "speaker"."""

    audio_frames: int = 0
    audio_bytes: int = 0
    audio_secs: float = 0.0
    bot_started: int = 0
    bot_stopped: int = 0
    interruptions: int = 0  # InterruptionFrames that reached the output
    interrupted_while_speaking: int = 0  # ... while the bot was actually speaking


class SpeakerOutput(BaseOutputTransport):
    """Output transport that discards audio but consumes it like a sound device.

    Pipecat's own ``BaseOutputTransport`` logic (chunking, Bot{Started,Stopped}
    SpeakingFrame, interruption handling) runs unchanged. ``playback_speed``
    paces ``write_audio_frame`` like a device clock (1.0 = real time); None
    writes as fast as Pipecat pushes.
    """

    def __init__(self, *, playback_speed: float | None = 1.0, **kwargs):
        super().__init__(TransportParams(audio_out_enabled=True, audio_out_end_silence_secs=0), **kwargs)
        self._speed = playback_speed
        self._play_until = 0.0
        self._speaking = False
        self.stats = OutputStats()
        self.gaps: list[float] = []
        """Holes the device heard mid-speech: how long it had nothing to play before a write."""

    async def start(self, frame: StartFrame):
        """Open the "device"."""
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Discard audio, blocking like a device that plays at ``playback_speed``."""
        secs = len(frame.audio) / (2 * frame.sample_rate * frame.num_channels)
        self.stats.audio_frames += 1
        self.stats.audio_bytes += len(frame.audio)
        self.stats.audio_secs += secs
        if self._speed:
            now = time.monotonic()
            if self._speaking and self._play_until and now - self._play_until > 0.02:
                self.gaps.append(now - self._play_until)
            self._play_until = max(self._play_until, now) + secs / self._speed
            ahead = self._play_until - now - 0.02  # ~20 ms device buffer
            if ahead > 0:
                await asyncio.sleep(ahead)
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        """Count interruptions (and whether they cut the bot off) and flush the device clock."""
        if isinstance(frame, InterruptionFrame):
            self.stats.interruptions += 1
            if self._speaking:
                self.stats.interrupted_while_speaking += 1
            self._play_until = 0.0
        await super().process_frame(frame, direction)

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        """Track the Bot{Started,Stopped}SpeakingFrames that the base class emits."""
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotStartedSpeakingFrame):
                self._speaking = True
                self._play_until = 0.0  # a new stretch of speech: no hole before its first write
                self.stats.bot_started += 1
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self._speaking = False
                self.stats.bot_stopped += 1
        await super().push_frame(frame, direction)
