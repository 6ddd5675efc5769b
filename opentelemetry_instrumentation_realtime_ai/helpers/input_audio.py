"""How evenly the caller's audio reached the bot: the input transport's chunks, timed as they arrive.

A transport hands over the caller's audio in chunks of a fixed length (20 ms from most); a network
or client that stalls delivers them late, then all at once. Per chunk this costs a subtraction and
an integer added to a millisecond bucket (kept in a fixed list, so that the median needs no
samples); a gap long enough to be late, and nothing else, goes through Python code of its own.

A chunk is late when the audio before it had run out by half a chunk: a gap of ``g`` seconds
after a chunk of ``d`` seconds, ``g >= LATE_FACTOR * d``, leaves ``round(g / d) - 1`` chunks' worth
of audio that did not arrive in time (a 200 ms stall of 20 ms chunks: 9 late chunks, which then
arrive in a burst with the on-time one). A gap over ``PAUSE_SECONDS`` is the audio having stopped
(a muted or disconnected client, a transport that sends nothing in silence), not lateness: it is
not counted, and the next chunk starts the measurement afresh.
"""

from __future__ import annotations

from collections.abc import Callable

BUCKETS = 250
"""Buckets of the time between chunks, one per millisecond (to the nearest); longer gaps share one more."""
LATE_FACTOR = 1.5
PAUSE_SECONDS = 1.0
_CAP = (BUCKETS - 0.5) / 1000


class InputAudio:
    """The arrivals of one input's audio chunks in a session (times are ``time.perf_counter()``)."""

    __slots__ = (
        "_counts",
        "_last",
        "_late_after",
        "_max",
        "_on_late",
        "_per_byte",
        "_size",
        "_starts",
        "closed",
        "late_chunks",
    )

    def __init__(self, bytes_per_second: float, on_late: Callable[[float], None]):
        self._counts = [0] * (BUCKETS + 1)
        self._per_byte = 1.0 / bytes_per_second
        self._on_late = on_late
        self._last = float("-inf")
        self._late_after = 0.0  # the first chunk goes the slow way, which starts the measurement
        self._size = 0
        self._max = 0.0
        self._starts = 0
        self.late_chunks = 0
        self.closed = False

    def heard(self, at: float, size: int) -> bool:
        """A chunk of ``size`` bytes (16-bit PCM) arrived at ``at``; False once the session is over."""
        gap = at - self._last
        self._last = at
        if gap < self._late_after:
            self._counts[int(gap * 1000.0 + 0.5)] += 1
        elif not self._gap(gap):
            return False
        if size != self._size:
            self._resize(size)
        return True

    def _gap(self, gap: float) -> bool:
        """A gap past the fast path's range: a long one, a late chunk, the first chunk or a pause."""
        if self.closed:
            return False
        duration = self._size * self._per_byte
        if gap > PAUSE_SECONDS or not duration:
            self._starts += 1
            return True
        self._counts[min(int(gap * 1000.0 + 0.5), BUCKETS)] += 1
        if gap > self._max:
            self._max = gap
        if gap >= LATE_FACTOR * duration:
            self.late_chunks += int(gap / duration + 0.5) - 1
            self._on_late(gap)
        return True

    def _resize(self, size: int) -> None:
        self._size = size
        self._late_after = min(LATE_FACTOR * size * self._per_byte, _CAP)

    def close(self) -> None:
        self.closed = True
        self._late_after = -1.0  # every chunk now takes the slow path, which says it is over

    @property
    def chunks(self) -> int:
        return self._starts + sum(self._counts)

    def add_to(self, counts: list[int]) -> float:
        """Add this input's gap buckets to ``counts``; returns its longest gap measured to the microsecond."""
        for index, count in enumerate(self._counts):
            counts[index] += count
        return self._max


def summary(inputs: list[InputAudio]) -> tuple[int, float | None, float | None, int]:
    """Chunks, median and longest time between chunks (None without two chunks in a row), late chunks.

    A bucket stands for its millisecond (the median is good to half a millisecond); the median of a
    session whose gaps are mostly past the buckets' range reads as that range's end.
    """
    counts = [0] * (BUCKETS + 1)
    longest = max((i.add_to(counts) for i in inputs), default=0.0)
    chunks = sum(i.chunks for i in inputs)
    late = sum(i.late_chunks for i in inputs)
    total = sum(counts)
    if not total:
        return chunks, None, None, late
    median_at, seen, median = (total + 1) // 2, 0, BUCKETS / 1000
    for index, count in enumerate(counts[:BUCKETS]):
        seen += count
        if seen >= median_at:
            median = index / 1000
            break
    top = max((i for i, count in enumerate(counts[:BUCKETS]) if count), default=0)
    if (top - 0.5) / 1000 > longest:  # the longest gap took the fast path: good to half a millisecond
        longest = top / 1000
    return chunks, median, longest, late
