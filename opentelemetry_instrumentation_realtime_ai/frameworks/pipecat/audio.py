"""When the user's speech really started and ended, and when the bot's first audio went out.

A VAD declares the user stopped only after ``stop_secs`` of silence plus its own lag, and
started after ``start_secs`` of speech, so its frames are late by both. Every Pipecat VAD
analyzer (Silero or any ``VADAnalyzer`` subclass, in a ``VADProcessor``, the user aggregator
or a 0.0.x transport) runs its windows through ``VADAnalyzer._run_analyzer``, in its own worker
thread, one audio chunk a call: the hook there keeps the last few chunks and, when the state
flips, notes on the analyzer when the speech started or ended. A model VAD lags the sound (Silero
stays voiced 30-60 ms past the last sound, and turns voiced up to ~150 ms into a breathy onset),
so the edges are found on the audio around its windows: the last (first) sample louder than
``SPEECH_LEVEL``. ``set_sample_rate``, called in the run as it starts, tells the run which analyzer it uses.
The bot's first audio is stamped where the output transport's media sender announces it, right
before writing it.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from ...helpers.output_audio import Playout
from ..hooks import guarded

_EDGES = "_otel_realtime_ai_speech_edges"
CHUNKS_KEPT = 16
"""Chunks kept (references, not copies) per analyzer to search for the speech's edges: 320 ms of 20 ms
chunks, more than a model VAD's lag either way."""
SPEECH_LEVEL = 0.02 * 32767
"""-34 dBFS: the end of speech is the last 16-bit sample above it in the last voiced audio."""
ONSET_GAP = 0.08
"""Quiet this long before the first voiced window ends the search for the speech's onset."""
STALE_AFTER = 1.0
"""A reading older than the VAD's own start/stop wait plus this belongs to some earlier speech."""

RUN_ANALYZER_PARAMETERS = ("self", "buffer")
SENDER_PARAMETERS = ("self",)


def set_sample_rate_hook(current: ContextVar[Any]) -> Callable[..., Any]:
    """Wraps ``VADAnalyzer.set_sample_rate``, which the element owning an analyzer calls as its run
    starts: names the run's analyzer once, rather than on each of its chunks."""
    get = current.get

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        run = get()
        if run is not None:
            run.vad = instance
        result = wrapped(*args, **kwargs)
        _forget_edges(instance)  # what it kept was timed at the old rate
        return result

    return wrapper


class _Edges:
    """What the hook keeps on one analyzer: its last chunks and the speech edges found in them.

    One attribute on the analyzer, read once per chunk; the rest are slots."""

    __slots__ = ("chunks", "per_byte", "voice_start", "voiced_end", "window_end")

    def __init__(self, analyzer: Any):
        self.chunks: deque[tuple[float, bytes]] = deque(maxlen=CHUNKS_KEPT)
        self.per_byte = 1.0 / _bytes_per_second(analyzer)
        """Seconds of audio per byte, worked out once: the analyzer's rate is read through properties."""
        self.window_end: float | None = None
        self.voice_start: float | None = None
        self.voiced_end: float | None = None


@guarded
def _new_edges(analyzer: Any) -> _Edges | None:
    edges = _Edges(analyzer)
    setattr(analyzer, _EDGES, edges)
    return edges


@guarded
def _forget_edges(analyzer: Any) -> None:
    if getattr(analyzer, _EDGES, None) is not None:
        setattr(analyzer, _EDGES, None)


def run_analyzer_hook(states: Any) -> Callable[[Any], Any]:
    """Replaces ``VADAnalyzer._run_analyzer`` (``states``: its ``VADState``): a clock reading, a few
    lengths and a reference to the chunk kept, next to a model inference; the audio is searched
    only when the state flips."""
    quiet, starting, speaking = states.QUIET, states.STARTING, states.SPEAKING

    def make(original: Any) -> Any:
        def _run_analyzer(self: Any, buffer: bytes) -> Any:
            try:
                at, previous = perf_counter(), self._vad_state
                pending = len(self._vad_buffer) + len(buffer)
            except Exception:  # telemetry must never break the app
                return original(self, buffer)
            state = original(self, buffer)
            try:
                edges = getattr(self, _EDGES, None) or _new_edges(self)
                if edges is not None:
                    edges.chunks.append((at, buffer))  # a chunk's audio ends when it arrived
                    if state is starting or state is speaking:  # the last window analysed was voiced
                        left = len(self._vad_buffer)
                        if left < pending:  # a window was analysed: what is still buffered came after it
                            edges.window_end = at - left * edges.per_byte
                            if previous is quiet:
                                _found_start(self, edges, edges.window_end)
                    elif previous is speaking:
                        _found_end(self, edges)
            except Exception:
                pass
            return state

        return _run_analyzer

    return make


@guarded
def _found_start(analyzer: Any, edges: _Edges, window_end: float) -> None:
    edges.voice_start = _first_sound(analyzer, edges, window_end)


@guarded
def _found_end(analyzer: Any, edges: _Edges) -> None:
    if edges.window_end is not None:
        edges.voiced_end = _last_sound(analyzer, edges, edges.window_end)


def _bytes_per_second(analyzer: Any) -> int:
    return int(analyzer.sample_rate * 2 * analyzer.num_channels)


def _chunks_before(analyzer: Any, edges: _Edges, window_end: float) -> Iterator[tuple[float, array[int]]]:
    """Newest first: each kept chunk that began before ``window_end``, as (its start, its mono
    samples up to ``window_end``)."""
    rate, channels = analyzer.sample_rate, analyzer.num_channels
    for arrived, chunk in reversed(list(edges.chunks)):
        samples = array("h", chunk)[::channels]
        start = arrived - len(samples) / rate
        if start < window_end:
            yield start, samples[: min(len(samples), round((window_end - start) * rate))]


def _loud_at(samples: array[int], last: bool) -> int | None:
    """The index of the first (or last) sample above ``SPEECH_LEVEL``; the C-level min/max rule
    out a quiet chunk without a Python loop."""
    if not samples or (max(samples) <= SPEECH_LEVEL and min(samples) >= -SPEECH_LEVEL):
        return None
    indices = range(len(samples) - 1, -1, -1) if last else range(len(samples))
    return next(i for i in indices if abs(samples[i]) > SPEECH_LEVEL)


def _last_sound(analyzer: Any, edges: _Edges, window_end: float) -> float:
    """The end of the last loud sample in the chunks up to the last voiced window's end."""
    for start, samples in _chunks_before(analyzer, edges, window_end):
        index = _loud_at(samples, last=True)
        if index is not None:
            return start + (index + 1) / analyzer.sample_rate
    return window_end


def _first_sound(analyzer: Any, edges: _Edges, window_end: float) -> float:
    """The first loud sample of the sound that runs into the first voiced window, going back
    through the kept chunks until ``ONSET_GAP`` of quiet (a word's own stops are shorter)."""
    earliest = None
    quiet_since = window_end
    for start, samples in _chunks_before(analyzer, edges, window_end):
        index = _loud_at(samples, last=False)
        if index is None:
            if earliest is not None and quiet_since - start >= ONSET_GAP:
                break
            continue
        earliest = start + index / analyzer.sample_rate
        quiet_since = start
    if earliest is not None:
        return earliest
    return window_end - analyzer._vad_frames_num_bytes * edges.per_byte


def speech_ended_at(analyzer: Any, frame: Any) -> tuple[float | None, str]:
    """The end of the speech a VAD stop frame reports, and how it was found.

    The analyzer's last voiced window when it has a recent one; else the frame's arrival minus
    the VAD's ``stop_secs``; else unknown (a frame made by hand).
    """
    now = perf_counter()
    stop_secs = getattr(frame, "stop_secs", 0.0) or (
        analyzer.params.stop_secs if analyzer is not None else 0.0
    )
    edges = getattr(analyzer, _EDGES, None)
    voiced = edges.voiced_end if edges is not None else None
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
    edges = getattr(analyzer, _EDGES, None)
    started = edges.voice_start if edges is not None else None
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
            run = get()
            if run is not None:
                if getattr(self, "_bot_speaking", True):
                    _played(self, run)
                else:
                    _audio_out(run, self)
            return original(self)

        return _bot_started_speaking

    return make


_PLAYOUT = "_otel_realtime_ai_playout"


@guarded
def _played(sender: Any, run: Any) -> None:
    """A chunk of the reply is about to be written: a hole if the audio before it had run out."""
    playout = getattr(sender, _PLAYOUT, None)
    if playout is None:
        playout = _new_playout(sender)
    now = perf_counter()
    hole = playout.queued(now, _chunk_seconds(sender))
    if hole:
        run.session.audio_gap(hole, now - hole)


def _new_playout(sender: Any) -> Playout:
    playout = Playout()
    setattr(sender, _PLAYOUT, playout)
    return playout


def _chunk_seconds(sender: Any) -> float:
    channels = getattr(sender._params, "audio_out_channels", 1) or 1
    return float(sender._audio_chunk_size / (sender._sample_rate * 2 * channels))


@guarded
def _audio_out(run: Any, sender: Any) -> None:
    now = perf_counter()
    run.session.audio_gaps_measured = True
    run.session.bot_started_speaking(now)
    _new_playout(sender).queued(now, _chunk_seconds(sender))
