"""Agent sessions: one ``pipeline.run`` per ``AgentSession``, its turns from the session's states.

LiveKit keeps who is speaking as the session's user and agent states and updates them in one
place each (``_update_user_state`` / ``_update_agent_state``); both carry when it happened: the
end of the user's speech backdated by the silence the VAD waited for, the start of the agent's
speech as the audio output began playing it. The turn latency is measured between those two
instants, not between our calls.
"""

from __future__ import annotations

import contextvars
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span

from ...helpers.input_audio import InputAudio
from ...helpers.session import Session
from ..hooks import guarded

_STATE = "_otel_realtime_ai"
FRAMEWORK = "livekit"

activity_var: contextvars.ContextVar[Any] | None = None
"""LiveKit's own variable for the agent activity a speech task runs in (set by instrument())."""


class Run:
    """Our state on one ``AgentSession``: the helper session and the speaking times it needs."""

    __slots__ = ("input_audio", "on_user_speaking", "session", "tools")

    def __init__(self, session: Session):
        self.session = session
        self.input_audio: InputAudio | None = None
        """The meter of the caller's audio, from its first frame."""
        self.on_user_speaking: list[Callable[[], None]] = []
        """Called once when the user next starts speaking (an STT utterance heard a moment earlier)."""
        self.tools: dict[str, Span] = {}
        """``execute_tool`` spans open, by call id (LiveKit 1.2)."""


_starting: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "otel_realtime_ai_livekit_session", default=None
)
"""The session whose ``start()`` runs: tasks LiveKit starts in it (audio recognition) inherit it."""


def run_of(agent_session: Any) -> Run | None:
    run = getattr(agent_session, "__dict__", {}).get(_STATE)
    return run if isinstance(run, Run) and not run.session.ended else None


def current() -> Run | None:
    """The session the calling task serves: its agent activity's, else the one starting."""
    activity = activity_var.get(None) if activity_var is not None else None
    return run_of(getattr(activity, "_session", None)) or _starting.get()


def _session_id(room: Any) -> str | None:
    """The job id in a LiveKit job, else the room's name when the app gave a room."""
    try:
        from livekit.agents import get_job_context

        job = get_job_context(required=False)
    except Exception:
        job = None
    job_id = getattr(getattr(job, "job", None), "id", None)
    if isinstance(job_id, str) and job_id:
        return job_id
    name = getattr(room, "name", None)
    return name if isinstance(name, str) and name else None


@guarded
def _start(agent_session: Any, kwargs: dict[str, Any], version: str) -> Run | None:
    if run_of(agent_session) is not None:
        return None  # started twice: the first run goes on
    session = Session(
        type(agent_session).__name__,
        _session_id(kwargs.get("room")),
        framework=FRAMEWORK,
        framework_version=version,
    )
    run = agent_session.__dict__[_STATE] = Run(session)
    # a session the app drops without closing still ends (when collected, or at exit)
    weakref.finalize(agent_session, guarded(session.end))
    return run


def start_hook(version: str):
    """Wraps ``AgentSession.start``: the session span opens, and LiveKit's own spans nest in it."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not is_instrumentation_enabled():
            return await wrapped(*args, **kwargs)
        run = _start(instance, kwargs, version)
        if run is None:
            return await wrapped(*args, **kwargs)
        token = _starting.set(run)
        context_token = otel_context.attach(trace.set_span_in_context(run.session.span))
        try:
            return await wrapped(*args, **kwargs)
        except BaseException as error:
            guarded(_end)(instance, error)
            raise
        finally:
            otel_context.detach(context_token)
            _starting.reset(token)

    return wrapper


def _end(agent_session: Any, error: BaseException | None = None) -> None:
    run = agent_session.__dict__.pop(_STATE, None)
    if isinstance(run, Run):
        for span in run.tools.values():
            span.end()
        run.tools.clear()
        run.session.end(error)


async def close_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``AgentSession._aclose_impl``: the session ends once LiveKit has closed it."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        error = kwargs.get("error")
        guarded(_end)(instance, error if isinstance(error, BaseException) else None)


def user_state_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``AgentSession._update_user_state(state, *, last_speaking_time)``."""
    run = run_of(instance)
    if run is None:
        return wrapped(*args, **kwargs)
    old = getattr(instance, "_user_state", None)
    result = wrapped(*args, **kwargs)
    _user_state(run, old, getattr(instance, "_user_state", None), kwargs.get("last_speaking_time"))
    return result


@guarded
def _user_state(run: Run, old: Any, new: Any, at: Any) -> None:
    """LiveKit's user state follows its VAD; leaving "speaking" it gives the last speaking instant."""
    if old == new:
        return
    if new == "speaking":
        run.session.voice_started()
        waiting, run.on_user_speaking = run.on_user_speaking, []
        for callback in waiting:
            callback()
    elif old == "speaking":
        run.session.voice_stopped(_perf(at), source="vad")
        run.session.user_stopped_speaking()


def _perf(wall: Any) -> float | None:
    """A wall-clock instant LiveKit reports, on the helpers' ``time.perf_counter()`` clock."""
    if not isinstance(wall, (int, float)):
        return None
    return time.perf_counter() - max(0.0, time.time() - wall)


def agent_state_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``AgentSession._update_agent_state(state, *, start_time)``."""
    run = run_of(instance)
    if run is None:
        return wrapped(*args, **kwargs)
    old = getattr(instance, "_agent_state", None)
    result = wrapped(*args, **kwargs)
    _agent_state(run, old, getattr(instance, "_agent_state", None), kwargs.get("start_time"))
    return result


@guarded
def _agent_state(run: Run, old: Any, new: Any, at: Any) -> None:
    """LiveKit's agent state turns "speaking" when the first audio goes out, at ``start_time``."""
    if old == new:
        return
    session = run.session
    if new == "speaking":
        session.bot_started_speaking(_perf(at))
    elif old == "speaking":
        session.bot_stopped_speaking()
