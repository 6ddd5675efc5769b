"""Holes in the bot's audio: what an output plays in real time, and whether the next piece came in time.

An output transport plays what it is handed in real time, and is usually handed a reply faster than
that (or paced just ahead of it). A piece that arrives after the audio queued before it has finished
playing leaves the caller a moment of silence mid-reply: a hole, from when the queued audio ran out
to the arrival. A pause holds the playout (the queued audio is still due, later by the pause).
"""

from __future__ import annotations

GAP_TOLERANCE = 0.02
"""Lateness past the end of the queued audio that counts as a hole: more than an output's own pacing jitter."""


class Playout:
    """One output's queued audio within one reply (times are ``time.perf_counter()`` seconds)."""

    __slots__ = ("due", "paused_at")

    def __init__(self) -> None:
        self.due: float | None = None
        """When the audio queued so far will have played out; None before the reply's first piece."""
        self.paused_at: float | None = None

    def queued(self, now: float, seconds: float) -> float:
        """``seconds`` of audio handed over at ``now``; returns the hole before it (0.0: none)."""
        due, paused_at = self.due, self.paused_at
        if due is None:
            self.due = now + seconds
            return 0.0
        if paused_at is not None:  # held: it plays after what is queued, once resumed
            self.due = max(due, paused_at) + seconds
            return 0.0
        self.due = max(now, due) + seconds
        late = now - due
        return late if late > GAP_TOLERANCE else 0.0

    def restart(self) -> None:
        """The reply ended (or was cut): the next piece starts a new playout."""
        self.due = self.paused_at = None

    def pause(self, now: float) -> None:
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        paused_at, self.paused_at = self.paused_at, None
        if paused_at is not None and self.due is not None:
            self.due = max(self.due, paused_at) + (now - paused_at)
