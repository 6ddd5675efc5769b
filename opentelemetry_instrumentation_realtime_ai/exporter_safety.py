"""An unreachable collector must not hold the app at exit nor flood its logs.

- An OTLP exporter retries a dead endpoint for its whole timeout (10 s by default) per
  pending batch, so a flush could hold an app for tens of seconds after its work is done.
  ``bounded_shutdown`` gives the flush of the providers ``initialize()`` created a deadline
  and lets the rest go (providers the app or a distro made are theirs to shut down).
- The OTLP exporters log every failed export (HTTP: every retry). ``ExportErrorFilter`` lets
  the first one through and then one a minute, with the number suppressed.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.sdk._shared_internal",
)


def _shut_all(providers: Iterable[Any]) -> None:
    for provider in providers:
        shutdown = getattr(provider, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:  # a provider already shut down, or a failing exporter
                logging.getLogger(__name__).debug("shutdown of %r failed", provider, exc_info=True)


def _gave_up(timeout_s: float) -> bool:
    # Straight to stderr: at exit, under opentelemetry-instrument, the root logger's only handler
    # is often the OTel logs handler, which is as stuck as the exporter.
    sys.stderr.write(
        f"opentelemetry-instrumentation-realtime-ai: telemetry not exported within {timeout_s:.1f} s "
        "at shutdown (is the collector reachable?); the rest was dropped\n"
    )
    return False


def bounded_shutdown(providers: Iterable[Any], timeout_s: float) -> bool:
    """Shut the providers down in a daemon thread, waiting at most ``timeout_s``; True if they finished."""
    worker = threading.Thread(
        target=_shut_all, args=(list(providers),), name="otel-realtime-ai-shutdown", daemon=True
    )
    worker.start()
    worker.join(timeout_s)
    return _gave_up(timeout_s) if worker.is_alive() else True


class ExitShutdown:
    """The bounded shutdown at exit, by a daemon thread started beforehand: from Python 3.12 no thread
    can be started once the interpreter shuts down."""

    def __init__(self) -> None:
        self.providers: list[Any] = []
        self.timeout_s = 3.0
        self._go = threading.Event()
        self._done = threading.Event()
        threading.Thread(target=self._run, name="otel-realtime-ai-exit", daemon=True).start()

    def _run(self) -> None:
        self._go.wait()
        _shut_all(self.providers)
        self._done.set()

    def __call__(self) -> bool:
        if not self.providers:
            return True
        self._go.set()
        return True if self._done.wait(self.timeout_s) else _gave_up(self.timeout_s)


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
