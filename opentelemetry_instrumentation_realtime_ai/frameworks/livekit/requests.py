"""LLM, STT and TTS requests, read off the event stream LiveKit's own metrics task consumes.

Every LiveKit stream (``LLMStream``, ``RecognizeStream``, ``ChunkedStream``,
``SynthesizeStream``) tees its events and hands one copy to ``_metrics_monitor_task``; the
hook passes that copy through an observer, so providers' own subclasses are covered without
hooking each one, and what the app reads is untouched. ``_main_task`` (the request with its
retries) is hooked only to see the error the app will get.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from ... import attributes as attrs
from ...helpers.ai import AIRequest
from ..hooks import guarded
from . import session as sessions

_STATE = "_otel_realtime_ai"
_LLM, _STT, _TTS = attrs.OPERATION_CHAT, attrs.OPERATION_SPEECH_TO_TEXT, attrs.OPERATION_TEXT_TO_SPEECH
# Adapters delegate to streams of the services they wrap, which are the real requests (but STT's
# stream adapter is the only stream of a non-streaming STT: its utterances are the requests).
_DELEGATING = ("fallback_adapter", "stream_adapter", "multi_speaker_adapter")


def _word(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != "unknown" else None


def provider_of(service: Any) -> str:
    """``openai`` for ``livekit.plugins.openai.LLM`` and its subclasses; else LiveKit's name or the class."""
    for cls in type(service).__mro__:
        parts = cls.__module__.split(".")
        if len(parts) >= 3 and parts[:2] == ["livekit", "plugins"]:
            return parts[2]
    provider = _word(getattr(service, "provider", None))
    return provider if provider and ":" not in provider else type(service).__name__


def _model(service: Any) -> str | None:
    try:
        return _word(getattr(service, "model", None))
    except Exception:
        return None


class Stream:
    """Our state on one LiveKit stream: its session, and its request (an utterance for STT)."""

    __slots__ = (
        "channels",
        "heard",
        "owner",
        "queued",
        "request",
        "run",
        "service",
        "session",
        "speech_ended",
        "speech_started",
        "utterance_from",
        "waiting",
    )

    def __init__(self, run: sessions.Run | None, owner: Any, service: Any):
        self.run = run
        self.session = run.session if run is not None else None
        self.owner = owner
        """The LiveKit stream."""
        self.service = service
        self.request: AIRequest | None = None
        self.heard = 0
        self.channels = 0
        """Bytes of audio pushed into an STT stream so far."""
        self.speech_started = False
        self.speech_ended = False
        self.waiting = False
        """An utterance began before the session saw the user speak: opened when it does."""
        self.queued = False
        self.utterance_from = 0

    def open(self, operation: str, extra: dict[str, Any] | None = None) -> AIRequest:
        # LiveKit's adapter for a non-streaming STT names the STT it wraps (once made)
        service = getattr(self.owner, "_wrapped_stt", None) or self.service
        provider, model = provider_of(service), _model(service)
        if operation == _LLM:
            request_attrs = attrs.llm_attributes(provider, model)
        elif operation == _STT:
            request_attrs = attrs.stt_attributes(provider, model)
        else:
            voice = _word(getattr(getattr(service, "_opts", None), "voice", None))
            request_attrs = attrs.tts_attributes(provider, voice, model)
            request_attrs.update(
                attrs.audio_attributes(
                    sample_rate=getattr(service, "sample_rate", None),
                    channels=getattr(service, "num_channels", None),
                )
            )
        request_attrs.update(extra or {})
        session = self.session
        if session is None:  # used by the app outside any session: a span in the current context
            self.request = AIRequest(operation, request_attrs)
        else:
            request_attrs[attrs.SESSION_ID] = session.session_id
            self.request = session.track(AIRequest(operation, request_attrs, parent=session.context()))
        return self.request


def _stream(instance: Any, service_attr: str) -> Stream | None:
    """A new state for a stream that makes requests (not an adapter's that delegates), else None."""
    module = type(instance).__module__
    if any(part in module for part in _DELEGATING) and module != "livekit.agents.stt.stream_adapter":
        return None
    if not is_instrumentation_enabled():
        return None
    service = getattr(instance, service_attr, None)
    state = instance.__dict__[_STATE] = Stream(sessions.current(), instance, service)
    return state


# --- LLM ---


async def _observe_llm(events: AsyncIterable[Any], instance: Any, request: AIRequest) -> AsyncIterator[Any]:
    finished = called_tools = False
    try:
        async for event in events:
            called_tools = bool(_llm_chunk(request, event)) or called_tools
            yield event
        finished = True
    finally:
        guarded(_end)(instance, "_task", request, finished, "tool_calls" if called_tools else "stop")


@guarded
def _llm_chunk(request: AIRequest, chunk: Any) -> bool:
    """Report one chunk; True when it calls tools."""
    delta = chunk.delta
    calls = delta.tool_calls if delta is not None else None
    if delta is not None and delta.content:
        request.chunk(text=delta.content)
    if calls:
        request.first_chunk()
        request.span.add_event(attrs.EVENT_TOOL_CALL, {attrs.GEN_AI_TOOL_NAME: [c.name for c in calls]})
    usage = chunk.usage
    if usage is not None:
        request.set_usage(usage.prompt_tokens, usage.completion_tokens)
    return bool(calls)


def _end(
    instance: Any, task_attr: str, request: AIRequest, finished: bool, reason: str | None = None
) -> None:
    task = getattr(instance, task_attr, None)
    cancelled = task is not None and task.done() and task.cancelled()
    complete = finished and not cancelled
    reasons = [reason] if reason and complete else None
    request.end(interrupted=not complete, finish_reasons=reasons)


def llm_monitor_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``LLMStream._metrics_monitor_task(event_aiter)``: called once, as the stream is made."""
    request = _open(instance, "_llm", _LLM)
    if request is not None and args:
        if request.captures_content:
            guarded(request.capture_input)(_messages(instance))
        args = (_observe_llm(args[0], instance, request), *args[1:])
    return wrapped(*args, **kwargs)


@guarded
def _open(instance: Any, service_attr: str, operation: str) -> AIRequest | None:
    state = _stream(instance, service_attr)
    return state.open(operation) if state is not None else None


def _messages(instance: Any) -> Any:
    chat_ctx = getattr(instance, "_chat_ctx", None)
    to_dict = getattr(chat_ctx, "to_dict", None)
    return to_dict() if callable(to_dict) else None


async def main_task_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``_main_task`` of the streams: the error the app gets ends the request (no retry follows)."""
    try:
        return await wrapped(*args, **kwargs)
    except Exception as error:
        _fail(instance, error)
        raise


@guarded
def _fail(instance: Any, error: BaseException) -> None:
    state = instance.__dict__.get(_STATE)
    if isinstance(state, Stream) and state.request is not None:
        state.request.end(error=error)


# --- TTS ---


async def _observe_tts(
    events: AsyncIterable[Any], instance: Any, request: AIRequest, task_attr: str
) -> AsyncIterator[Any]:
    finished = False
    try:
        async for event in events:
            _tts_chunk(request, event)
            yield event
        finished = True
    finally:
        guarded(_end_tts)(instance, task_attr, request, finished)


@guarded
def _tts_chunk(request: AIRequest, event: Any) -> None:
    frame = event.frame
    request.chunk(frame.samples_per_channel * frame.num_channels * 2)


def _end_tts(instance: Any, task_attr: str, request: AIRequest, finished: bool) -> None:
    text = getattr(instance, "_input_text", None) or getattr(instance, "_pushed_text", None)
    if isinstance(text, str) and text:
        request.add_text(text)
    _end(instance, task_attr, request, finished)


def tts_monitor_hook(task_attr: str):
    """Wraps ``_metrics_monitor_task`` of ``ChunkedStream`` (made with the stream, all text known)
    and ``SynthesizeStream`` (made on the first text pushed): one request per stream."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        request = _open(instance, "_tts", _TTS)
        if request is not None and args:
            args = (_observe_tts(args[0], instance, request, task_attr), *args[1:])
        return wrapped(*args, **kwargs)

    return wrapper


# --- STT: one request per utterance of the long-lived recognition stream ---


def stt_monitor_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``RecognizeStream._metrics_monitor_task(event_aiter)``."""
    state = guarded(_stream)(instance, "_stt")
    if state is not None and args:
        args = (_observe_stt(args[0], state), *args[1:])
    return wrapped(*args, **kwargs)


async def _observe_stt(events: AsyncIterable[Any], state: Stream) -> AsyncIterator[Any]:
    try:
        async for event in events:
            _stt_event(state, event)
            yield event
    finally:
        guarded(_stt_close)(state)


def push_frame_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``RecognizeStream.push_frame``: the audio an STT stream heard, one addition a frame."""
    state = instance.__dict__.get(_STATE)
    if state is not None and args:
        _heard(state, args[0])
    return wrapped(*args, **kwargs)


@guarded
def _heard(state: Stream, frame: Any) -> None:
    state.heard += frame.samples_per_channel * frame.num_channels * 2
    state.channels = state.channels or frame.num_channels


@guarded
def _stt_event(state: Stream, event: Any) -> None:
    kind = getattr(event.type, "value", event.type)
    if kind == "start_of_speech":
        _stt_close(state)
        state.speech_started, state.speech_ended = True, False
        state.utterance_from = state.heard
        run = state.run
        if run is not None and not run.session.user_speaking:
            # this stream's VAD heard it first: open it in the turn the session is about to start
            state.waiting = True
            if not state.queued:
                state.queued = True
                run.on_user_speaking.append(guarded(lambda: _stt_open_waiting(state)))
        else:
            _stt_open(state)
        return
    request = _stt_open_waiting(state) if state.waiting else state.request
    if kind in ("interim_transcript", "preflight_transcript", "final_transcript"):
        if request is None:
            state.utterance_from = state.heard
            request = _stt_open(state)
        if kind == "final_transcript":
            text = event.alternatives[0].text if event.alternatives else ""
            if state.speech_ended:
                request.first_chunk()  # the final transcript after the end of speech
            request.add_text(text)
            if state.speech_ended or not state.speech_started:
                _stt_close(state)
    elif kind == "end_of_speech" and request is not None:
        state.speech_ended = True
        if request.text_length:
            _stt_close(state)  # the transcript came first
        else:
            request.sent()  # the time to the final transcript counts from the end of speech


def _stt_open_waiting(state: Stream) -> AIRequest | None:
    state.queued = False
    if not state.waiting:
        return state.request
    state.waiting = False
    return _stt_open(state)


def _stt_open(state: Stream) -> AIRequest:
    sample_rate = getattr(state.owner, "_pushed_sr", None)
    audio = attrs.audio_attributes(sample_rate=sample_rate or None, channels=state.channels or None)
    request = state.open(_STT, audio)
    request.audio_heard = -state.utterance_from  # bytes pushed since the utterance began
    return request


def _stt_close(state: Stream) -> None:
    state.waiting = False
    request, state.request = state.request, None
    if request is not None:
        request.audio_heard += state.heard
        request.end()
