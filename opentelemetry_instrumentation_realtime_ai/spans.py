"""Span helpers (the seed's helpers.go) for code the automatic instrumentation cannot see."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from . import attributes as attrs
from . import telemetry

F = TypeVar("F", bound=Callable[..., Any])
Parent = Span | otel_context.Context | None


def get_tracer() -> Tracer:
    return telemetry.current().tracer


def parent_context(parent: Parent) -> otel_context.Context | None:
    """A span or a context as the parent of a new span; ``None`` means the current context."""
    if isinstance(parent, Span):
        return trace.set_span_in_context(parent)
    return parent


def new_span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Parent = None,
    links: list[Link] | None = None,
) -> Span:
    """Start a span that is not made current; the caller ends it."""
    return get_tracer().start_span(
        name, context=parent_context(parent), kind=kind, attributes=attributes, links=links
    )


@contextmanager
def start_span(
    name: str,
    attributes: Mapping[str, AttributeValue] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Parent = None,
) -> Iterator[Span]:
    """Run a block inside a current span; an exception is recorded (status ERROR) and re-raised unchanged."""
    span = new_span(name, attributes, kind=kind, parent=parent)
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield span
        except BaseException as error:
            record_error(span, error)
            raise


def with_span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Callable[[F], F]:
    """Decorate a sync or async function so each call runs inside a span (the seed's ``WithSpan``)."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with start_span(name, attributes, kind=kind):
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with start_span(name, attributes, kind=kind):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def record_error(span: Span, error: BaseException) -> None:
    """Record the exception as an event, set ``error.type`` and status ERROR."""
    if not span.is_recording():
        return
    span.record_exception(error)
    span.set_attribute(attrs.ERROR_TYPE, attrs.error_type(error))
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def add_event(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, *, span: Span | None = None
) -> None:
    (span or trace.get_current_span()).add_event(name, attributes)


def set_attributes(attributes: Mapping[str, AttributeValue], *, span: Span | None = None) -> None:
    (span or trace.get_current_span()).set_attributes(attributes)


def _span_context(parent: Parent) -> trace.SpanContext:
    if isinstance(parent, Span):
        return parent.get_span_context()
    return trace.get_current_span(parent).get_span_context()


def trace_id(parent: Parent = None) -> str:
    """The trace id in hex, or an empty string when there is no valid span."""
    ctx = _span_context(parent)
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else ""


def span_id(parent: Parent = None) -> str:
    """The span id in hex, or an empty string when there is no valid span."""
    ctx = _span_context(parent)
    return trace.format_span_id(ctx.span_id) if ctx.is_valid else ""


def log_with_trace(message: str, parent: Parent = None) -> str:
    """``"[trace_id=… span_id=…] message"`` as the seed formats it; the message alone outside a span."""
    ctx = _span_context(parent)
    if not ctx.is_valid:
        return message
    return f"[trace_id={trace.format_trace_id(ctx.trace_id)} span_id={trace.format_span_id(ctx.span_id)}] {message}"
