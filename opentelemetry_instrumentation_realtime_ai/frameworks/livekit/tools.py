"""Function tools: one ``execute_tool {name}`` span per run of a tool's handler.

LiveKit 1.2 starts each tool call in a task of its own and names it with
``_set_activity_task_info(task, function_call=...)``; the span lasts as long as that task, and
the handler's exception reaches ``make_tool_output(exception=...)``, which turns it into the
output the model gets. LiveKit 1.8 runs a tool call through ``_ToolExecutor.execute(tool=..., run_ctx=...)``, which
starts the handler in a task of its own. The hook notes the call (name and id) in a context
variable that task inherits, and the tool's ``__call__`` (defined once, on LiveKit's base
function-tool class) opens the span around the handler's coroutine: the span lasts as long
as the handler and ends with status ERROR when it raises (the exception is passed on as is).
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

from opentelemetry.trace import Span

from ... import attributes as attrs
from ...spans import new_span, record_error
from ..hooks import guarded
from . import session as sessions

_call: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "otel_realtime_ai_livekit_tool_call", default=None
)
# Not failures: how a tool ends the reply on purpose.
_CONTROL_FLOW = ("StopResponse",)


async def execute_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``_ToolExecutor.execute``: the call being executed, for the handler's task to find."""
    token = _call.set(getattr(kwargs.get("run_ctx"), "function_call", None))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _call.reset(token)


def call_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps the function tools' ``__call__``: a span around the handler's coroutine."""
    call = _call.get()
    result = wrapped(*args, **kwargs)
    if call is None or not inspect.isawaitable(result):
        return result
    _call.set(None)  # a tool calling another tool directly is one run
    span = _start(call)
    return result if span is None else _traced(result, span)


@guarded
def _start(call: Any) -> Span:
    name = getattr(call, "name", None) or "tool"
    run = sessions.current()
    span_attrs = attrs._clean(
        {
            attrs.GEN_AI_OPERATION_NAME: attrs.OPERATION_EXECUTE_TOOL,
            attrs.GEN_AI_TOOL_NAME: name,
            attrs.GEN_AI_TOOL_CALL_ID: getattr(call, "call_id", None),
            attrs.GEN_AI_TOOL_TYPE: "function",
            attrs.SESSION_ID: run.session.session_id if run is not None else None,
        }
    )
    parent = run.session.context() if run is not None else None
    return new_span(attrs.ai_span_name(attrs.OPERATION_EXECUTE_TOOL, name), span_attrs, parent=parent)


async def _traced(handler: Any, span: Span) -> Any:
    try:
        return await handler
    except BaseException as error:
        if type(error).__name__ not in _CONTROL_FLOW:
            guarded(record_error)(span, error)
        raise
    finally:
        guarded(span.end)()


# --- LiveKit 1.2 ---


def task_info_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``voice.agent._set_activity_task_info``: a task made for a tool call starts its span."""
    result = wrapped(*args, **kwargs)
    call = kwargs.get("function_call")
    if args and getattr(call, "call_id", None):
        _start_task(args[0], call)
    return result


@guarded
def _start_task(task: Any, call: Any) -> None:
    run = sessions.current()
    if run is None or call.call_id in run.tools:
        return
    span = _start(call)
    if span is not None:
        run.tools[call.call_id] = span
        task.add_done_callback(guarded(lambda _: _end_task(run, call.call_id)))


def _end_task(run: sessions.Run, call_id: str) -> None:
    span = run.tools.pop(call_id, None)
    if span is not None:
        span.end()


def tool_output_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``voice.generation.make_tool_output``: the exception the tool's handler raised."""
    error = kwargs.get("exception")
    if error is None and isinstance(kwargs.get("output"), BaseException):
        error = kwargs["output"]
    if error is not None:
        _tool_failed(kwargs.get("fnc_call"), error)
    return wrapped(*args, **kwargs)


@guarded
def _tool_failed(call: Any, error: BaseException) -> None:
    run = sessions.current()
    span = run.tools.get(getattr(call, "call_id", "")) if run is not None else None
    if span is not None and type(error).__name__ not in _CONTROL_FLOW:
        record_error(span, error)
