"""Offline stand-ins for a LiveKit Agents voice session: no LiveKit server, no provider keys.

Real LiveKit classes, subclassed where LiveKit expects a provider or a device:

- ``SpeechInput``: an ``AudioInput`` that plays recorded speech (16 kHz WAVs) in 10 ms frames,
  paced in real time, with silence between and after the utterances; it notes when the last
  frame of each utterance went out;
- ``ScriptedSTT``: a non-streaming ``STT``, so LiveKit wraps it in its VAD-driven
  ``StreamAdapter``; it answers each utterance with the next line of a script;
- ``ToneTTS``: a non-streaming ``TTS`` that answers each sentence with a tone after ``delay``
  (optionally stopping for a while in the middle of the first, as a TTS that falls behind does);
- ``SpeakerOutput``: an ``AudioOutput`` that "plays" in real time and notes when the first
  audio of each reply arrived;
- the LLM is LiveKit's real ``livekit.plugins.openai.LLM`` pointed at a local server.
"""

from __future__ import annotations

import asyncio
import math
import time
import wave
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, stt, tts, utils
from livekit.agents.voice import io

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FRAME_MS = 10


def read_wav(name: str) -> tuple[bytes, int]:
    with wave.open(str(FIXTURES / f"{name}.wav")) as w:
        return w.readframes(w.getnframes()), w.getframerate()


class SpeechInput(io.AudioInput):
    def __init__(self, utterances: list[str], *, lead: float = 0.3, gap: float = 2.5):
        super().__init__(label="SpeechInput")
        self.utterances = [read_wav(name) for name in utterances]
        self.lead, self.gap = lead, gap
        self.speech_ended_at: list[float] = []
        """time.time() when the last frame of each utterance was handed to LiveKit."""
        self.speech_bytes = [len(pcm) for pcm, _ in self.utterances]
        self.done = asyncio.Event()
        self._frames = self._play()

    async def _play(self):
        rate = self.utterances[0][1]
        step = rate * FRAME_MS // 1000
        silence = bytes(step * 2)
        start = time.perf_counter()
        sent = 0

        async def pace():
            nonlocal sent
            sent += 1
            delay = start + sent * FRAME_MS / 1000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

        def frame(data: bytes) -> rtc.AudioFrame:
            return rtc.AudioFrame(data.ljust(step * 2, b"\0"), rate, 1, step)

        for _ in range(int(self.lead * 1000 / FRAME_MS)):
            await pace()
            yield frame(silence)
        for pcm, _ in self.utterances:
            for offset in range(0, len(pcm), step * 2):
                await pace()
                yield frame(pcm[offset : offset + step * 2])
            self.speech_ended_at.append(time.time())
            for _ in range(int(self.gap * 1000 / FRAME_MS)):
                await pace()
                yield frame(silence)
        self.done.set()
        while True:
            await pace()
            yield frame(silence)

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._frames.__anext__()


class ScriptedSTT(stt.STT):
    def __init__(self, transcripts: list[str], *, delay: float = 0.05):
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.transcripts = list(transcripts)
        self.delay = delay
        self.heard: list[float] = []
        """Seconds of audio in each buffer recognized."""

    @property
    def model(self) -> str:
        return "scripted"

    async def _recognize_impl(self, buffer, *, language=None, conn_options: APIConnectOptions):
        frame = rtc.combine_audio_frames(buffer)
        self.heard.append(frame.duration)
        await asyncio.sleep(self.delay)
        text = self.transcripts.pop(0) if self.transcripts else ""
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language="en", text=text)],
        )


class ToneTTS(tts.TTS):
    def __init__(
        self,
        *,
        delay: float = 0.1,
        seconds: float = 0.4,
        sample_rate: int = 24000,
        pause: tuple[float, float] | None = None,
    ):
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=sample_rate, num_channels=1
        )
        self.delay, self.seconds = delay, seconds
        self.pause = pause
        """(after, for): the first sentence's audio stops after ``after`` seconds of it, for ``for`` seconds."""
        self.produced: list[int] = []
        """Bytes of audio made for each sentence."""

    @property
    def model(self) -> str:
        return "tone"

    def synthesize(self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS):
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    async def _run(self, output_emitter) -> None:
        engine: ToneTTS = self._tts  # type: ignore[assignment]
        await asyncio.sleep(engine.delay)
        rate = engine.sample_rate
        t = np.arange(int(rate * engine.seconds)) / rate
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).tobytes()
        engine.produced.append(len(pcm))
        output_emitter.initialize(
            request_id=utils.shortuuid(), sample_rate=rate, num_channels=1, mime_type="audio/pcm"
        )
        pause, engine.pause = engine.pause, None
        if pause is not None:
            cut = int(rate * pause[0]) * 2
            output_emitter.push(pcm[:cut])
            await asyncio.sleep(pause[1])
            pcm = pcm[cut:]
        output_emitter.push(pcm)
        output_emitter.flush()


class SpeakerOutput(io.AudioOutput):
    def __init__(self, sample_rate: int = 24000):
        super().__init__(
            label="Speaker",
            next_in_chain=None,
            sample_rate=sample_rate,
            capabilities=io.AudioOutputCapabilities(pause=False),
        )
        self.received = 0
        self.cleared = 0
        """Replies whose playback LiveKit stopped (the user interrupted)."""
        self.first_audio_at: list[float] = []
        """time.time() when the first audio of each reply arrived."""
        self._pushed = 0.0
        self._segment_started = False
        self._playout: asyncio.Task | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._segment_started:
            self._segment_started = True
            now = time.time()
            self.first_audio_at.append(now)
            if hasattr(self, "on_playback_started"):  # 1.8+; before, LiveKit dates it itself
                self.on_playback_started(created_at=now)
        self._pushed += frame.duration
        self.received += frame.samples_per_channel * frame.num_channels * 2

    def flush(self) -> None:
        super().flush()
        self._segment_started = False
        pushed, self._pushed = self._pushed, 0.0
        self._playout = asyncio.create_task(self._play_out(pushed))

    async def _play_out(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # real-time playback
        self.on_playback_finished(playback_position=seconds, interrupted=False)

    def clear_buffer(self) -> None:
        self.cleared += 1
        if self._playout is not None and not self._playout.done():
            self._playout.cancel()
        self._pushed = 0.0
        self._segment_started = False
        self.on_playback_finished(playback_position=0.0, interrupted=True)
