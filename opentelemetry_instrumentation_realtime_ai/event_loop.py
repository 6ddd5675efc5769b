"""Event-loop stalls: a voice agent's audio moves only while its event loop runs.

One monitor per loop that runs a session, not one per session. A timer callback runs every
``TICK_SECONDS`` and notes how late it ran (the scheduling lag; the worst of every 100 ms is
recorded); a stall past the threshold
becomes a ``realtime_ai.event_loop.blocked`` event on each of the loop's sessions (its open turn,
else the session). While the loop is late, a watchdog thread looks once at what the loop's thread
is running, so the event can name the element that blocked it. Both stop with the loop's last
session.

The stall's duration is the lag plus half a tick: a callback that blocked for ``d`` seconds
delays the wake-up by between ``d - TICK_SECONDS`` and ``d``.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from . import attributes as attrs

if TYPE_CHECKING:
    from .helpers.session import Session
    from .telemetry import Instruments

TICK_SECONDS = 0.01
TICKS_PER_WINDOW = 10
"""``realtime_ai.event_loop.lag`` records the worst lag of each 100 ms: no stall is missed, at a tenth of the cost."""
_MAX_STACK = 64


class LoopMonitor:
    """The monitor of one event loop, and the sessions it reports stalls to."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold: float,
        instruments: Instruments,
        element_of: Callable[[FrameType], str | None],
    ):
        self.loop = loop
        self.threshold = threshold
        self.sessions: list[Session] = []
        self._element_of = element_of
        self._thread_id = threading.get_ident()
        self._record = instruments.event_loop_lag.record
        self._worst, self._ticks = 0.0, 0
        self._blocker: str | None = None
        self._seen_stall = False
        self._stopped = threading.Event()
        self._running = True
        """``not _stopped.is_set()`` without a call, for the tick."""
        # In a context of its own: the session that started it stays collectable, and a tick's
        # measurement is not an exemplar of whatever span happened to be current (that costs).
        self._context = contextvars.Context()
        self._beat = time.monotonic()
        self._timer = loop.call_later(TICK_SECONDS, self._tick, context=self._context)
        self._watchdog = threading.Thread(
            target=self._watch, name="otel-realtime-ai-loop-watchdog", daemon=True
        )
        self._watchdog.start()

    def _tick(self) -> None:
        """A plain timer callback, not a sleeping task: a third of the loop's work per tick."""
        now = time.monotonic()
        lag = max(0.0, now - self._beat - TICK_SECONDS)
        self._beat = now
        if self._running:
            self._timer = self.loop.call_later(TICK_SECONDS, self._tick, context=self._context)
        self._worst, self._ticks = max(self._worst, lag), self._ticks + 1
        if self._ticks == TICKS_PER_WINDOW:  # one observation per window: a histogram record costs ~10 µs
            self._record(self._worst)
            self._worst, self._ticks = 0.0, 0
        if lag + TICK_SECONDS / 2 >= self.threshold:
            self._report(lag + TICK_SECONDS / 2)
        elif self._seen_stall:  # the watchdog saw a delay that did not amount to a stall
            self._blocker, self._seen_stall = None, False

    def _report(self, duration: float) -> None:
        blocker, self._blocker, self._seen_stall = self._blocker, None, False
        event: dict[str, Any] = {attrs.EVENT_LOOP_BLOCKED_DURATION: duration}
        if blocker:
            event[attrs.PIPELINE_ELEMENT] = blocker
        for session in self.sessions:
            session.loop_blocked(event)

    def _watch(self) -> None:
        """In its own thread: while the loop is late, see once what its thread is running."""
        while not self._stopped.wait(self.threshold / 2):
            if self._seen_stall or time.monotonic() - self._beat < self.threshold:
                continue
            self._seen_stall = True
            frame = sys._current_frames().get(self._thread_id)
            try:
                self._blocker = _element_in(frame, self._element_of)
            except Exception:  # telemetry must never break the app
                self._blocker = None

    def _cancel(self) -> None:
        self._timer.cancel()

    def stop(self) -> None:
        self._running = False
        self._stopped.set()
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._cancel)
        self._watchdog.join(1.0)  # it wakes at once on the event: nothing outlives its last session


def _element_in(frame: FrameType | None, element_of: Callable[[FrameType], str | None]) -> str | None:
    """The innermost element on the stack, by the framework's reading of a frame."""
    depth = 0
    while frame is not None and depth < _MAX_STACK:
        name = element_of(frame)
        if name:
            return name
        frame, depth = frame.f_back, depth + 1
    return None


def _no_element(frame: FrameType) -> str | None:
    return None


class LoopMonitors:
    """One monitor per running loop; frameworks say how to read an element off a stack frame."""

    def __init__(self, instruments: Instruments, threshold: float):
        self._instruments = instruments
        self.threshold = threshold
        self.element_of: Callable[[FrameType], str | None] = _no_element
        self._monitors: dict[asyncio.AbstractEventLoop, LoopMonitor] = {}
        self._lock = threading.Lock()

    def watch(self, session: Session) -> None:
        """Report the running loop's stalls to ``session`` (nothing outside a running loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            monitor = self._monitors.get(loop)
            if monitor is None:
                monitor = self._monitors[loop] = LoopMonitor(
                    loop, self.threshold, self._instruments, self.element_of
                )
            monitor.sessions.append(session)

    def unwatch(self, session: Session) -> None:
        with self._lock:
            for loop, monitor in list(self._monitors.items()):
                if session in monitor.sessions:
                    monitor.sessions.remove(session)
                if not monitor.sessions or loop.is_closed():
                    monitor.stop()
                    del self._monitors[loop]

    def stop_all(self) -> None:
        with self._lock:
            for monitor in self._monitors.values():
                monitor.stop()
            self._monitors.clear()
