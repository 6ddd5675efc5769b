"""Log correlation: a log line carries the trace and span it was written in.

- Standard ``logging``: ``opentelemetry-instrumentation-logging`` adds ``otelTraceID``,
  ``otelSpanID``, ``otelServiceName`` and ``otelTraceSampled`` to every record. (Under
  ``opentelemetry-instrument`` it is loaded from its own entry point, not by us, and injects
  the ids only with ``OTEL_PYTHON_LOG_CORRELATION=true``.)
- loguru (Pipecat logs through it): a patcher adds ``extra["trace_id"]`` and ``extra["span_id"]``,
  chained after any patcher the app set, so ``{extra[trace_id]}`` works in a loguru format.
- Opt-in (``export_logs``): ``logging`` and loguru records also go to the OpenTelemetry logs
  pipeline through the SDK's ``LoggingHandler``, when a logger provider is configured.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.logging import LoggingInstrumentor

_log = logging.getLogger(__name__)
_state: dict[str, Any] = {}


def _trace_fields(record: dict[str, Any]) -> None:
    ctx = trace.get_current_span().get_span_context()
    extra = record["extra"]
    if ctx.is_valid:
        extra["trace_id"] = trace.format_trace_id(ctx.trace_id)
        extra["span_id"] = trace.format_span_id(ctx.span_id)
    else:
        extra.setdefault("trace_id", "")
        extra.setdefault("span_id", "")


def instrument_logging(export_logs: bool = False, logger_provider: Any = None) -> None:
    logging_instrumentor = LoggingInstrumentor()
    if not logging_instrumentor.is_instrumented_by_opentelemetry and not _cli_loads_logging():
        extra = {"logger_provider": logger_provider} if logger_provider is not None else {}
        logging_instrumentor.instrument(
            inject_trace_context=True, enable_log_auto_instrumentation=export_logs, **extra
        )
        _state["logging"] = logging_instrumentor
    try:
        from loguru import logger
    except ImportError:
        return
    previous = getattr(logger._core, "patcher", None)  # type: ignore[attr-defined]

    def patcher(record: Any) -> None:
        _trace_fields(record)
        if previous is not None:
            previous(record)

    _set_patcher(logger, patcher)
    _state["loguru_patcher"] = (patcher, previous)
    if export_logs:
        _state["loguru_sink"] = logger.add(_otel_handler(logger_provider), format="{message}", level="DEBUG")


def _set_patcher(logger: Any, patcher: Any) -> None:
    """Set loguru's patcher, ``None`` included (``configure(patcher=None)`` leaves it as it is)."""
    core = logger._core
    with core.lock:
        core.patcher = patcher


def _cli_loads_logging() -> bool:
    """Under ``opentelemetry-instrument`` the logging instrumentation loads from its own entry point."""
    site = sys.modules.get("sitecustomize")
    if "auto_instrumentation" not in str(getattr(site, "__file__", "")):
        return False
    disabled = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return "logging" not in {name.strip() for name in disabled.split(",")}


def _otel_handler(logger_provider: Any = None) -> logging.Handler:
    from opentelemetry.sdk._logs import LoggingHandler

    return LoggingHandler(logger_provider=logger_provider)


def uninstrument_logging() -> None:
    instrumentor = _state.pop("logging", None)
    if instrumentor is not None:
        instrumentor.uninstrument()
    if "loguru_patcher" not in _state:
        return
    from loguru import logger

    ours, previous = _state.pop("loguru_patcher")
    if getattr(logger._core, "patcher", None) is ours:  # type: ignore[attr-defined]
        _set_patcher(logger, previous)  # else the app set its own since: it stays
    sink = _state.pop("loguru_sink", None)
    if sink is not None:
        logger.remove(sink)
