"""Pipeline runs and the frames their elements process.

A run of ``PipelineWorker`` (``PipelineTask`` before 1.3) is a session. The session is put in a
context variable while the run lasts: every processor task Pipecat starts inside the run
inherits it, so each frame finds its own session even with many sessions in one process.

The frame hook is the hot path (every frame through every element), so it only does dict
lookups and integer additions; element time and frame counts are summed in place and read
by observable metric instruments at collection time.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import random
import re
from collections import deque
from time import perf_counter_ns
from types import FrameType
from typing import Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import CallbackOptions, Observation

from ... import attributes as attrs
from ... import telemetry
from ...helpers.connection import Connection
from ...helpers.pipeline import instrument_element_process
from ...helpers.session import Session, reset_current_session, set_current_session
from ..hooks import guarded
from . import audio
from . import frames as fk
from .services import PUSHED, ServiceState

_log = logging.getLogger(__name__)
_INSTANCE_NUMBER = re.compile(r"#\d+$")


SIGNALS_REMEMBERED = 16
"""Speaking signals remembered with the element that saw each first: more than can be in flight at once."""


class Run:
    """A session as Pipecat drives it: the helper ``Session``, the speaking signals seen lately,
    the VAD analyzer last heard, the processors that hold state for it and the connections
    opened in it (both released when the run ends)."""

    __slots__ = ("connections", "processors", "session", "signals", "vad", "vad_signals")

    def __init__(self, session: Session):
        self.session = session
        self.signals: deque[tuple[Any, Any]] = deque(maxlen=SIGNALS_REMEMBERED)
        self.vad: Any = None
        self.vad_signals = False
        """VAD frames flow in this run: the user turn's own start/stop frames are not speech edges."""
        self.processors: list[Any] = []
        self.connections: list[Connection] = []

    def release(self) -> None:
        """Close the connections still open and drop this run's state of its processors:
        a processor that runs again starts afresh."""
        for connection in self.connections:
            connection.close()
        self.connections.clear()
        for processor in self.processors:
            key = state_key(processor)
            state = element_states.get(key)
            if state is _PASS_THROUGH or (state is not None and state.run is self):
                del element_states[key]
        self.processors.clear()


frame_span_ratio = 0.0
"""Share of frames that get an ``element.process`` span; 0 when frame spans are off."""

CURRENT: contextvars.ContextVar[Run | None] = contextvars.ContextVar("otel_realtime_ai_run", default=None)


def stable_name(name: str) -> str:
    """``PipelineTask#3`` -> ``PipelineTask``: metric attributes must not mint a series per instance."""
    return _INSTANCE_NUMBER.sub("", name)


# --- element metrics, summed in place ---


class FrameCount:
    """The frames of one class an element processed, and what the frame hook does with them
    (``action``, see below). Slotted, not a list: the count sits next to the object header, one
    memory read fewer at every frame."""

    __slots__ = ("action", "count", "kind")

    def __init__(self, action: int, kind: int):
        self.count = 0
        self.action = action
        self.kind = kind


_element_ns: dict[tuple[str, str], list[int]] = {}
# (pipeline, element, frame class name, action, kind) -> its count: shared by every instance of the
# element in same-named pipelines. Keyed by names, not classes, so that classes made on the fly
# cannot grow it without bound.
_frame_counts: dict[tuple[str, str, str, int, int], FrameCount] = {}


def _observe_time(options: CallbackOptions) -> list[Observation]:
    return [
        Observation(cell[0] / 1e9, {attrs.PIPELINE_NAME: pipeline, attrs.PIPELINE_ELEMENT: element})
        for (pipeline, element), cell in list(_element_ns.items())
    ]


def _observe_frames(options: CallbackOptions) -> list[Observation]:
    totals: dict[tuple[str, str, str], int] = {}
    for (pipeline, element, frame_class, _, _), entry in list(_frame_counts.items()):
        key = (pipeline, element, frame_class)
        totals[key] = totals.get(key, 0) + entry.count
    return [
        Observation(count, {attrs.PIPELINE_NAME: p, attrs.PIPELINE_ELEMENT: e, attrs.MESSAGE_TYPE: f})
        for (p, e, f), count in totals.items()
    ]


def register_element_metrics() -> None:
    meter = telemetry.current().instruments.meter
    meter.create_observable_counter(
        attrs.METRIC_ELEMENT_TIME,
        callbacks=[_observe_time],
        unit="s",
        description="Time elements spent processing frames",
    )
    meter.create_observable_counter(
        attrs.METRIC_FRAMES, callbacks=[_observe_frames], unit="{frame}", description="Frames processed"
    )


def clear_element_metrics() -> None:
    _element_ns.clear()
    _frame_counts.clear()
    element_states.clear()


# What the frame hook does with a frame class at an element class, decided on its first frame.
_PLAIN_AUDIO = 0  # count it; time one in AUDIO_TIMING_EVERY
_HEARD_AUDIO = 1  # the same, and an STT service adds it to the audio its request heard
_PLAIN = 2  # count and time it (audio too, when frame spans are on)
_WATCHED = 3  # also a speaking signal, or a frame this element's service acts on

AUDIO_TIMING_EVERY = 64
"""Raw audio frames are most of the traffic and each is cheap to process, so one in 64 is timed
(and its time counted 64 times); every other frame is timed."""


class ElementState(dict):  # type: ignore[type-arg]
    """What the frame hook keeps on one processor for one run: frame class -> its shared entry.

    A dict itself, so that the hook finds a frame's entry with one subscript (no method call); a
    frame class not seen yet gets its entry from ``__missing__`` (None if that fails).
    """

    __slots__ = (
        "element",
        "input_audio",
        "last_class",
        "last_entry",
        "name",
        "pipeline",
        "run",
        "service",
        "time",
    )

    def __init__(self, processor: Any, run: Run, role: str | None):
        super().__init__()
        self.last_class: type | None = None
        self.last_entry: FrameCount | None = None
        """The frame class this processor got last and its entry: its audio, nearly always, found
        without a dict lookup (the hook's data stays in fewer cache lines)."""
        self.run = run
        self.input_audio: Any = None
        """An input transport's meter of the caller's audio (see ``input_audio``)."""
        self.name = getattr(processor, "name", None) or type(processor).__name__
        self.element = type(processor).__name__
        self.pipeline = run.session.metric_name
        self.time = _element_ns.setdefault((self.pipeline, self.element), [0])
        self.service = ServiceState(processor, role, run.session) if role else None

    def entry(self, frame_class: type) -> FrameCount:
        kind = fk.kind_of(frame_class)
        received = self.service is not None and kind in self.service.receives
        if kind in fk.AUDIO and not frame_span_ratio:
            action = _HEARD_AUDIO if received else _PLAIN_AUDIO
        elif received or kind in fk.SIGNALS:
            action = _WATCHED
        else:
            action = _PLAIN
        key = (self.pipeline, self.element, frame_class.__name__, action, kind)
        entry = self[frame_class] = _frame_counts.setdefault(key, FrameCount(action, kind))
        return entry

    def __missing__(self, frame_class: type) -> FrameCount | None:
        return _entry(self, frame_class)


# --- roles of processor classes (LLM / STT / TTS service or plain element) ---

_service_bases: tuple[tuple[type, str], ...] = ()
_roles: dict[type, str | None] = {}
_pass_through: tuple[type, ...] = ()
_PASS_THROUGH: Literal[False] = False
"""The state of a processor the frame hook only lets frames through (falsy, like a new state)."""

element_states: dict[Any, ElementState | Literal[False]] = {}
"""Processor (see ``state_key``) -> its state in its run. Kept here, not on the processor: the first
read of a processor's ``__dict__`` turns its attributes from inline values into a dict, which slows
every attribute Pipecat itself reads on it (about 0.5 µs a frame hop). The run holds its processors
and removes their keys when it ends."""


def state_key(processor: Any) -> Any:
    """The processor itself where it hashes by identity (the frame hook's lookup then needs no
    ``id()`` int made and compared at every frame), else its ``id()``: a processor class with an
    equality of its own (a dataclass) must not find another, equal processor's state."""
    cls = type(processor)
    if cls.__hash__ is object.__hash__ and cls.__eq__ is object.__eq__:
        return processor
    return id(processor)


def state_of(processor: Any) -> ElementState | Literal[False] | None:
    """The processor's state, wherever ``state_key`` put it."""
    return element_states.get(state_key(processor))


def set_service_bases(bases: tuple[tuple[type, str], ...]) -> None:
    global _service_bases
    _service_bases = bases
    _roles.clear()


def set_pass_through(classes: tuple[type, ...]) -> None:
    """Processors of these classes only forward frames: the hook neither counts nor times them."""
    global _pass_through
    _pass_through = classes


def role_of(processor_class: type) -> str | None:
    role = _roles.get(processor_class, False)
    if role is False:
        role = next((op for base, op in _service_bases if issubclass(processor_class, base)), None)
        _roles[processor_class] = role
    return role  # type: ignore[return-value]


def element_state(processor: Any, run: Run) -> ElementState | Literal[False]:
    key = state_key(processor)
    state = element_states.get(key)
    if state is None or (state is not _PASS_THROUGH and state.run is not run):
        if isinstance(processor, _pass_through):
            state = _PASS_THROUGH
        else:
            state = ElementState(processor, run, role_of(type(processor)))
        element_states[key] = state
        run.processors.append(processor)
    return state


@guarded
def _on_signal(run: Run, state: ElementState, kind: int, frame: Any) -> bool:
    """Speaking signals reach many elements: act on each where it is first seen, as it arrives.

    Not by frame id, which follows when a frame was made (frames made ahead of time, as tests and
    replays do, would come out of order). The same frame object seen again by the element that saw
    it first was pushed again: a new signal. Returns whether services should not see the frame:
    a user turn's start or end where the VAD's frames already mark the speech (1.x sends both, and
    the turn's start can reach an STT after the VAD's stop, which would open a second request).
    """
    user = kind == fk.USER_STARTED or kind == fk.USER_STOPPED
    vad = user and isinstance(frame, fk.VAD_SIGNAL_CLASSES)
    if vad:
        run.vad_signals = True
    hidden = user and not vad and run.vad_signals
    for seen, first in run.signals:
        if seen is frame:
            if first is not state:
                return hidden
            break
    run.signals.append((frame, state))
    session = run.session
    if kind == fk.USER_STARTED:
        if vad:
            session.voice_started(audio.speech_started_at(run.vad, frame))
        else:
            session.user_started_speaking()
    elif kind == fk.USER_STOPPED:
        if vad:
            session.voice_stopped(*audio.speech_ended_at(run.vad, frame))
        else:
            session.user_stopped_speaking()
    elif kind == fk.BOT_STARTED:
        session.bot_started_speaking()
    else:
        session.bot_stopped_speaking()
    return hidden


@guarded
def _service_received(service: ServiceState, kind: int, frame: Any) -> object | None:
    request = service.received(kind, frame)
    if request is None:
        return None
    # The provider's own client spans (HTTP, SDK instrumentations) nest under the request.
    return otel_context.attach(trace.set_span_in_context(request.span))


@guarded
def _frame_span(state: ElementState, frame: Any) -> Any:
    return instrument_element_process(
        state.name,
        frame,
        pipeline_name=state.run.session.pipeline_name,
        session_id=state.run.session.session_id,
        parent=state.run.session.context(),
    )


_PROCESSING = frozenset({"process_frame", "_FrameProcessor__process_frame"})


def element_in(frame: FrameType) -> str | None:
    """The element a stack frame is processing a frame for (read when the event loop stalls)."""
    if frame.f_code.co_name not in _PROCESSING:
        return None
    processor = frame.f_locals.get("self")
    return getattr(processor, "name", None) if isinstance(processor, _element_base) else None


_element_base: tuple[type, ...] = ()


def set_element_base(base: type | None) -> None:
    global _element_base
    _element_base = (base,) if base is not None else ()


PROCESS_FRAME_PARAMETERS = ("self", "frame", "direction", "callback")


def process_frame_hook(original: Any) -> Any:
    """Replaces ``FrameProcessor.__process_frame``, the one dispatcher every element's frames go through.

    The hottest path of the package (every frame through every element): a plain function that
    counts the frame and hands back Pipecat's own coroutine, or a timing coroutine around it when
    this frame's processing time is measured or the frame means something to a session. Once a
    processor holds state for the run, that is one dict lookup (two when the frame's class is not
    the one the processor got last) and an addition; the run's
    context variable is read only on a processor's first frame (the run takes its state off
    its processors when it ends).
    """
    current = CURRENT.get
    every = AUDIO_TIMING_EVERY - 1  # a mask: AUDIO_TIMING_EVERY is a power of two
    states = element_states.get

    def process_frame(self: Any, frame: Any, direction: Any, callback: Any) -> Any:
        try:
            state: Any = states(self)
        except Exception:  # a processor class whose __hash__ fails (a dataclass): keyed by its id
            state = states(id(self))
        if not state:  # no state yet, a new one, or a pass-through processor
            if state is None:
                run = current()
                state = _element_state(self, run) if run is not None else None
            if state is None or state is _PASS_THROUGH:
                return original(self, frame, direction, callback)
        frame_class = frame.__class__
        if frame_class is state.last_class:
            entry = state.last_entry
        else:
            entry = state[frame_class]
            if entry is None:  # could not be made: let it through
                return original(self, frame, direction, callback)
            state.last_class, state.last_entry = frame_class, entry
        count = entry.count = entry.count + 1
        action = entry.action
        if action <= _HEARD_AUDIO and count & every:
            if action:  # the service's request hears the chunk: an addition here, not a call
                listener = state.service.listener
                if listener is None:  # the request's first chunk: ``heard`` notes its format
                    state.service.heard(frame)
                else:
                    try:
                        listener.audio_heard += len(frame.audio)
                    except Exception:  # telemetry must never break the app
                        pass
            return original(self, frame, direction, callback)
        return _observed(state, action, entry.kind, frame, original(self, frame, direction, callback))

    return process_frame


_element_state = guarded(element_state)
_entry = guarded(ElementState.entry)


def _observed(state: ElementState, action: int, kind: int, frame: Any, processing: Any) -> Any:
    """The frames that are not plain traffic: timed, and acted on when they mean something."""
    token = span = None
    if action == _WATCHED or action == _HEARD_AUDIO:
        hidden = kind in fk.SIGNALS and _on_signal(state.run, state, kind, frame)
        service = state.service
        if service is not None and kind in service.receives and not hidden:
            token = _service_received(service, kind, frame)
    if frame_span_ratio and random.random() < frame_span_ratio:
        span = _frame_span(state, frame)
    weight = AUDIO_TIMING_EVERY if action <= _HEARD_AUDIO else 1
    return _timed(state, weight, token, span, processing)


async def _timed(state: ElementState, weight: int, token: object | None, span: Any, processing: Any) -> Any:
    start = perf_counter_ns()
    try:
        return await processing
    finally:
        state.time[0] += (perf_counter_ns() - start) * weight
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        if span is not None:
            _end_span(span)


@guarded
def _end_span(span: Any) -> None:
    span.end()


PUSH_FRAME_PARAMETERS = ("self", "frame", "direction")


def push_frame_hook(original: Any) -> Any:
    """Replaces ``push_frame`` of the service base classes: what a service pushes ends or feeds its request.

    A plain function returning Pipecat's coroutine: the push itself is not delayed or re-wrapped.
    Most pushes are the audio every service passes along; one dict lookup lets them through.
    """
    current = CURRENT.get
    kinds = fk.KINDS
    downstream = inspect.signature(original).parameters["direction"].default

    def push_frame(self: Any, frame: Any, direction: Any = downstream) -> Any:
        try:
            kind = kinds[frame.__class__]
        except KeyError:  # a frame class's first push
            kind = fk.kind_of(frame.__class__)
        if kind in PUSHED:
            run = current()
            if run is not None:
                state = state_of(self)
                if state and state.run is run:
                    if state.service is not None and kind in state.service.pushes:
                        _service_pushed(state.service, run, kind, frame)
                else:  # a push before the service's first frame in this run
                    _first_pushed(self, run, kind, frame)
        return original(self, frame, direction)

    return push_frame


def service_of(instance: Any, run: Run) -> ServiceState | None:
    state = element_state(instance, run)
    return state.service if state else None


@guarded
def _service_pushed(service: ServiceState, run: Run, kind: int, frame: Any) -> None:
    service.pushed(kind, frame)
    if kind == fk.FUNCTION_CALL:
        run.session.tool_called()


@guarded
def _first_pushed(instance: Any, run: Run, kind: int, frame: Any) -> None:
    service = service_of(instance, run)
    if service is not None and kind in service.pushes:
        _service_pushed(service, run, kind, frame)


def usage_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``FrameProcessor.start_llm_usage_metrics``: every LLM provider reports its token counts through it."""
    run = CURRENT.get()
    if run is not None:
        tokens = args[0] if args else kwargs.get("tokens")
        _record_usage(instance, run, tokens)
    return wrapped(*args, **kwargs)


@guarded
def _record_usage(instance: Any, run: Run, tokens: Any) -> None:
    service = service_of(instance, run)
    if service is not None and service.operation == attrs.OPERATION_CHAT:
        service.usage(tokens)


def run_hook(framework_version: str):
    """Wraps ``PipelineWorker.run`` / ``PipelineTask.run``: one ``pipeline.run`` span per run."""

    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if not is_instrumentation_enabled():
            return await wrapped(*args, **kwargs)
        run = _start_run(instance, framework_version)
        if run is None:
            return await wrapped(*args, **kwargs)
        run_token = CURRENT.set(run)
        session_token = set_current_session(run.session)
        context_token = otel_context.attach(trace.set_span_in_context(run.session.span))
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            guarded(run.session.end)(error)
            raise
        finally:
            otel_context.detach(context_token)
            reset_current_session(session_token)
            CURRENT.reset(run_token)
            guarded(run.release)()
        guarded(run.session.end)()
        return result

    return wrapper


@guarded
def _start_run(worker: Any, framework_version: str) -> Run:
    name = getattr(worker, "name", None) or type(worker).__name__
    return Run(
        Session(
            name,
            getattr(worker, "_conversation_id", None),
            framework="pipecat",
            framework_version=framework_version,
            metric_name=stable_name(name),
        )
    )
