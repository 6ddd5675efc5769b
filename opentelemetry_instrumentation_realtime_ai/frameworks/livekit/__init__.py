"""LiveKit Agents: where its classes are hooked. Everything LiveKit-specific lives in this package.

Hooks (base classes, so providers' subclasses are covered):
- ``AgentSession.start`` / ``_aclose_impl``: the session; ``_update_user_state`` /
  ``_update_agent_state``: who speaks, hence the turns;
- ``_metrics_monitor_task`` of ``LLMStream``, ``RecognizeStream``, ``ChunkedStream`` and
  ``SynthesizeStream``: the requests, read off the events LiveKit's metrics read; their
  ``_main_task``: the errors; ``RecognizeStream.push_frame``: the audio an STT heard;
- ``_ToolExecutor.execute`` and the function tools' ``__call__`` (1.8), ``_set_activity_task_info``
  and ``make_tool_output`` (1.2): ``execute_tool`` spans;
- ``RealtimeSession.emit``: speech-to-speech responses;
- ``rtc.Room.connect`` / ``emit``: the room connection;
- LiveKit's GenAI attribute setters (1.8+): see ``native``;
- ``AgentActivity.push_audio`` and the base ``AudioOutput``'s ``capture_frame``, ``pause`` and
  ``resume``: the caller's audio as it arrives, the agent's as its output takes it (see ``audio``).
A hook this LiveKit version lacks is skipped with one warning: fewer spans, never an error.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ... import telemetry
from ..hooks import Hooks
from . import audio, native, realtime, requests, room, session, tools

_log = logging.getLogger(__name__)
_hooks = Hooks()


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def _class(module: str, name: str) -> type | None:
    """The class, or None when this LiveKit version lacks it."""
    return getattr(_module(module), name, None)


def framework_version() -> str:
    try:
        return version("livekit-agents")
    except PackageNotFoundError:
        return "unknown"


def instrument() -> None:
    lk_version = framework_version()
    agent_session = _class("livekit.agents.voice.agent_session", "AgentSession")
    _hooks.wrap(agent_session, "start", session.start_hook(lk_version), "AgentSession.start")
    _hooks.wrap(agent_session, "_aclose_impl", session.close_hook, "AgentSession._aclose_impl")
    _hooks.wrap(
        agent_session, "_update_user_state", session.user_state_hook, "AgentSession._update_user_state"
    )
    _hooks.wrap(
        agent_session, "_update_agent_state", session.agent_state_hook, "AgentSession._update_agent_state"
    )
    session.activity_var = getattr(
        _module("livekit.agents.voice.agent_activity"), "_AgentActivityContextVar", None
    )
    if session.activity_var is None:
        _hooks.missing.append("agent_activity._AgentActivityContextVar")

    llm_stream = _class("livekit.agents.llm.llm", "LLMStream")
    _hooks.wrap(
        llm_stream, "_metrics_monitor_task", requests.llm_monitor_hook, "LLMStream._metrics_monitor_task"
    )
    recognize = _class("livekit.agents.stt.stt", "RecognizeStream")
    _hooks.wrap(
        recognize, "_metrics_monitor_task", requests.stt_monitor_hook, "RecognizeStream._metrics_monitor_task"
    )
    _hooks.wrap(recognize, "push_frame", requests.push_frame_hook, "RecognizeStream.push_frame")
    # LiveKit's VAD-driven adapter for non-streaming STTs overrides the monitor (to drain it)
    adapter = _class("livekit.agents.stt.stream_adapter", "StreamAdapterWrapper")
    _hooks.wrap(
        adapter,
        "_metrics_monitor_task",
        requests.stt_monitor_hook,
        "StreamAdapterWrapper._metrics_monitor_task",
    )
    chunked = _class("livekit.agents.tts.tts", "ChunkedStream")
    _hooks.wrap(
        chunked,
        "_metrics_monitor_task",
        requests.tts_monitor_hook("_synthesize_task"),
        "ChunkedStream._metrics_monitor_task",
    )
    synthesize = _class("livekit.agents.tts.tts", "SynthesizeStream")
    _hooks.wrap(
        synthesize,
        "_metrics_monitor_task",
        requests.tts_monitor_hook("_task"),
        "SynthesizeStream._metrics_monitor_task",
    )
    for cls, name in (
        (llm_stream, "LLMStream"),
        (chunked, "ChunkedStream"),
        (synthesize, "SynthesizeStream"),
    ):
        _hooks.wrap(cls, "_main_task", requests.main_task_hook, f"{name}._main_task")

    executor = _class("livekit.agents.voice.tool_executor", "_ToolExecutor")
    if executor is not None:  # 1.8
        _hooks.wrap(executor, "execute", tools.execute_hook, "_ToolExecutor.execute")
        function_tool = _class("livekit.agents.llm.tool_context", "_BaseFunctionTool")
        _hooks.wrap(function_tool, "__call__", tools.call_hook, "function tool __call__")
    else:  # 1.2
        agent = _module("livekit.agents.voice.agent")
        _hooks.wrap(agent, "_set_activity_task_info", tools.task_info_hook, "agent._set_activity_task_info")
        generation = _module("livekit.agents.voice.generation")
        _hooks.wrap(generation, "make_tool_output", tools.tool_output_hook, "generation.make_tool_output")

    realtime_session = _class("livekit.agents.llm.realtime", "RealtimeSession")
    _hooks.wrap(realtime_session, "emit", realtime.emit_hook, "RealtimeSession.emit")
    room_class = _class("livekit.rtc", "Room")
    _hooks.wrap(room_class, "connect", room.connect_hook, "rtc.Room.connect")
    _hooks.wrap(room_class, "emit", room.emit_hook, "rtc.Room.emit")

    gen_ai = _module("livekit.agents.telemetry.gen_ai")
    if gen_ai is not None and not telemetry.current().options.livekit_native_genai:
        native.hook(_hooks, gen_ai, _module("livekit.agents.telemetry.utils"))
    audio.instrument(_hooks, telemetry.current().recordings, _class)
    if _hooks.missing:
        _log.warning(
            "livekit-agents %s is not fully supported: no hook for %s; those spans will be missing",
            lk_version,
            ", ".join(_hooks.missing),
        )


def uninstrument() -> None:
    _hooks.unwrap_all()
    session.activity_var = None
