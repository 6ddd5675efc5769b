"""Session recordings: one stereo 16-bit WAV per session, left the user, right the bot.

Second *t* of the file is *t* seconds after the session's ``pipeline.run`` span started: each
chunk is placed at the moment the transport received (user) or wrote (bot) it, back to back
while chunks keep coming on time, and silence fills what nobody said. Chunks that come in a
burst (after an event-loop stall, or frames made ahead of time) cannot all keep their time: a
chunk more than 10 ms ahead of the clock is left out when quiet, and otherwise laid 10 ms after
its time, over the end of the one before. The clock holds within 10 ms; a stall during speech
costs that much of it. An output that takes a reply faster than it plays it (LiveKit's) has
its chunks queued instead: each one follows what the channel already holds, as the output's
playout buffer does, and a cut (the output dropped what it held: an interruption) or a pause
takes the rest out at that instant. The event loop only
stamps a chunk and queues it (a bounded queue: a full one drops the chunk, never waits); a
writer thread resamples, mixes and appends, and rewrites the header every half second, so a
killed process leaves a readable file missing at most the last second.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import struct
import threading
import time
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SDKSpan

from . import attributes as attrs

_log = logging.getLogger(__name__)

RATE = 16_000
"""Both channels are resampled to it: speech needs no more, and a minute is under 4 MB."""
USER, BOT = 0, 1
_AT, _QUEUED, _CUT, _PAUSE, _RESUME = range(5)  # what a queued item asks of the writer
FLUSH_EVERY_S = 0.5
_MARGIN_S = 0.3  # audio this recent may still be joined by a chunk in the queue
_ON_TIME_S = 0.010  # a chunk this close to the previous one's end follows it without a gap
_MAX_AHEAD_S = 60.0  # queued-up audio (frames made ahead of time) kept beyond the flush point
_QUIET = 328  # peak under -40 dBFS: a chunk that can be left out to keep to the clock
_QUEUE_CHUNKS = 4096  # 20 ms chunks in flight per session: about 40 s per channel


def safe_name(session_id: str) -> str:
    """A file name from a session id: no path separators, no leading dot, bounded length."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", session_id).lstrip(".")[:128]
    return name or "session"


def _header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 2, RATE, RATE * 4, 4, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class Recorder:
    """One session's WAV, written by its own thread."""

    def __init__(self, path: str, start_perf_ns: int):
        self.path = path
        self.dropped = 0
        """Chunks lost: the queue was full, or too much audio came ahead of the clock."""
        self.skipped = 0
        """Chunks left out or overlapped so that a channel keeps to the clock after a burst."""
        self.finished = threading.Event()
        self._start = start_perf_ns
        self._queue: queue.Queue[tuple[int, int, int, bytes, int, int]] = queue.Queue(_QUEUE_CHUNKS)
        self._end: int | None = None
        self._file = open(path, "wb")
        self._file.write(_header(0))
        self._file.flush()
        self._thread = threading.Thread(
            target=self._run, name=f"realtime-ai-recording {os.path.basename(path)}", daemon=True
        )
        self._thread.start()

    # --- on the event loop: a stamp and a queue put ---

    def add(self, channel: int, audio: bytes, sample_rate: int, channels: int) -> None:
        """A chunk heard or played now."""
        self._put((_AT, channel, time.perf_counter_ns(), bytes(audio), sample_rate, channels or 1))

    def queue(self, channel: int, audio: bytes, sample_rate: int, channels: int) -> None:
        """A chunk an output took now, to play after what it holds already."""
        self._put((_QUEUED, channel, time.perf_counter_ns(), bytes(audio), sample_rate, channels or 1))

    def cut(self, channel: int) -> None:
        """The output stopped now and dropped what it held."""
        self._put((_CUT, channel, time.perf_counter_ns(), b"", 0, 0))

    def pause(self, channel: int) -> None:
        """The output paused now: what it holds plays when it resumes."""
        self._put((_PAUSE, channel, time.perf_counter_ns(), b"", 0, 0))

    def resume(self, channel: int) -> None:
        self._put((_RESUME, channel, time.perf_counter_ns(), b"", 0, 0))

    def _put(self, item: tuple[int, int, int, bytes, int, int]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def close(self, end_perf_ns: int) -> None:
        """Write what is left, up to the session's end, and close the file (in the writer thread)."""
        self._end = end_perf_ns

    # --- the writer thread ---

    def _run(self) -> None:
        import numpy as np

        cursors: list[int | None] = [None, None]  # where each channel's next chunk goes on time
        pending: list[list[tuple[int, Any]]] = [[], []]
        held: list[list[tuple[int, Any]] | None] = [None, None]  # a paused output's audio, from 0
        written = 0
        next_flush = time.monotonic() + FLUSH_EVERY_S

        def take_from(channel: int, at: int) -> list[tuple[int, Any]]:
            """Take the channel's pending audio from ``at`` on out, placed relative to ``at``."""
            at = max(at, written)
            kept, taken = [], []
            for start, samples in pending[channel]:
                if start + len(samples) <= at:
                    kept.append((start, samples))
                    continue
                if start < at:
                    kept.append((start, samples[: at - start]))
                    samples, start = samples[at - start :], at
                taken.append((start - at, samples))
            pending[channel] = kept
            cursor = cursors[channel]
            cursors[channel] = None if cursor is None else min(cursor, at)
            return taken

        def control(kind: int, channel: int, at: int) -> None:
            paused = held[channel]
            if kind == _CUT:
                take_from(channel, at)
                if paused is not None:
                    held[channel] = []
            elif kind == _PAUSE and paused is None:
                held[channel] = take_from(channel, at)
            elif kind == _RESUME and paused is not None:
                at = max(at, written)
                held[channel] = None
                pending[channel] += [(at + offset, samples) for offset, samples in paused]
                cursors[channel] = max([at] + [at + o + len(s) for o, s in paused])

        def place(item: tuple[int, int, int, bytes, int, int]) -> None:
            kind, channel, stamp, audio, rate, count = item
            if kind >= _CUT:
                control(kind, channel, round((stamp - self._start) * RATE / 1e9))
                return
            samples = np.frombuffer(audio[: len(audio) // (2 * count) * 2 * count], dtype="<i2")
            if count > 1:
                samples = samples.reshape(-1, count).mean(axis=1)
            if rate != RATE and len(samples):
                n = max(1, round(len(samples) * RATE / rate))
                samples = np.interp(np.arange(n) * (rate / RATE), np.arange(len(samples)), samples)
            samples = samples.astype("<i2")
            at = round((stamp - self._start) * RATE / 1e9)
            cursor = cursors[channel]
            paused = held[channel]
            if kind == _QUEUED and paused is not None:
                offset = paused[-1][0] + len(paused[-1][1]) if paused else 0
                if offset > _MAX_AHEAD_S * RATE:
                    self.dropped += 1
                else:
                    paused.append((offset, samples))
                return
            if kind == _QUEUED and cursor is not None and at < cursor + _ON_TIME_S * RATE:
                at = cursor  # after what the output holds
            elif (
                cursor is not None and at <= cursor + _ON_TIME_S * RATE
            ):  # on time, or early: behind the previous chunk
                ahead = cursor - at
                if ahead <= _ON_TIME_S * RATE:
                    at = cursor
                elif not len(samples) or np.abs(samples).max() < _QUIET:
                    self.skipped += (
                        1  # a burst put the channel ahead of the clock: a quiet chunk gives it back
                    )
                    return
                else:  # sound in a burst: over the end of the previous chunk, so the clock holds
                    self.skipped += 1
                    at += round(_ON_TIME_S * RATE)
            at = max(at, written)
            if at - written > _MAX_AHEAD_S * RATE:
                self.dropped += 1
                return
            pending[channel].append((at, samples))
            cursors[channel] = at + len(samples)

        def flush(upto: int) -> None:
            nonlocal written
            if upto <= written:
                return
            block = np.zeros((upto - written, 2), dtype="<i2")
            for channel in (USER, BOT):
                keep = []
                for at, samples in pending[channel]:
                    end = at + len(samples)
                    lo, hi = max(at, written), min(end, upto)
                    if hi > lo:
                        block[lo - written : hi - written, channel] = samples[lo - at : hi - at]
                    if end > upto:
                        keep.append((at, samples))
                pending[channel] = keep
            self._file.write(block.tobytes())
            written = upto
            data_bytes = written * 4
            self._file.seek(4)
            self._file.write(struct.pack("<I", 36 + data_bytes))
            self._file.seek(40)
            self._file.write(struct.pack("<I", data_bytes))
            self._file.seek(0, os.SEEK_END)
            self._file.flush()

        try:
            while True:
                try:
                    place(self._queue.get(timeout=0.1))
                except queue.Empty:
                    pass
                end = self._end
                if end is not None:
                    while True:
                        try:
                            place(self._queue.get_nowait())
                        except queue.Empty:
                            break
                    flush(max(written, round((end - self._start) * RATE / 1e9)))
                    return
                if time.monotonic() >= next_flush:
                    next_flush = time.monotonic() + FLUSH_EVERY_S
                    flush(round((time.perf_counter_ns() - self._start) * RATE / 1e9 - _MARGIN_S * RATE))
        except Exception:  # a full disk must not take the app down
            _log.warning("recording %s failed", self.path, exc_info=True)
        finally:
            self._file.close()
            self.finished.set()


class RecordingProcessor(SpanProcessor):
    """Starts a recording when a ``pipeline.run`` span starts and closes it when the span ends."""

    def __init__(self, directory: str):
        self.directory = directory
        self.active = True
        self._recorders: dict[int, Recorder] = {}
        self._closing: list[Recorder] = []

    def for_span(self, span: Any) -> Recorder | None:
        """The recording of the session whose span this is (looked up per audio chunk)."""
        return self._recorders.get(span.get_span_context().span_id)

    def on_start(self, span: SDKSpan, parent_context: Context | None = None) -> None:
        if not self.active or span.name != attrs.SPAN_PIPELINE_RUN or span.start_time is None:
            return
        start = time.perf_counter_ns() - (time.time_ns() - span.start_time)
        session_id = str(
            (span.attributes or {}).get(attrs.SESSION_ID) or format(span.context.span_id, "016x")
        )
        path = os.path.join(self.directory, safe_name(session_id) + ".wav")
        try:
            recorder = Recorder(path, start)
        except OSError:
            _log.warning("cannot record session %s to %s", session_id, path, exc_info=True)
            return
        self._recorders[span.context.span_id] = recorder
        span.set_attribute(attrs.RECORDING_PATH, path)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        recorder = self._recorders.pop(span.context.span_id, None)
        if recorder is None:
            return
        end = time.perf_counter_ns() - (time.time_ns() - (span.end_time or time.time_ns()))
        recorder.close(end)
        self._closing = [r for r in self._closing if not r.finished.is_set()] + [recorder]

    def wait(self, path: str, timeout: float) -> bool:
        """Wait until the recording at ``path`` is complete (the replay page reads it)."""
        for recorder in list(self._closing):
            if recorder.path == path:
                return recorder.finished.wait(timeout)
        return True

    def shutdown(self) -> None:
        self.active = False
        self.force_flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        return all(r.finished.wait(max(0.0, deadline - time.monotonic())) for r in list(self._closing))
