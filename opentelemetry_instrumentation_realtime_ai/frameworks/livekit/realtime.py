"""Speech-to-speech: one ``chat {model}`` span per response of a ``RealtimeModel`` session.

A realtime session announces each response with a ``generation_created`` event and reports
it, once done, with ``metrics_collected`` (the same ``response_id``, token counts, time to
first token, whether it was cancelled); both go through the session's ``emit``, which the
hook only looks at for those and ``error``. Providers override the session's methods but
not ``emit``, so every plugin's and your own subclass's responses are covered.
"""

from __future__ import annotations

from typing import Any

from ... import attributes as attrs
from ...helpers.ai import AIRequest
from ..hooks import guarded
from . import session as sessions
from .requests import provider_of

_STATE = "_otel_realtime_ai"
_WATCHED = ("generation_created", "metrics_collected", "error")
MAX_OPEN = 8
"""Responses a session may have open at once; older ones are ended (a provider that never reports)."""


def emit_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``RealtimeSession.emit``."""
    if args and args[0] in _WATCHED:
        _event(instance, args)
    return wrapped(*args, **kwargs)


@guarded
def _event(rt_session: Any, args: Any) -> None:
    event = args[0]
    payload: Any = args[1] if len(args) > 1 else None
    responses: dict[str, AIRequest] = rt_session.__dict__.setdefault(_STATE, {})
    if event == "generation_created":
        _open(rt_session, responses, getattr(payload, "response_id", None) or "")
    elif event == "metrics_collected" and type(payload).__name__ == "RealtimeModelMetrics":
        request = responses.pop(payload.request_id, None) or _oldest(responses)
        if request is not None:
            _report(request, payload)
    elif event == "error":
        request = _oldest(responses)
        error = getattr(payload, "error", None)
        if request is not None and isinstance(error, BaseException):
            request.end(error=error)


def _open(rt_session: Any, responses: dict[str, AIRequest], response_id: str) -> None:
    while len(responses) >= MAX_OPEN:
        _oldest(responses).end()  # type: ignore[union-attr]
    model = rt_session.realtime_model if hasattr(rt_session, "realtime_model") else None
    name = getattr(model, "model", None)
    request_attrs = attrs.llm_attributes(
        provider_of(model), name if isinstance(name, str) and name != "unknown" else None
    )
    run = sessions.current()
    if run is None:
        responses[response_id] = AIRequest(attrs.OPERATION_CHAT, request_attrs)
        return
    request_attrs[attrs.SESSION_ID] = run.session.session_id
    responses[response_id] = run.session.track(
        AIRequest(attrs.OPERATION_CHAT, request_attrs, parent=run.session.context())
    )


def _oldest(responses: dict[str, AIRequest]) -> AIRequest | None:
    return responses.pop(next(iter(responses))) if responses else None


def _report(request: AIRequest, metrics: Any) -> None:
    request.set_usage(metrics.input_tokens, metrics.output_tokens)
    if metrics.ttft >= 0:
        request.time_to_first_chunk = metrics.ttft
    request.end(interrupted=bool(metrics.cancelled), finish_reasons=None if metrics.cancelled else ["stop"])
