"""When each chunk of the caller's audio reached Pipecat's input transport.

Every Pipecat input transport (WebRTC, WebSocket, Daily, local audio...) hands the caller's audio
to ``BaseInputTransport.push_audio_frame``, on every supported version; it is replaced by a plain
function that times the chunk and returns Pipecat's own coroutine. The session's meter is kept in
the transport's element state (see ``pipeline.element_states``), so a chunk costs a dict lookup, a
clock reading and the meter's bucket increment; the run is looked up on a transport's first chunk
only, and again after its session ended.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from ..hooks import guarded
from .pipeline import ElementState, element_state, element_states, state_of

PARAMETERS = ("self", "frame")


def push_audio_frame_hook(current: ContextVar[Any]) -> Callable[[Any], Any]:
    """Replaces ``BaseInputTransport.push_audio_frame`` (one call per chunk of the caller's audio)."""
    get = current.get
    states = element_states.get

    def make(original: Any) -> Any:
        def push_audio_frame(self: Any, frame: Any) -> Any:
            try:
                try:
                    state = states(self)
                except Exception:  # not hashable: keyed by its id
                    state = states(id(self))
                meter = state.input_audio if state is not None and state is not False else None
                if meter is None:
                    meter = _meter_for(self, get(), frame, state)
                if meter is not None and not meter.heard(perf_counter(), len(frame.audio)):
                    _forget(self)  # its session is over: the next chunk finds the next run's
            except Exception:  # telemetry must never break the app
                pass
            return original(self, frame)

        return push_audio_frame

    return make


@guarded
def _meter_for(transport: Any, run: Any, frame: Any, state: Any) -> Any:
    """The meter of the transport's session: the run of the calling task, else the run the frame hook
    found the transport in (a transport that pushes from a thread of its own, as local audio does)."""
    if run is None:
        run = getattr(state, "run", None)
    if run is None:
        return None
    state = element_state(transport, run)
    if not isinstance(state, ElementState):
        return None
    state.input_audio = run.session.input_audio(frame.sample_rate * frame.num_channels * 2)
    return state.input_audio


def _forget(transport: Any) -> None:
    state = state_of(transport)
    if isinstance(state, ElementState):
        state.input_audio = None
