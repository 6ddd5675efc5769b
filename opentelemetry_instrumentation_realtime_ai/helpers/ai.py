"""LLM, STT and TTS requests (the seed's ai.go): one span per request, not a request and a response span.

An ``AIRequest`` is started when the request is sent; each response chunk is reported to it
(the first one fixes the time to first chunk); ``end()`` records the duration metrics.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from .. import attributes as attrs
from .. import telemetry
from ..spans import Parent, new_span, record_error

_MAX_CONTENT = 16_384
"""Captured content is cut to this many characters so a long session cannot grow a span without bound."""


class AIRequest:
    """One request to an AI provider, as one CLIENT span."""

    def __init__(
        self,
        operation: str,
        attributes: dict[str, AttributeValue],
        *,
        parent: Parent = None,
    ):
        self._telemetry = telemetry.current()
        self.operation = operation
        self.model = attributes.get(attrs.GEN_AI_REQUEST_MODEL)
        self.provider = attributes.get(attrs.GEN_AI_PROVIDER_NAME)
        self.span: Span = new_span(
            attrs.ai_span_name(operation, self.model),  # type: ignore[arg-type]
            attributes,
            kind=SpanKind.CLIENT,
            parent=parent,
        )
        self._start = self._sent = time.perf_counter()
        self.time_to_first_chunk: float | None = None
        self.response_size = 0
        self.audio_heard = 0
        """Bytes of audio sent to a speech-to-text request so far."""
        self.ended = False
        self._error: str | None = None
        self._text: list[str] = []
        self.text_length = 0
        self._usage: dict[str, int | None] = {}
        self._completed: tuple[float, int, dict[str, Any]] | None = None
        """(duration, end time in ns, end() arguments) of a response that is over while the span waits for usage."""

    def _metric_attributes(self) -> dict[str, AttributeValue]:
        metric_attrs: dict[str, AttributeValue] = {attrs.GEN_AI_OPERATION_NAME: self.operation}
        if self.provider:
            metric_attrs[attrs.GEN_AI_PROVIDER_NAME] = self.provider
        if self.model:
            metric_attrs[attrs.GEN_AI_REQUEST_MODEL] = self.model
        if self._error:
            metric_attrs[attrs.ERROR_TYPE] = self._error
        return metric_attrs

    @property
    def captures_content(self) -> bool:
        """Content capture is on: prompts, completions, transcripts and TTS text may be recorded."""
        return self._telemetry.options.capture_content

    @property
    def completed(self) -> bool:
        """The response is over (the span may still be open, waiting for the provider's usage report)."""
        return self.ended or self._completed is not None

    @property
    def started_at(self) -> float:
        """When the request started (``time.perf_counter()`` seconds)."""
        return self._start

    @property
    def first_chunk_at(self) -> float | None:
        """When its first chunk came (``time.perf_counter()`` seconds), if it has."""
        ttfc = self.time_to_first_chunk
        return None if ttfc is None else self._sent + ttfc

    def sent(self, at: float | None = None) -> None:
        """The request is complete (a streamed utterance ended): time to first chunk counts from now,
        or from ``at`` (a ``time.perf_counter()`` value) when the request was made implicitly earlier."""
        self._sent = time.perf_counter() if at is None else at

    def first_chunk(self, at: float | None = None) -> None:
        """Mark the first chunk of the response (now, or at the ``time.perf_counter()`` value ``at``)."""
        if self.time_to_first_chunk is None:
            self.time_to_first_chunk = (time.perf_counter() if at is None else at) - self._sent

    def chunk(self, size: int = 0, text: str | None = None) -> None:
        """A chunk of the response: bytes of audio or characters of text."""
        self.first_chunk()
        self.response_size += size
        if text:
            self.add_text(text)

    def add_text(self, text: str) -> None:
        """Count text of the request or response; keep it only when content capture is on."""
        self.text_length += len(text)
        if self.captures_content and self.text_length - len(text) < _MAX_CONTENT:
            self._text.append(text)

    def set_attributes(self, attributes: dict[str, AttributeValue]) -> None:
        if not self.ended:
            self.span.set_attributes(attributes)

    def set_usage(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        *,
        cache_read_input_tokens: int | None = None,
        audio_input_tokens: int | None = None,
        audio_output_tokens: int | None = None,
    ) -> None:
        """Token usage as the provider reported it; input and output are also recorded on the token
        usage metric at end (cached and audio tokens are parts of them, so only the span has those).

        Usage that comes after the response is over (see ``complete``) ends the span.
        """
        self._usage = {"input": input_tokens, "output": output_tokens}
        usage = {
            attrs.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
            attrs.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
            attrs.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cache_read_input_tokens,
            attrs.GEN_AI_USAGE_AUDIO_INPUT_TOKENS: audio_input_tokens,
            attrs.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: audio_output_tokens,
        }
        self.set_attributes({k: v for k, v in usage.items() if isinstance(v, int)})
        if self._completed is not None:
            self.end()

    def complete(self, **end: Any) -> None:
        """The response is over, but its usage may come later (Gemini Live reports it after the turn):
        the span keeps the response's end time and waits, until ``set_usage`` or ``end()`` closes it.
        With usage already in, it ends now. Takes ``end()``'s arguments."""
        if self.completed:
            return
        if self._usage:
            self.end(**end)
        else:
            self._completed = (time.perf_counter() - self._start, time.time_ns(), end)

    def capture_input(self, messages: Any) -> None:
        """Prompt messages, only when content capture is on."""
        if self.captures_content and not self.ended:
            self.span.set_attribute(attrs.GEN_AI_INPUT_MESSAGES, _to_json(messages))

    def fail(self, error: BaseException | str) -> None:
        """Record a failure; the span ends with status ERROR."""
        if self.ended:
            return
        if isinstance(error, BaseException):
            record_error(self.span, error)
            self._error = attrs.error_type(error)
        else:
            self._error = "ProviderError"
            self.span.set_attribute(attrs.ERROR_TYPE, self._error)
            self.span.set_status(Status(StatusCode.ERROR, error))

    def end(
        self,
        *,
        error: BaseException | None = None,
        interrupted: bool = False,
        finish_reasons: list[str] | None = None,
        at: float | None = None,
    ) -> None:
        """End the span once and record the duration, time to first chunk and token usage metrics.

        ``at`` (a ``time.perf_counter()`` reading) back-dates the end: a request found complete
        only later (no more transcript came after the end of speech) ends when it was complete.
        A ``complete``d response ends as it completed: its end time and arguments, not these.
        """
        if self.ended:
            return
        end_time = None
        if self._completed is not None:
            duration, end_time, completed = self._completed
            error = completed.get("error")
            interrupted = completed.get("interrupted", False)
            finish_reasons = completed.get("finish_reasons")
        else:
            now = time.perf_counter()
            at = now if at is None or at > now else at
            duration = at - self._start
            if at != now:
                end_time = time.time_ns() - int((now - at) * 1e9)
        if error is not None:
            self.fail(error)
        span = self.span
        if span.is_recording():
            final: dict[str, AttributeValue] = {}
            if self.time_to_first_chunk is not None:
                final[attrs.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.time_to_first_chunk
            if interrupted:
                final[attrs.INTERRUPTED] = True
            if finish_reasons:
                final[attrs.GEN_AI_RESPONSE_FINISH_REASONS] = finish_reasons
            final.update(self._size_attributes())
            if self._text:
                final.update(_content(self.operation, self._text))
            span.set_attributes(final)
        self.ended = True
        span.end(end_time=end_time)
        self._record_metrics(duration)

    def _size_attributes(self) -> dict[str, AttributeValue]:
        if self.operation == attrs.OPERATION_CHAT:
            return {attrs.LLM_RESPONSE_SIZE: self.text_length or self.response_size}
        if self.operation == attrs.OPERATION_SPEECH_TO_TEXT:
            heard = {attrs.AUDIO_DATA_SIZE: self.audio_heard} if self.audio_heard else {}
            return {attrs.STT_TEXT_LENGTH: self.text_length, **heard}
        spoken = {attrs.TTS_TEXT_LENGTH: self.text_length} if self.text_length else {}
        return {attrs.AUDIO_DATA_SIZE: self.response_size, **spoken}

    def _record_metrics(self, duration: float) -> None:
        instruments = self._telemetry.instruments
        metric_attrs = self._metric_attributes()
        exemplar = trace.set_span_in_context(self.span)  # an exemplar leads to this request's span
        instruments.operation_duration.record(duration, metric_attrs, context=exemplar)
        if self.time_to_first_chunk is not None:
            instruments.time_to_first_chunk.record(self.time_to_first_chunk, metric_attrs, context=exemplar)
        for token_type, tokens in self._usage.items():
            if tokens is not None:
                token_attrs = {**metric_attrs, attrs.GEN_AI_TOKEN_TYPE: token_type}
                instruments.token_usage.record(tokens, token_attrs, context=exemplar)

    def __enter__(self) -> AIRequest:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.end(error=exc)


def _to_json(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)
    return text[:_MAX_CONTENT]


def _content(operation: str, pieces: list[str]) -> dict[str, AttributeValue]:
    """Captured text under its key: the LLM's streamed completion, a transcript, or the text TTS spoke."""
    if operation == attrs.OPERATION_CHAT:
        text = "".join(pieces)[:_MAX_CONTENT]  # token deltas
        message = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
        return {attrs.GEN_AI_OUTPUT_MESSAGES: _to_json(message)}
    text = " ".join(piece.strip() for piece in pieces)[:_MAX_CONTENT]  # words or sentences
    key = attrs.GEN_AI_OUTPUT_TEXT if operation == attrs.OPERATION_SPEECH_TO_TEXT else attrs.GEN_AI_INPUT_TEXT
    return {key: text}


# --- the seed's functions, one per Go function ---


def instrument_llm_request(provider: str, model: str | None = None, *, parent: Parent = None) -> AIRequest:
    return AIRequest(attrs.OPERATION_CHAT, attrs.llm_attributes(provider, model), parent=parent)


def instrument_llm_response(request: AIRequest, response_type: str = "text", data_size: int = 0) -> None:
    """A chunk of the response; the first one sets the time to first chunk."""
    request.set_attributes({attrs.LLM_RESPONSE_TYPE: response_type})
    request.chunk(data_size)


def instrument_stt_request(
    provider: str,
    audio_size: int = 0,
    *,
    model: str | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
    parent: Parent = None,
) -> AIRequest:
    request_attrs = attrs.stt_attributes(provider, model)
    request_attrs.update(
        attrs.audio_attributes(sample_rate=sample_rate, channels=channels, data_size=audio_size)
    )
    return AIRequest(attrs.OPERATION_SPEECH_TO_TEXT, request_attrs, parent=parent)


def instrument_stt_response(request: AIRequest, text: str) -> None:
    """A transcript; its length is recorded, its text only when content capture is on."""
    request.chunk(text=text)


def instrument_tts_request(
    provider: str,
    voice: str | None = None,
    text: str | None = None,
    *,
    model: str | None = None,
    parent: Parent = None,
) -> AIRequest:
    request_attrs = attrs.tts_attributes(provider, voice, model)
    if text is not None:
        request_attrs[attrs.TTS_TEXT_LENGTH] = len(text)
    request = AIRequest(attrs.OPERATION_TEXT_TO_SPEECH, request_attrs, parent=parent)
    if text is not None and request.captures_content:
        request.span.set_attribute(attrs.GEN_AI_INPUT_TEXT, text[:_MAX_CONTENT])
    return request


def instrument_tts_response(request: AIRequest, audio_size: int, *, sample_rate: int | None = None) -> None:
    """A chunk of synthesized audio; the first one sets the time to first chunk."""
    if sample_rate and request.time_to_first_chunk is None:
        request.set_attributes({attrs.AUDIO_SAMPLE_RATE: sample_rate})
    request.chunk(audio_size)


def _media_processing(
    span_name: str, keys: tuple[str, str, str], operation: str, in_size: int, out_size: int, parent: Parent
) -> Span:
    op_key, in_key, out_key = keys
    return new_span(span_name, {op_key: operation, in_key: in_size, out_key: out_size}, parent=parent)


def instrument_audio_processing(
    operation: str, input_size: int, output_size: int, *, parent: Parent = None
) -> Span:
    """A span for one audio transformation (resample, encode, denoise); the caller ends it."""
    keys = (attrs.AUDIO_OPERATION, attrs.AUDIO_INPUT_SIZE, attrs.AUDIO_OUTPUT_SIZE)
    return _media_processing(attrs.SPAN_AUDIO_PROCESS, keys, operation, input_size, output_size, parent)


def instrument_video_processing(
    operation: str, input_size: int, output_size: int, *, parent: Parent = None
) -> Span:
    """A span for one video transformation (scale, encode); the caller ends it."""
    keys = (attrs.VIDEO_OPERATION, attrs.VIDEO_INPUT_SIZE, attrs.VIDEO_OUTPUT_SIZE)
    return _media_processing(attrs.SPAN_VIDEO_PROCESS, keys, operation, input_size, output_size, parent)


class ToolCall:
    """One run of a tool (function) handler, as one INTERNAL ``execute_tool {name}`` span.

    Arguments and result are recorded only with content capture on; a handler that raises marks
    the span ERROR with ``error.type``.
    """

    def __init__(
        self, name: str, call_id: str | None = None, *, arguments: Any = None, parent: Parent = None
    ):
        self._telemetry = telemetry.current()
        tool_attrs = attrs._clean(
            {
                attrs.GEN_AI_OPERATION_NAME: attrs.OPERATION_EXECUTE_TOOL,
                attrs.GEN_AI_TOOL_NAME: name,
                attrs.GEN_AI_TOOL_CALL_ID: call_id,
            }
        )
        if arguments is not None and self.captures_content:
            tool_attrs[attrs.GEN_AI_TOOL_CALL_ARGUMENTS] = _to_json(arguments)
        self.span: Span = new_span(attrs.tool_span_name(name), tool_attrs, parent=parent)
        self.ended = False

    @property
    def captures_content(self) -> bool:
        return self._telemetry.options.capture_content

    def result(self, value: Any) -> None:
        """What the handler returned, kept only when content capture is on."""
        if self.captures_content and not self.ended:
            self.span.set_attribute(attrs.GEN_AI_TOOL_CALL_RESULT, _to_json(value))

    def fail(self, error: BaseException | str) -> None:
        if self.ended:
            return
        if isinstance(error, BaseException):
            record_error(self.span, error)
        else:
            self.span.set_attribute(attrs.ERROR_TYPE, "ToolError")
            self.span.set_status(Status(StatusCode.ERROR, error))

    def end(self, *, error: BaseException | None = None, interrupted: bool = False) -> None:
        if self.ended:
            return
        if error is not None:
            self.fail(error)
        if interrupted:
            self.span.set_attribute(attrs.INTERRUPTED, True)
        self.ended = True
        self.span.end()

    def __enter__(self) -> ToolCall:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.end(error=exc)


def instrument_tool_call(
    name: str, call_id: str | None = None, *, arguments: Any = None, parent: Parent = None
) -> ToolCall:
    """Start the span of one tool run: ``with instrument_tool_call("get_weather", call_id) as call: ...``."""
    return ToolCall(name, call_id, arguments=arguments, parent=parent)


def record_tool_call(
    request: AIRequest, name: str, call_id: str | None = None, *, arguments: Any = None
) -> None:
    """The model returned a tool call: a ``gen_ai.tool.call`` event on the inference that produced it
    (its arguments only with content capture on)."""
    if request.ended:
        return
    event: dict[str, AttributeValue] = {attrs.GEN_AI_TOOL_NAME: name}
    if call_id is not None:
        event[attrs.GEN_AI_TOOL_CALL_ID] = call_id
    if arguments is not None and request.captures_content:
        event[attrs.GEN_AI_TOOL_CALL_ARGUMENTS] = _to_json(arguments)
    request.span.add_event(attrs.EVENT_TOOL_CALL, event)
