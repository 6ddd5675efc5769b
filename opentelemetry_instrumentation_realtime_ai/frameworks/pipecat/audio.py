"""When the user's speech really started and ended, and when the bot's first audio went out.

A VAD declares the user stopped only after ``stop_secs`` of silence plus its own lag, and
started after ``start_secs`` of speech, so its frames are late by both. Every Pipecat VAD
analyzer (Silero or any ``VADAnalyzer`` subclass, in a ``VADProcessor``, the user aggregator
or a 0.0.x transport) runs its windows through ``VADAnalyzer._run_analyzer``, in its own worker
thread, one audio chunk a call: the hook there notes, on the analyzer, when the last voiced
window ended and when the current run of voiced windows began. ``analyze_audio``, called in
the run's task, tells the run which analyzer it uses. The bot's first audio is stamped where
the output transport's media sender announces it, right before writing it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from ..hooks import guarded

_VOICED_END = "_otel_realtime_ai_voiced_end"
_VOICE_START = "_otel_realtime_ai_voice_start"
STALE_AFTER = 1.0
"""A reading older than the VAD's own start/stop wait plus this belongs to some earlier speech."""

ANALYZE_PARAMETERS = ("self", "buffer")
SENDER_PARAMETERS = ("self",)


def analyze_audio_hook(current: ContextVar[Any]) -> Callable[[Any], Any]:
    """Replaces ``VADAnalyzer.analyze_audio`` (one call per audio chunk): names the run's analyzer."""
    get = current.get

    def make(original: Any) -> Any:
        def analyze_audio(self: Any, buffer: bytes) -> Any:
            run = get()
            if run is not None and run.vad is not self:
                run.vad = self
            return original(self, buffer)

        return analyze_audio

    return make


def run_analyzer_hook(original: Any) -> Any:
    """Replaces ``VADAnalyzer._run_analyzer``: a clock reading and two lengths per chunk, next to a
    model inference."""

    def _run_analyzer(self: Any, buffer: bytes) -> Any:
        before = _before(self, buffer)
        state = original(self, buffer)
        if before is not None:
            _after(self, before, state)
        return state

    return _run_analyzer


@guarded
def _before(analyzer: Any, buffer: bytes) -> tuple[float, Any, int]:
    return perf_counter(), analyzer._vad_state, len(analyzer._vad_buffer) + len(buffer)


@guarded
def _after(analyzer: Any, before: tuple[float, Any, int], state: Any) -> None:
    """After a chunk: its last analysed window was voiced iff the state is STARTING or SPEAKING."""
    at, previous, pending = before
    left = len(analyzer._vad_buffer)
    if left >= pending or state.name not in ("STARTING", "SPEAKING"):
        return  # no window analysed, or the last one was not voiced
    bytes_per_second = analyzer.sample_rate * 2 * analyzer.num_channels
    voiced_end = at - left / bytes_per_second  # audio still buffered came after the window
    analyzer.__dict__[_VOICED_END] = voiced_end
    if previous.name == "QUIET":
        window = analyzer._vad_frames_num_bytes / bytes_per_second
        analyzer.__dict__[_VOICE_START] = voiced_end - window


def speech_ended_at(analyzer: Any, frame: Any) -> tuple[float | None, str]:
    """The end of the speech a VAD stop frame reports, and how it was found.

    The analyzer's last voiced window when it has a recent one; else the frame's arrival minus
    the VAD's ``stop_secs``; else unknown (a frame made by hand).
    """
    now = perf_counter()
    stop_secs = getattr(frame, "stop_secs", 0.0) or (analyzer.params.stop_secs if analyzer is not None else 0.0)
    voiced = analyzer.__dict__.get(_VOICED_END) if analyzer is not None else None
    if voiced is not None and 0.0 <= now - voiced <= stop_secs + STALE_AFTER:
        return voiced, "vad"
    if stop_secs:
        return now - stop_secs, "stop_secs"
    return None, "signal"


def speech_started_at(analyzer: Any, frame: Any) -> float | None:
    """The start of the speech a VAD start frame reports (see ``speech_ended_at``)."""
    now = perf_counter()
    start_secs = getattr(frame, "start_secs", 0.0) or (
        analyzer.params.start_secs if analyzer is not None else 0.0
    )
    started = analyzer.__dict__.get(_VOICE_START) if analyzer is not None else None
    if started is not None and 0.0 <= now - started <= start_secs + STALE_AFTER:
        return float(started)
    return now - start_secs if start_secs else None


def bot_started_hook(current: ContextVar[Any]) -> Callable[[Any], Any]:
    """Replaces ``BaseOutputTransport.MediaSender._bot_started_speaking``, which the sender calls
    for every chunk it plays and which announces the bot speaking just before the first is written.

    Only the sender's own flag is read per chunk; the session hears of the first one.
    """
    get = current.get

    def make(original: Any) -> Any:
        def _bot_started_speaking(self: Any) -> Any:
            if not self.__dict__.get("_bot_speaking", True):
                run = get()
                if run is not None:
                    _audio_out(run)
            return original(self)

        return _bot_started_speaking

    return make


@guarded
def _audio_out(run: Any) -> None:
    run.session.bot_started_speaking(perf_counter())
