"""An unreachable collector must not hold the app at exit nor flood its logs.

- The SDK flushes at exit, and an OTLP exporter retries a dead endpoint for its whole
  timeout (10 s by default) per pending batch, so an app could hang for tens of seconds after
  its work is done. ``bounded_shutdown`` gives the flush a deadline and lets the rest go.
- The OTLP exporters log every failed export (HTTP: every retry). ``ExportErrorFilter`` lets
  the first one through and then one a minute, with the number suppressed.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics, trace

_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.sdk._shared_internal",
)


def bounded_shutdown(providers: Iterable[Any], timeout_s: float) -> bool:
    """Shut the providers down in a daemon thread, waiting at most ``timeout_s``; True if they finished."""

    def shut_all() -> None:
        for provider in providers:
            shutdown = getattr(provider, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:  # a provider already shut down, or a failing exporter
                    logging.getLogger(__name__).debug("shutdown of %r failed", provider, exc_info=True)

    worker = threading.Thread(target=shut_all, name="otel-realtime-ai-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        # Straight to stderr: at exit, under opentelemetry-instrument, the root logger's only handler
        # is often the OTel logs handler, which is as stuck as the exporter.
        sys.stderr.write(
            f"opentelemetry-instrumentation-realtime-ai: telemetry not exported within {timeout_s:.1f} s "
            "at shutdown (is the collector reachable?); the rest was dropped\n"
        )
        return False
    return True


class ExitFlush:
    """An ``atexit`` hook, registered after the SDK's own, so it runs first and bounds the flush."""

    def __init__(self) -> None:
        self.providers: list[Any] = []
        self.timeout_s = 3.0
        self._registered = False

    def watch(self, tracer_provider: Any, meter_provider: Any, timeout_s: float) -> None:
        """``None`` stands for the global provider, looked up at exit (it may be set after instrumenting)."""
        self.providers = [tracer_provider, meter_provider]
        self.timeout_s = timeout_s
        if not self._registered:
            atexit.register(self._at_exit)
            self._registered = True

    def _at_exit(self) -> None:
        if not self.providers:
            return
        tracer_provider, meter_provider = self.providers
        bounded_shutdown(
            [tracer_provider or trace.get_tracer_provider(), meter_provider or metrics.get_meter_provider()],
            self.timeout_s,
        )


exit_flush = ExitFlush()


class ExportErrorFilter(logging.Filter):
    """Pass the first export error, then at most one per ``interval_s``, counting the ones held back."""

    def __init__(self, interval_s: float = 60.0):
        super().__init__()
        self.interval_s = interval_s
        self._last: float | None = None
        self._suppressed = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last < self.interval_s:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar export errors suppressed)"
        return True


_filter = ExportErrorFilter()


def install_export_error_filter() -> None:
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


def remove_export_error_filter() -> None:
    for name in _EXPORTER_LOGGERS:
        logging.getLogger(name).removeFilter(_filter)
