"""LLM, STT and TTS services: Pipecat's frames in and out of a service, as AI requests.

Pipecat has no common "call the model" method (each provider implements its own), but every
service speaks the same frame protocol, so requests are read off it. That covers Pipecat's
providers and a user's own subclass of ``LLMService`` / ``STTService`` / ``TTSService`` alike.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

from ... import attributes as attrs
from ...helpers.ai import AIRequest, ToolCall, record_tool_call
from ...helpers.session import Session
from . import frames as fk
from . import speech_to_speech

# Pipecat's module names (pipecat.services.<name>.llm) mapped to the GenAI provider names.
_GENAI_PROVIDERS = {"google": "gcp.gemini", "azure": "azure.ai.openai", "aws": "aws.bedrock", "grok": "x_ai"}

_LLM, _STT, _TTS = attrs.OPERATION_CHAT, attrs.OPERATION_SPEECH_TO_TEXT, attrs.OPERATION_TEXT_TO_SPEECH


def provider_of(service: Any) -> str:
    """``openai`` for ``pipecat.services.openai.llm.OpenAILLMService`` and its subclasses; else the class name."""
    for cls in type(service).__mro__:
        parts = cls.__module__.split(".")
        if len(parts) >= 4 and parts[:2] == ["pipecat", "services"]:
            return parts[2]
    return type(service).__name__


def _setting(service: Any, name: str, *fallbacks: str) -> str | None:
    settings = getattr(service, "_settings", None)
    value = getattr(settings, name, None) if settings is not None and not isinstance(settings, dict) else None
    if value is None and isinstance(settings, dict):
        value = settings.get(name)
    for fallback in fallbacks:
        if value is None:
            value = getattr(service, fallback, None)
    return value if isinstance(value, str) and value else None


# The frame kinds each kind of service acts on, received and pushed: the hot path checks these
# before calling in, so the audio flowing through every service costs a set lookup.
_RECEIVES = {
    _LLM: frozenset({fk.INTERRUPTION, fk.END, fk.LLM_REQUEST}),
    _STT: frozenset({fk.END, fk.AUDIO_IN, fk.USER_STARTED, fk.USER_STOPPED}),
    _TTS: frozenset({fk.INTERRUPTION, fk.END}),
}
_PUSHES = {
    _LLM: frozenset(
        {
            fk.ERROR,
            fk.LLM_RESPONSE_START,
            fk.LLM_TEXT,
            fk.FUNCTION_CALL,
            fk.FUNCTION_RESULT,
            fk.LLM_RESPONSE_END,
            fk.SERVICE_METADATA,
        }
    ),
    _STT: frozenset({fk.ERROR, fk.TRANSCRIPTION}),
    _TTS: frozenset({fk.ERROR, fk.TTS_STARTED, fk.TTS_AUDIO, fk.TTS_TEXT, fk.TTS_STOPPED}),
}
PUSHED = frozenset().union(*_PUSHES.values())
"""Every kind some service acts on when pushing it."""

_MAX_PENDING = 64
"""Texts a TTS sent before its audio context opened, kept for that context (bounded)."""

SYNTHESIZING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "otel_realtime_ai_tts_context", default=None
)
"""The audio context a TTS is synthesizing for, in the task running its ``run_tts``."""

RUNNING_TOOL: contextvars.ContextVar[ToolCall | None] = contextvars.ContextVar(
    "otel_realtime_ai_tool", default=None
)
"""The tool run of the calling task: Pipecat runs each handler in a task of its own and reports
its exception as an error pushed from that task."""


class _Unheard:
    """Where an STT's audio goes while no request is open: counted nowhere (reset at each request)."""

    __slots__ = ("audio_heard",)

    def __init__(self) -> None:
        self.audio_heard = 0


class ServiceState:
    """The request a service has open, if any, within one session."""

    def __init__(self, service: Any, operation: str, session: Session):
        self.service = service
        self.operation = operation
        self.receives = _RECEIVES[operation]
        self.pushes = _PUSHES[operation]
        self.session = session
        self.provider = provider_of(service)
        self.request: AIRequest | None = None
        self.user_stopped = False
        self.realtime: speech_to_speech.SpeechToSpeech | None = None
        """Set when the LLM service says it is speech-to-speech: it then has requests of its own kind."""
        self.pending_text: list[tuple[str | None, str]] = []
        """Texts a TTS sent for an audio context that has not opened yet."""
        self._unheard = _Unheard()
        self.listener: Any = self._unheard
        """What the audio reaching an STT or speech-to-speech service adds its size to
        (``audio_heard``): the frame hook does that itself for most chunks, without a call. None
        while a request's audio format is not known: the next chunk goes through ``heard``."""
        self._reset()

    def _reset(self) -> None:
        self.heard_at_stop: int | None = None
        """An STT's audio at the end of speech: what trails it is not the utterance's."""
        self.segment_size: int | None = None
        """The audio a segmented STT uploaded for the utterance."""
        self.finalizing = False
        """The STT asked its provider to finalize the utterance: the request waits for that result."""
        self.settle_at: float | None = None
        """When the request was complete unless more transcript comes (it ends then, back-dated)."""
        self.synthesized = False
        """A TTS reported the text it sent: that text, not the spoken word frames, is counted."""
        self.audio_context: str | None = None
        self.tool_call_ids: set[str] = set()

    # --- requests ---

    def start(self) -> AIRequest:
        self.finish(at=self.settle_at)
        service, provider = self.service, self.provider
        model = _setting(service, "model", "model_name", "_model_name")
        if self.operation == _LLM:
            request_attrs = attrs.llm_attributes(_GENAI_PROVIDERS.get(provider, provider), model)
            request_attrs[attrs.LLM_PROVIDER] = provider
        elif self.operation == _STT:
            request_attrs = attrs.stt_attributes(provider, model)
        else:
            voice = _setting(service, "voice", "_voice_id", "voice_id")
            request_attrs = attrs.tts_attributes(provider, voice, model)
        request_attrs[attrs.SESSION_ID] = self.session.session_id
        request_attrs[attrs.PIPELINE_ELEMENT] = getattr(service, "name", type(service).__name__)
        self.request = self.session.track(
            AIRequest(self.operation, request_attrs, parent=self.session.context())
        )
        self.user_stopped = False
        if self.realtime is None:
            self.listener = None
        self._reset()
        return self.request

    def _closed(self) -> None:
        """No request open: an STT's audio is heard by nobody until the next one."""
        self.request = None
        if self.realtime is None:
            self._unheard.audio_heard = 0
            self.listener = self._unheard

    def finish(self, **end: Any) -> None:
        request = self.request
        self._closed()
        if request is not None:
            if self.heard_at_stop is not None:
                request.audio_heard = (
                    self.segment_size if self.segment_size is not None else self.heard_at_stop
                )
            request.end(**end)

    # --- frames the service receives ---

    def received(self, kind: int, frame: Any) -> AIRequest | None:
        """Returns the request this frame started, so it can be made current while the frame is processed."""
        if self.realtime is not None:
            self.realtime.received(kind, frame)
        elif kind == fk.INTERRUPTION:
            if self.operation != _STT:
                self.finish(interrupted=True)
        elif kind == fk.END:
            self.finish(at=self.settle_at)
        elif self.operation == _LLM:
            if kind == fk.LLM_REQUEST:
                request = self.start()
                if request.captures_content:  # skip reading the context otherwise
                    request.capture_input(_messages(frame))
                return request
        elif self.operation == _STT:
            self._stt_received(kind, frame)
        return None

    def heard(self, frame: Any) -> None:
        """An STT's microphone audio, for the chunks the frame hook does not add up itself: the
        first of a request (its audio format) and one in ``AUDIO_TIMING_EVERY``."""
        request = self.request
        if request is not None:
            try:
                request.audio_heard += len(frame.audio)
                if self.listener is None:  # the request's first chunk: its audio format, once
                    self.listener = request
                    request.set_attributes(
                        {attrs.AUDIO_SAMPLE_RATE: frame.sample_rate, attrs.AUDIO_CHANNELS: frame.num_channels}
                    )
            except Exception:  # telemetry must never break the app
                pass

    def _stt_received(self, kind: int, frame: Any) -> None:
        request = self.request
        if kind == fk.AUDIO_IN:
            self.heard(frame)
        elif kind == fk.USER_STARTED:
            if request is None or self.user_stopped:
                self.start()
        elif kind == fk.USER_STOPPED and request is not None and not self.user_stopped:
            self.user_stopped = True
            self.heard_at_stop = request.audio_heard
            request.sent()
            if request.text_length:  # complete, unless the service now asks its provider to finalize
                self.settle_at = time.perf_counter()

    # --- provider calls no frame shows (see calls.py) ---

    def segment_sent(self, size: int) -> None:
        """A segmented STT uploads the utterance's audio: the request's audio is that segment."""
        if self.request is not None:
            self.segment_size = size

    def finalize_requested(self) -> None:
        """A streaming STT asked its provider for the rest of the utterance's transcript."""
        if self.request is not None and self.user_stopped:
            self.finalizing = True
            self.settle_at = None

    def finalize_confirmed(self) -> None:
        """The provider answered the finalize: its first result after the end of speech."""
        request = self.request
        if request is not None and self.finalizing:
            request.first_chunk()
            self.settle_at = time.perf_counter()  # its transcript, if any, is pushed next

    def synthesized_text(self, text: str, audio_context: str | None) -> None:
        """The text a TTS sends its provider for an audio context: what it synthesizes, spaces included."""
        request = self.request
        if request is not None and (audio_context is None or audio_context == self.audio_context):
            if not self.synthesized:
                self.synthesized = True
                request.text_length = 0  # word frames counted so far give way to the text sent
            request.add_text(text)
        elif len(self.pending_text) < _MAX_PENDING:  # sent before its audio context opened
            self.pending_text.append((audio_context, text))

    def synthesis_started(self, audio_context: str | None) -> None:
        """A TTS starts synthesizing for an audio context: its request starts now, not when the
        context's first frame comes out (later, for services that queue their output)."""
        if self.request is None or (audio_context is not None and audio_context != self.audio_context):
            self._tts_started(audio_context)

    def _same_context(self, frame: Any) -> bool:
        """The frame is for the open request's audio context (or either is unknown)."""
        context = getattr(frame, "context_id", None)
        return context is None or self.audio_context is None or context == self.audio_context

    def _tts_started(self, context: str | None) -> None:
        self.start()
        self.audio_context = context
        pending, self.pending_text = self.pending_text, []
        for audio_context, text in pending:
            if audio_context is None or audio_context == context:
                self.synthesized_text(text, audio_context)

    def calls_returned(self, function_calls: Any) -> None:
        """The inference returned tool calls (Pipecat pushes them only after its response ended)."""
        request = self.request
        if request is None:
            return
        request.first_chunk()
        for call in function_calls:
            self._record_call(request, call)

    def _record_call(self, request: AIRequest, call: Any) -> None:
        call_id = getattr(call, "tool_call_id", None)
        if call_id is not None:
            if call_id in self.tool_call_ids:
                return
            self.tool_call_ids.add(call_id)
        record_tool_call(
            request,
            str(call.function_name),
            None if call_id is None else str(call_id),
            arguments=getattr(call, "arguments", None),
        )

    def tool_started(self, runner_item: Any) -> ToolCall:
        """A handler starts running: its span, under the turn it serves."""
        return ToolCall(
            str(runner_item.function_name),
            getattr(runner_item, "tool_call_id", None),
            arguments=getattr(runner_item, "arguments", None),
            parent=self.session.context(),
        )

    # --- frames the service pushes ---

    def pushed(self, kind: int, frame: Any) -> None:
        request = self.request
        if kind == fk.ERROR:
            if getattr(frame, "processor", None) not in (None, self.service):
                return  # another element's error passing through on its way upstream
            error = getattr(frame, "exception", None)
            failure = error if isinstance(error, BaseException) else str(getattr(frame, "error", "error"))
            tool = RUNNING_TOOL.get()
            if tool is not None and self.operation == _LLM:
                tool.fail(failure)  # the handler raised: its run failed, not an inference
                return
            if request is None or request.completed:
                # A failure outside any request (connecting, say) is a failed request of its own.
                self.start().fail(failure)
                self.finish()
            else:
                request.fail(failure)
        elif self.operation == _LLM:
            if self.realtime is not None and self.realtime.pushed(kind, frame):
                return
            if kind == fk.SERVICE_METADATA:
                if getattr(frame, "is_realtime_service", False) is True and self.realtime is None:
                    self.realtime = speech_to_speech.SpeechToSpeech(self)
                    self.listener = self.realtime  # its audio adds up there, not on a request
                    self.receives = self.receives | speech_to_speech.RECEIVES
                    self.pushes = self.pushes | speech_to_speech.PUSHES
            elif kind == fk.LLM_RESPONSE_START and request is None:
                self.start()
            elif kind == fk.LLM_TEXT and request is not None:
                request.chunk(text=frame.text)
            elif kind == fk.FUNCTION_CALL and request is not None:  # a service calling tools its own way
                request.first_chunk()
                self._record_call(request, frame)
            elif kind == fk.FUNCTION_RESULT:
                tool = RUNNING_TOOL.get()
                if tool is not None:
                    tool.result(getattr(frame, "result", None))
            elif kind == fk.LLM_RESPONSE_END:
                self.finish()
        elif self.operation == _TTS:
            if kind == fk.TTS_STARTED:
                context = getattr(frame, "context_id", None)
                if request is None or context is None or context != self.audio_context:
                    self._tts_started(context)  # unless its synthesis already started the request
            elif kind == fk.TTS_AUDIO and request is not None:
                if request.time_to_first_chunk is None:
                    request.set_attributes(
                        {attrs.AUDIO_SAMPLE_RATE: frame.sample_rate, attrs.AUDIO_CHANNELS: frame.num_channels}
                    )
                request.chunk(len(frame.audio))
            elif kind == fk.TTS_TEXT and request is not None and not self.synthesized:
                _add_part(request, frame)
            elif kind == fk.TTS_STOPPED and self._same_context(frame):  # not a late stop of an earlier one
                self.finish()
        elif kind == fk.TRANSCRIPTION and request is not None:
            if self.user_stopped:  # the transcript of a finished utterance: its latency is the STT's
                request.first_chunk()
                _add_part(request, frame)
                if not self.finalizing or self.settle_at is not None or getattr(frame, "finalized", False):
                    self.settle_at = None
                    self.finish()
            else:  # a final result before the end of speech: the utterance goes on
                _add_part(request, frame)

    def usage(self, tokens: Any) -> None:
        request = self.request
        if request is not None:
            request.set_usage(
                getattr(tokens, "prompt_tokens", None),
                getattr(tokens, "completion_tokens", None),
                cache_read_input_tokens=getattr(tokens, "cache_read_input_tokens", None),
                audio_input_tokens=getattr(tokens, "input_audio_tokens", None),
                audio_output_tokens=getattr(tokens, "output_audio_tokens", None),
            )
            if request.ended:  # usage that came after the response closed its span
                self._closed()


def _add_part(request: AIRequest, frame: Any) -> None:
    """Count a transcript or word as Pipecat's aggregators join them: with a space between parts
    that do not carry their own."""
    text = frame.text
    if not text:
        return
    if request.text_length and not getattr(frame, "includes_inter_frame_spaces", False):
        request.text_length += 1
    request.add_text(text)


def _messages(frame: Any) -> Any:
    context = getattr(frame, "context", None)
    if context is None:
        return getattr(frame, "messages", None)
    get_messages = getattr(context, "get_messages", None)
    return get_messages() if callable(get_messages) else getattr(context, "messages", None)
