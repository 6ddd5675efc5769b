"""Provider calls that no frame shows: what a segmented STT uploads, a streaming STT's finalize,
the text a TTS sends, the tool calls an inference returned and the runs of their handlers.

Each hook finds the service's state for the current run, hands the call to it and calls the
method unchanged; none is on the audio path (each runs once per utterance, sentence or call).
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..hooks import guarded
from .pipeline import CURRENT, service_of
from .services import RUNNING_TOOL, SYNTHESIZING, ServiceState


def _service(instance: Any) -> ServiceState | None:
    run = CURRENT.get()
    return service_of(instance, run) if run is not None else None


@guarded
def _segment(instance: Any) -> None:
    service = _service(instance)
    if service is None or not getattr(instance, "is_usable", True):
        return
    trailing = getattr(instance, "_trailing_silence", None)  # the padding 1.x appends
    size = len(instance._audio_buffer) + (len(trailing()) if callable(trailing) else 0)
    service.segment_sent(size)


def segment_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``SegmentedSTTService._handle_user_stopped_speaking``: the utterance's audio is what it uploads."""
    _segment(instance)
    return wrapped(*args, **kwargs)


def _on_service(method: str):
    @guarded
    def call(instance: Any, *args: Any) -> None:
        service = _service(instance)
        if service is not None:
            getattr(service, method)(*args)

    return call


_finalize_requested = _on_service("finalize_requested")
_finalize_confirmed = _on_service("finalize_confirmed")
_synthesized = _on_service("synthesized_text")
_calls_returned = _on_service("calls_returned")
_synthesis_started = _on_service("synthesis_started")


def finalize_request_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``STTService.request_finalize``: the provider is asked for the rest of the transcript."""
    _finalize_requested(instance)
    return wrapped(*args, **kwargs)


def finalize_confirm_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``STTService.confirm_finalize``: the provider answered."""
    _finalize_confirmed(instance)
    return wrapped(*args, **kwargs)


def tts_text_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``TTSService.start_tts_usage_metrics``: every provider reports the text it sent through it."""
    text = args[0] if args else kwargs.get("text")
    if isinstance(text, str) and text:
        _synthesized(instance, text, SYNTHESIZING.get())
    return wrapped(*args, **kwargs)


async def tts_generator_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``TTSService.tts_process_generator``: a synthesis starts, and which audio context the
    text it sends is for."""
    audio_context = args[0] if args else kwargs.get("context_id")
    _synthesis_started(instance, audio_context)
    token = SYNTHESIZING.set(audio_context)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        SYNTHESIZING.reset(token)


def function_calls_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``LLMService.run_function_calls``, called while the inference that returned them is open."""
    calls = args[0] if args else kwargs.get("function_calls")
    if calls:
        _calls_returned(instance, list(calls))
    return wrapped(*args, **kwargs)


@guarded
def _start_tool(instance: Any, runner_item: Any) -> Any:
    service = _service(instance)
    return service.tool_started(runner_item) if service is not None else None


async def tool_run_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``LLMService._run_function_call``: one ``execute_tool`` span for as long as the handler runs."""
    tool = _start_tool(instance, args[0] if args else kwargs.get("runner_item"))
    if tool is None:
        return await wrapped(*args, **kwargs)
    token = RUNNING_TOOL.set(tool)
    try:
        return await wrapped(*args, **kwargs)
    except asyncio.CancelledError:
        guarded(tool.end)(interrupted=True)
        raise
    except BaseException as error:
        guarded(tool.end)(error=error)
        raise
    finally:
        RUNNING_TOOL.reset(token)
        guarded(tool.end)()
