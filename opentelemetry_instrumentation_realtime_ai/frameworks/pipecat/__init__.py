"""Pipecat: where its classes are hooked. Everything Pipecat-specific lives in this package.

Hooks (see ../shared/reference/pipecat-hooks.md for why these):
- ``PipelineWorker.run`` (1.3+) or ``PipelineTask.run``: the session;
- ``FrameProcessor.__process_frame``: the one dispatcher of every element's frames;
- ``push_frame`` and ``start_llm_usage_metrics`` on ``LLMService``, ``STTService``, ``TTSService``;
- ``SmallWebRTCConnection`` and the WebSocket transports' event handlers.
A hook this Pipecat version lacks is skipped with one warning: fewer spans, never an error.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from importlib.metadata import PackageNotFoundError, version

from ... import attributes as attrs
from ... import telemetry
from ..hooks import Hooks
from . import pipeline, transports

_log = logging.getLogger(__name__)
_hooks = Hooks()


def _class(module: str, name: str, requires: str | None = None) -> type | None:
    """The class, or None when this version lacks it or its optional extra is not installed.

    ``requires`` is checked first: Pipecat logs an error when a transport's extra is missing.
    """
    if requires is not None and importlib.util.find_spec(requires) is None:
        return None
    try:
        return getattr(importlib.import_module(module), name, None)
    except Exception:
        return None


def framework_version() -> str:
    try:
        return version("pipecat-ai")
    except PackageNotFoundError:
        return "unknown"


def instrument() -> None:
    options = telemetry.current().options
    pipeline.frame_span_ratio = options.frame_span_sampling_ratio if options.frame_spans else 0.0
    pipecat_version = framework_version()

    worker = _class("pipecat.pipeline.worker", "PipelineWorker") or _class(
        "pipecat.pipeline.task", "PipelineTask"
    )
    _hooks.wrap(worker, "run", pipeline.run_hook(pipecat_version), "PipelineWorker.run")

    processor = _class("pipecat.processors.frame_processor", "FrameProcessor")
    _hooks.wrap(processor, "_FrameProcessor__process_frame", pipeline.process_frame_hook)

    services: list[tuple[type, str]] = []
    for module, name, operation in (
        ("pipecat.services.llm_service", "LLMService", attrs.OPERATION_CHAT),
        ("pipecat.services.stt_service", "STTService", attrs.OPERATION_SPEECH_TO_TEXT),
        ("pipecat.services.tts_service", "TTSService", attrs.OPERATION_TEXT_TO_SPEECH),
    ):
        cls = _class(module, name)
        _hooks.wrap(cls, "push_frame", pipeline.push_frame_hook, f"{name}.push_frame")
        if cls is not None:
            services.append((cls, operation))
    pipeline.set_service_bases(tuple(services))
    llm = services[0][0] if services and services[0][1] == attrs.OPERATION_CHAT else None
    _hooks.wrap(llm, "start_llm_usage_metrics", pipeline.usage_hook, "LLMService.start_llm_usage_metrics")

    webrtc = _class("pipecat.transports.smallwebrtc.connection", "SmallWebRTCConnection", "aiortc")
    if webrtc is not None:
        _hooks.wrap(webrtc, "__init__", transports.webrtc_init_hook)
        _hooks.wrap(webrtc, "_call_event_handler", transports.webrtc_event_hook)
        _hooks.wrap(webrtc, "send_app_message", transports.webrtc_send_hook)
        _hooks.wrap(webrtc, "_close", transports.webrtc_close_hook)
    websockets: list[type] = []
    for module, name, requires in (
        ("pipecat.transports.websocket.fastapi", "FastAPIWebsocketTransport", "fastapi"),
        ("pipecat.transports.websocket.server", "SingleClientWebsocketServerTransport", "websockets"),
        ("pipecat.transports.websocket.server", "WebsocketServerTransport", "websockets"),
        ("pipecat.transports.websocket.client", "WebsocketClientTransport", "websockets"),
    ):
        cls = _class(module, name, requires)
        if cls is not None and not issubclass(cls, tuple(websockets)):  # a subclass of a hooked one is hooked
            _hooks.wrap(cls, "_call_event_handler", transports.websocket_event_hook)
            websockets.append(cls)

    pipeline.register_element_metrics()
    if _hooks.missing:
        _log.warning(
            "pipecat-ai %s is not fully supported: no hook for %s; those spans will be missing",
            pipecat_version,
            ", ".join(_hooks.missing),
        )


def uninstrument() -> None:
    _hooks.unwrap_all()
    pipeline.set_service_bases(())
    pipeline.frame_span_ratio = 0.0
    pipeline.clear_element_metrics()
