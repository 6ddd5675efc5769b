"""A session (one pipeline run) and its conversation turns, fed by speaking signals.

Frameworks report who started or stopped speaking; this module decides where turns begin
and end, whether the user interrupted, and the user-to-bot latency. It gives every child
span an explicit parent, because frameworks run each element in its own asyncio task where
the current OpenTelemetry context is stale.
"""

from __future__ import annotations

import contextvars
import time
import uuid

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span
from opentelemetry.util.types import AttributeValue

from .. import attributes as attrs
from .. import telemetry
from ..spans import Parent, new_span, record_error
from .ai import AIRequest

_current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "otel_realtime_ai_session", default=None
)


def current_session() -> Session | None:
    """The session the calling code runs in (set by the framework hooks for the length of a run).

    Inside a Pipecat element, ``start_span("my.step", parent=current_session().context())`` puts
    your own span under the turn it serves, where the stale current context would not.
    """
    return _current_session.get()


def set_current_session(session: Session | None) -> contextvars.Token[Session | None]:
    return _current_session.set(session)


def reset_current_session(token: contextvars.Token[Session | None]) -> None:
    _current_session.reset(token)


MAX_PIPELINE_NAMES = 100
"""Distinct ``pipeline.name`` values on metrics; past it, ``_other``: a name per call must not mint series."""
_pipeline_names: set[str] = set()


def bounded_pipeline_name(name: str) -> str:
    if name in _pipeline_names:
        return name
    if len(_pipeline_names) >= MAX_PIPELINE_NAMES:
        return "_other"
    _pipeline_names.add(name)
    return name


class Turn:
    """One user→bot exchange: from the user starting to speak to the end of the bot's reply."""

    def __init__(self, session: Session, number: int):
        self.number = number
        self.bot_started = False
        self.interrupted = False
        turn_attrs: dict[str, AttributeValue] = {
            attrs.TURN_NUMBER: number,
            attrs.SESSION_ID: session.session_id,
        }
        if session.trace_per_turn:
            # A root span of its own trace, linked to the session so a backend can join them.
            self.span = new_span(
                attrs.SPAN_TURN,
                turn_attrs,
                parent=otel_context.Context(),
                links=[Link(session.span.get_span_context())],
            )
        else:
            self.span = new_span(attrs.SPAN_TURN, turn_attrs, parent=session.span)
        self.context = trace.set_span_in_context(self.span)


class Session:
    """One pipeline run: the ``pipeline.run`` span, its turns, and the AI requests open in it."""

    def __init__(
        self,
        pipeline_name: str,
        session_id: str | None = None,
        *,
        framework: str | None = None,
        framework_version: str | None = None,
        metric_name: str | None = None,
        parent: Parent = None,
    ):
        self._telemetry = telemetry.current()
        self.session_id = session_id or str(uuid.uuid4())
        self.pipeline_name = pipeline_name
        self.metric_name = bounded_pipeline_name(metric_name or pipeline_name)
        """The bounded form of the pipeline name used on metrics (no instance numbers)."""
        self.framework = framework or "custom"
        self.trace_per_turn = self._telemetry.options.trace_per_turn
        span_attrs = {
            attrs.PIPELINE_NAME: pipeline_name,
            attrs.SESSION_ID: self.session_id,
            attrs.GEN_AI_CONVERSATION_ID: self.session_id,
            attrs.FRAMEWORK: self.framework,
            attrs.FRAMEWORK_VERSION: framework_version,
        }
        self.span: Span = new_span(attrs.SPAN_PIPELINE_RUN, attrs._clean(span_attrs), parent=parent)
        self._context = trace.set_span_in_context(self.span)
        self.turn: Turn | None = None
        self.turn_count = 0
        self.user_speaking = False
        self.bot_speaking = False
        self._user_stopped_at: float | None = None
        self._requests: list[AIRequest] = []
        self.ended = False
        self._telemetry.instruments.sessions_active.add(1, {attrs.FRAMEWORK: self.framework})
        self._telemetry.loops.watch(self)

    # --- parents for child spans ---

    def context(self) -> otel_context.Context:
        """The context child spans belong in: the open turn, else the session."""
        turn = self.turn
        return turn.context if turn is not None else self._context

    def track(self, request: AIRequest) -> AIRequest:
        """Remember an open request so the turn waits for it and the session's end closes it."""
        self._requests = [r for r in self._requests if not r.ended]
        self._requests.append(request)
        return request

    def _busy(self) -> bool:
        """The bot's reply is still being produced (an LLM or TTS request is open)."""
        return any(not r.completed and r.operation != attrs.OPERATION_SPEECH_TO_TEXT for r in self._requests)

    @property
    def user_speech_ended_at(self) -> float | None:
        """When the user last stopped speaking (``time.perf_counter()``), or None while they speak."""
        return self._user_stopped_at

    # --- speaking signals ---

    def user_started_speaking(self) -> None:
        self.user_speaking = True
        self._user_stopped_at = None
        turn = self.turn
        if turn is not None and not turn.bot_started:
            return  # the user paused and went on: still the same turn
        if turn is not None:
            if self.bot_speaking or self._busy():
                turn.interrupted = True
            self._end_turn()
        self._start_turn()

    def user_stopped_speaking(self) -> None:
        if self.user_speaking:
            self.user_speaking = False
            self._user_stopped_at = time.perf_counter()

    def bot_started_speaking(self) -> None:
        if self.bot_speaking:
            return
        self.bot_speaking = True
        turn = self.turn
        if turn is None or turn.bot_started:
            return
        turn.bot_started = True
        if self._user_stopped_at is not None:
            latency = time.perf_counter() - self._user_stopped_at
            turn.span.set_attribute(attrs.TURN_USER_BOT_LATENCY, latency)
            self._telemetry.instruments.turn_latency.record(
                latency, {attrs.PIPELINE_NAME: self.metric_name}, context=turn.context
            )

    def bot_stopped_speaking(self) -> None:
        if not self.bot_speaking:
            return
        self.bot_speaking = False
        if self.turn is not None and self.turn.bot_started and not self._busy() and not self.user_speaking:
            self._end_turn()

    # --- turn lifecycle ---

    def _start_turn(self) -> None:
        self.turn_count += 1
        self.turn = Turn(self, self.turn_count)

    def _end_turn(self) -> None:
        turn, self.turn = self.turn, None
        if turn is None:
            return
        metric_attrs = {attrs.PIPELINE_NAME: self.metric_name}
        turn.span.set_attribute(attrs.TURN_INTERRUPTED, turn.interrupted)
        if turn.interrupted:
            self._telemetry.instruments.interruptions.add(1, metric_attrs)
        self._telemetry.instruments.turns.add(1, metric_attrs)
        turn.span.end()

    def end(self, error: BaseException | None = None) -> None:
        """End open requests, the open turn and the session, once."""
        if self.ended:
            return
        self.ended = True
        for request in self._requests:
            request.end(error=error, interrupted=error is None)
        self._requests = []
        self._end_turn()
        if error is not None:
            record_error(self.span, error)
        self.span.set_attribute(attrs.SESSION_TURNS, self.turn_count)
        self.span.end()
        self._telemetry.instruments.sessions_active.add(-1, {attrs.FRAMEWORK: self.framework})
        self._telemetry.loops.unwatch(self)

    def loop_blocked(self, event: dict[str, AttributeValue]) -> None:
        """The event loop running this session was blocked: an event on the open turn, else the session."""
        turn = self.turn
        (turn.span if turn is not None else self.span).add_event(attrs.EVENT_LOOP_BLOCKED, event)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.end(exc)
