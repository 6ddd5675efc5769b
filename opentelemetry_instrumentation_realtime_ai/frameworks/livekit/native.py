"""LiveKit's own tracing beside ours: each AI request is counted once.

LiveKit Agents 1.8 traces itself (``agent_session``, ``agent_turn``, ``llm_request``, ...) and
marks its ``llm_request`` and ``realtime_inference`` spans as GenAI inference spans
(``gen_ai.operation.name`` and token usage), and its ``function_tool`` spans as ``execute_tool``.
Our ``chat`` and ``execute_tool`` spans describe the same requests and tool runs, so a GenAI
dashboard would count each one twice. While instrumented, LiveKit's spans are kept
(they nest under our ``pipeline.run``), but LiveKit records them the way it records a
delegating span: without the operation name and token usage. ``livekit_native_genai``
(``OTEL_INSTRUMENTATION_REALTIME_AI_LIVEKIT_NATIVE_GENAI=true``) leaves LiveKit's attributes
as they are. Versions before 1.8 set neither, so nothing is changed there.
"""

from __future__ import annotations

from typing import Any

from ..hooks import Hooks

# The operations our spans already carry (chat for text LLMs and speech-to-speech responses).
_OURS = frozenset({"chat", "generate_content"})


def _request_attributes(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if kwargs.get("operation") in _OURS:
        kwargs = {**kwargs, "operation": None}
    return wrapped(*args, **kwargs)


def _skip(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    return None  # our span carries these: the request's usage, the tool's name and call id


class _Uncounted:
    """A span as LiveKit's realtime metrics recorder sees it: the GenAI counts are not set on it."""

    def __init__(self, span: Any):
        self._span = span

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self._span.set_attributes({k: v for k, v in attributes.items() if not k.startswith(_COUNTED)})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)


_COUNTED = ("gen_ai.operation.name", "gen_ai.usage.")


def _realtime_metrics(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if args and getattr(args[0], "is_recording", lambda: False)():
        args = (_Uncounted(args[0]), *args[1:])
    return wrapped(*args, **kwargs)


def hook(hooks: Hooks, gen_ai: Any, utils: Any) -> None:
    """Hook LiveKit's GenAI attribute setters (``livekit.agents.telemetry.gen_ai``, the realtime
    metrics recorder of ``telemetry.utils``)."""
    if gen_ai is None:
        return
    hooks.wrap(utils, "record_realtime_metrics", _realtime_metrics, "telemetry.utils.record_realtime_metrics")
    hooks.wrap(gen_ai, "set_request_attributes", _request_attributes, "gen_ai.set_request_attributes")
    hooks.wrap(gen_ai, "set_usage_attributes", _skip, "gen_ai.set_usage_attributes")
    hooks.wrap(gen_ai, "set_tool_attributes", _skip, "gen_ai.set_tool_attributes")
