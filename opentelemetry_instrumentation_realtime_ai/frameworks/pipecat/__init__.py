"""Pipecat: where its classes are hooked. Everything Pipecat-specific lives in this package.

Hooks (see ../shared/reference/pipecat-hooks.md for why these; the two per-frame ones are plain
functions rather than wrapt wrappers, for speed):
- ``PipelineWorker.run`` (1.3+) or ``PipelineTask.run``: the session;
- ``FrameProcessor.__process_frame``: the one dispatcher of every element's frames (not for
  Pipecat's pipeline sources and sinks, which only forward them);
- ``push_frame`` on ``LLMService``, ``STTService``, ``TTSService``;
- ``FrameProcessor.start_llm_usage_metrics``, where it is defined (only LLM services call it);
- ``VADAnalyzer.set_sample_rate`` / ``_run_analyzer`` and ``BaseOutputTransport.MediaSender.
  _bot_started_speaking``: when speech really started and ended, and when the bot's audio went out;
- ``BaseInputTransport.push_audio_frame``: when each chunk of the caller's audio arrived;
- ``SmallWebRTCConnection`` and the WebSocket transports' event handlers;
- with recording on only, the transports' audio in and out (see recording.py).
A hook this Pipecat version lacks is skipped with one warning: fewer spans, never an error.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

import wrapt

from ... import attributes as attrs
from ... import telemetry
from ..hooks import Hooks, guarded
from . import audio, calls, input_audio, pipeline, transports

_log = logging.getLogger(__name__)
_hooks = Hooks()
_DISPATCHER = "_FrameProcessor__process_frame"
# Pipecat's own plumbing inside a pipeline: they only forward frames (a fifth of all frame hops),
# and their names in the element metrics would only be noise. The frame hook lets them through.
_INTERNAL_ELEMENTS = (
    ("pipecat.pipeline.pipeline", "PipelineSource"),
    ("pipecat.pipeline.pipeline", "PipelineSink"),
    ("pipecat.pipeline.sync_parallel_pipeline", "SyncParallelPipelineSource"),
    ("pipecat.pipeline.sync_parallel_pipeline", "SyncParallelPipelineSink"),
)


def _class(module: str, name: str) -> type | None:
    """The class, or None when this Pipecat version lacks it."""
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
    global _version
    _version = pipecat_version = framework_version()

    worker = _class("pipecat.pipeline.worker", "PipelineWorker") or _class(
        "pipecat.pipeline.task", "PipelineTask"
    )
    _hooks.wrap(worker, "run", pipeline.run_hook(pipecat_version), "PipelineWorker.run")

    pipeline.set_pass_through(tuple(c for c in (_class(m, n) for m, n in _INTERNAL_ELEMENTS) if c))
    frame_processor = _class("pipecat.processors.frame_processor", "FrameProcessor")
    _hooks.patch(
        frame_processor,
        _DISPATCHER,
        pipeline.process_frame_hook,
        pipeline.PROCESS_FRAME_PARAMETERS,
        "FrameProcessor.__process_frame",
    )

    services: list[tuple[type, str]] = []
    for module, name, operation in (
        ("pipecat.services.llm_service", "LLMService", attrs.OPERATION_CHAT),
        ("pipecat.services.stt_service", "STTService", attrs.OPERATION_SPEECH_TO_TEXT),
        ("pipecat.services.tts_service", "TTSService", attrs.OPERATION_TEXT_TO_SPEECH),
    ):
        cls = _class(module, name)
        original = getattr(cls, "push_frame", None)
        _hooks.patch(
            cls, "push_frame", pipeline.push_frame_hook, pipeline.PUSH_FRAME_PARAMETERS, f"{name}.push_frame"
        )
        if cls is not None:
            services.append((cls, operation))
            _hook_captured_push_frames(cls, original)
    pipeline.set_service_bases(tuple(services))
    _hooks.wrap(
        frame_processor,
        "start_llm_usage_metrics",
        pipeline.usage_hook,
        "FrameProcessor.start_llm_usage_metrics",
    )

    vad = _class("pipecat.audio.vad.vad_analyzer", "VADAnalyzer")
    _hooks.wrap(
        vad, "set_sample_rate", audio.set_sample_rate_hook(pipeline.CURRENT), "VADAnalyzer.set_sample_rate"
    )
    states = _class("pipecat.audio.vad.vad_analyzer", "VADState")
    if states is not None:
        _hooks.patch(
            vad,
            "_run_analyzer",
            audio.run_analyzer_hook(states),
            audio.RUN_ANALYZER_PARAMETERS,
            "VADAnalyzer._run_analyzer",
        )
    output = _class("pipecat.transports.base_output", "BaseOutputTransport")
    _hooks.patch(
        getattr(output, "MediaSender", None),
        "_bot_started_speaking",
        audio.bot_started_hook(pipeline.CURRENT),
        audio.SENDER_PARAMETERS,
        "BaseOutputTransport.MediaSender._bot_started_speaking",
    )
    _hooks.patch(
        _class("pipecat.transports.base_input", "BaseInputTransport"),
        "push_audio_frame",
        input_audio.push_audio_frame_hook(pipeline.CURRENT),
        input_audio.PARAMETERS,
        "BaseInputTransport.push_audio_frame",
    )
    _hook_provider_calls()
    if options.recording_dir and telemetry.current().recordings is not None:
        from . import recording

        recording.instrument(_hooks, telemetry.current().recordings, _class)

    pipeline.register_element_metrics()
    pipeline.set_element_base(frame_processor)
    telemetry.current().loops.element_of = pipeline.element_in
    _report_missing()
    # Transports are hooked when the app imports them: importing them here would load aiortc, av,
    # fastapi... into every process, whether it uses them or not.
    global _active
    _active = True
    for module_name in _TRANSPORTS:
        if module_name in sys.modules:
            _on_import(sys.modules[module_name])
        elif module_name not in _registered:
            wrapt.register_post_import_hook(_on_import, module_name)
            _registered.add(module_name)


def _hook_captured_push_frames(base: type, original: object) -> None:
    """Pipecat's own STT tracing (1.x) gives a provider class a ``push_frame`` that calls the base
    class's as it was when the provider was imported: a provider imported before instrumenting
    would bypass the base hook, so that copy is hooked too (only it, so no frame is seen twice)."""
    found: list[type] = []
    stack: list[type] = list(base.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls not in found and getattr(cls.__dict__.get("push_frame"), "__wrapped__", None) is original:
            found.append(cls)
    for cls in found:
        _hooks.patch(cls, "push_frame", pipeline.push_frame_hook, pipeline.PUSH_FRAME_PARAMETERS)


def _hook_provider_calls() -> None:
    """What services do that no frame shows: segment uploads, finalize, TTS text, tool calls and runs."""
    stt = _class("pipecat.services.stt_service", "STTService")
    segmented = _class("pipecat.services.stt_service", "SegmentedSTTService")
    tts = _class("pipecat.services.tts_service", "TTSService")
    llm = _class("pipecat.services.llm_service", "LLMService")
    _hooks.wrap(segmented, "_handle_user_stopped_speaking", calls.segment_hook)
    _hooks.wrap(stt, "request_finalize", calls.finalize_request_hook)
    _hooks.wrap(stt, "confirm_finalize", calls.finalize_confirm_hook)
    _hooks.wrap(tts, "start_tts_usage_metrics", calls.tts_text_hook)
    _hooks.wrap(tts, "tts_process_generator", calls.tts_generator_hook)
    _hooks.wrap(llm, "run_function_calls", calls.function_calls_hook)
    _hooks.wrap(llm, "_run_function_call", calls.tool_run_hook)


def _report_missing() -> None:
    if len(_hooks.missing) > _reported[0]:
        _log.warning(
            "pipecat-ai %s is not fully supported: no hook for %s; those spans will be missing",
            _version,
            ", ".join(_hooks.missing[_reported[0] :]),
        )
        _reported[0] = len(_hooks.missing)


def _hook_webrtc(module: ModuleType) -> None:
    webrtc = getattr(module, "SmallWebRTCConnection", None)
    _hooks.wrap(webrtc, "__init__", transports.webrtc_init_hook, "SmallWebRTCConnection.__init__")
    _hooks.wrap(
        webrtc,
        "_call_event_handler",
        transports.webrtc_event_hook,
        "SmallWebRTCConnection._call_event_handler",
    )
    _hooks.wrap(
        webrtc, "send_app_message", transports.webrtc_send_hook, "SmallWebRTCConnection.send_app_message"
    )
    _hooks.wrap(webrtc, "_close", transports.webrtc_close_hook, "SmallWebRTCConnection._close")


def _hook_websockets(*names: str) -> Callable[[ModuleType], None]:
    def hook(module: ModuleType) -> None:
        hooked: list[type] = []
        for name in names:
            cls = getattr(module, name, None)
            if cls is not None and not issubclass(cls, tuple(hooked)):  # a subclass of a hooked one is hooked
                _hooks.wrap(cls, "_call_event_handler", transports.websocket_event_hook)
                hooked.append(cls)

    return hook


_TRANSPORTS: dict[str, Callable[[ModuleType], None]] = {
    "pipecat.transports.smallwebrtc.connection": _hook_webrtc,
    "pipecat.transports.websocket.fastapi": _hook_websockets("FastAPIWebsocketTransport"),
    "pipecat.transports.websocket.server": _hook_websockets(
        "SingleClientWebsocketServerTransport", "WebsocketServerTransport"
    ),
    "pipecat.transports.websocket.client": _hook_websockets("WebsocketClientTransport"),
}
_active = False
_version = "unknown"
_registered: set[str] = set()
_reported = [0]


def _on_import(module: ModuleType) -> None:
    if _active:
        guarded(_TRANSPORTS[module.__name__])(module)
        _report_missing()


def uninstrument() -> None:
    global _active
    _active = False
    _reported[0] = 0
    _hooks.unwrap_all()
    pipeline.set_service_bases(())
    pipeline.set_pass_through(())
    pipeline.set_element_base(None)
    pipeline.frame_span_ratio = 0.0
    pipeline.clear_element_metrics()
