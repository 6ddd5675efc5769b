"""LLM, STT and TTS services: Pipecat's frames in and out of a service, as AI requests.

Pipecat has no common "call the model" method (each provider implements its own), but every
service speaks the same frame protocol, so requests are read off it. That covers Pipecat's
providers and a user's own subclass of ``LLMService`` / ``STTService`` / ``TTSService`` alike.
"""

from __future__ import annotations

from typing import Any

from ... import attributes as attrs
from ...helpers.ai import AIRequest
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
            fk.LLM_RESPONSE_END,
            fk.SERVICE_METADATA,
        }
    ),
    _STT: frozenset({fk.ERROR, fk.TRANSCRIPTION}),
    _TTS: frozenset({fk.ERROR, fk.TTS_STARTED, fk.TTS_AUDIO, fk.TTS_TEXT, fk.TTS_STOPPED}),
}
PUSHED = frozenset().union(*_PUSHES.values())
"""Every kind some service acts on when pushing it."""


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
        self.audio_format_known = False
        self.realtime: speech_to_speech.SpeechToSpeech | None = None
        """Set when the LLM service says it is speech-to-speech: it then has requests of its own kind."""

    # --- requests ---

    def start(self) -> AIRequest:
        self.finish()
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
        self.audio_format_known = False
        return self.request

    def finish(self, **end: Any) -> None:
        request, self.request = self.request, None
        if request is not None:
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
            self.finish()
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
        """An STT's microphone audio: called for every chunk, so it is kept to a few operations."""
        request = self.request
        if request is not None:
            try:
                request.audio_heard += len(frame.audio)
                if not self.audio_format_known:
                    self.audio_format_known = True
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
            request.sent()
            if request.text_length:  # the final transcript came before the end of speech
                self.finish()

    # --- frames the service pushes ---

    def pushed(self, kind: int, frame: Any) -> None:
        request = self.request
        if kind == fk.ERROR:
            if getattr(frame, "processor", None) not in (None, self.service):
                return  # another element's error passing through on its way upstream
            error = getattr(frame, "exception", None)
            failure = error if isinstance(error, BaseException) else str(getattr(frame, "error", "error"))
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
                    self.heard = self.realtime.heard  # type: ignore[method-assign]  # the audio path: an add
                    self.receives = self.receives | speech_to_speech.RECEIVES
                    self.pushes = self.pushes | speech_to_speech.PUSHES
            elif kind == fk.LLM_RESPONSE_START and request is None:
                self.start()
            elif kind == fk.LLM_TEXT and request is not None:
                request.chunk(text=frame.text)
            elif kind == fk.FUNCTION_CALL and request is not None:
                request.first_chunk()
                request.span.add_event(
                    attrs.EVENT_TOOL_CALL, {attrs.GEN_AI_TOOL_NAME: str(frame.function_name)}
                )
            elif kind == fk.LLM_RESPONSE_END:
                self.finish()
        elif self.operation == _TTS:
            if kind == fk.TTS_STARTED:
                self.start()
            elif kind == fk.TTS_AUDIO and request is not None:
                if request.time_to_first_chunk is None:
                    request.set_attributes(
                        {attrs.AUDIO_SAMPLE_RATE: frame.sample_rate, attrs.AUDIO_CHANNELS: frame.num_channels}
                    )
                request.chunk(len(frame.audio))
            elif kind == fk.TTS_TEXT and request is not None:
                request.add_text(frame.text)
            elif kind == fk.TTS_STOPPED:
                self.finish()
        elif kind == fk.TRANSCRIPTION and request is not None:
            if self.user_stopped:  # the transcript of a finished utterance: its latency is the STT's
                request.chunk(text=frame.text)
                self.finish()
            else:
                request.add_text(frame.text)

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
                self.request = None


def _messages(frame: Any) -> Any:
    context = getattr(frame, "context", None)
    if context is None:
        return getattr(frame, "messages", None)
    get_messages = getattr(context, "get_messages", None)
    return get_messages() if callable(get_messages) else getattr(context, "messages", None)
