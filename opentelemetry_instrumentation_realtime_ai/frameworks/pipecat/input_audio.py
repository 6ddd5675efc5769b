"""When each chunk of the caller's audio reached Pipecat's input transport.

Every Pipecat input transport (WebRTC, WebSocket, Daily, local audio...) hands the caller's audio
to ``BaseInputTransport.push_audio_frame``, on every supported version; it is replaced by a plain
function that times the chunk and returns Pipecat's own coroutine. The session's meter is kept on
the transport, so a chunk costs a dict lookup, a clock reading and the meter's bucket increment;
the run is looked up on a transport's first chunk only, and again after its session ended.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from ..hooks import guarded
from .pipeline import _STATE

_METER = "_otel_realtime_ai_input_audio"
PARAMETERS = ("self", "frame")


def push_audio_frame_hook(current: ContextVar[Any]) -> Callable[[Any], Any]:
    """Replaces ``BaseInputTransport.push_audio_frame`` (one call per chunk of the caller's audio)."""
    get = current.get

    def make(original: Any) -> Any:
        def push_audio_frame(self: Any, frame: Any) -> Any:
            try:
                found = self.__dict__
                meter = found.get(_METER)
                if meter is None:
                    meter = _meter_for(self, get(), frame)
                if meter is not None and not meter.heard(perf_counter(), len(frame.audio)):
                    del found[_METER]  # its session is over: the next chunk finds the next run's
            except Exception:  # telemetry must never break the app
                pass
            return original(self, frame)

        return push_audio_frame

    return make


@guarded
def _meter_for(transport: Any, run: Any, frame: Any) -> Any:
    """The meter of the transport's session: the run of the calling task, else the run the frame hook
    found the transport in (a transport that pushes from a thread of its own, as local audio does)."""
    if run is None:
        state = transport.__dict__.get(_STATE)
        run = getattr(state, "run", None)
    if run is None:
        return None
    meter = run.session.input_audio(frame.sample_rate * frame.num_channels * 2)
    if meter is not None:
        transport.__dict__[_METER] = meter
    return meter
