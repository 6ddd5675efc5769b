"""``RealtimeAIInstrumentor``: wires the installed frameworks' hooks to the helpers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.dependencies import DependencyConflict
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import telemetry
from .config import OPTION_NAMES, ConfigError, Options, sdk_disabled
from .exporter_safety import install_export_error_filter, remove_export_error_filter
from .logs import instrument_logging, uninstrument_logging
from .package import SUPPORTED, _instruments

_log = logging.getLogger(__name__)

# What other OpenTelemetry components pass to every instrumentor, and our own options.
_ACCEPTED = frozenset({"tracer_provider", "meter_provider", "logger_provider", *OPTION_NAMES})


class RealtimeAIInstrumentor(BaseInstrumentor):
    """Instruments every supported framework that is installed.

    Keyword arguments of ``instrument()``: ``tracer_provider``, ``meter_provider``,
    ``logger_provider`` (for ``export_logs``), and the options of ``config.Options``
    (``frame_spans``, ``frame_span_sampling_ratio``, ``trace_per_turn``, ``capture_content``,
    ``frameworks``, ...), which override the ``OTEL_INSTRUMENTATION_*`` variables. A bad value
    raises ``ConfigError`` before anything is hooked; a failure while hooking undoes every
    hook already installed, so the app runs as if not instrumented.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        # Frameworks are optional here: _instrument skips the ones not installed, and the providers
        # passed in still reach the helpers. (opentelemetry-instrument reads the instruments-any extra.)
        return None

    def _instrument(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - _ACCEPTED
        if unknown:
            raise ConfigError(
                f"instrument() got {sorted(unknown)}; accepted arguments: {', '.join(sorted(_ACCEPTED))}"
            )
        options = Options.resolve(kwargs)
        self._hooked: list[Any] = []
        if sdk_disabled():
            _log.debug("OTEL_SDK_DISABLED is true: nothing to record, so nothing is instrumented")
            return
        try:
            current = telemetry.build(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options)
            if options.replay_dir or options.recording_dir:
                from .replay.writer import install

                current.recordings, self._processors = install(
                    kwargs.get("tracer_provider") or trace.get_tracer_provider(), options
                )
            install_export_error_filter()
            if options.log_correlation:
                instrument_logging(options.export_logs, kwargs.get("logger_provider"))
            for name in options.frameworks:
                framework = SUPPORTED[name]
                try:
                    importlib.import_module(framework.module)
                except ImportError:
                    _log.debug("%s is not installed: not instrumenting it", name)
                    continue
                module = importlib.import_module(framework.hooks)
                self._hooked.append(module)  # first, so that hooks installed before a failure are undone
                module.instrument()
        except Exception:  # telemetry must never break the app: leave it as it was
            _log.warning("realtime-ai instrumentation failed; nothing is instrumented", exc_info=True)
            self._uninstrument()

    def _uninstrument(self, **kwargs: Any) -> None:
        for processor in getattr(self, "_processors", []):
            processor.active = False  # the SDK cannot take a processor off its provider
        self._processors = []
        for module in getattr(self, "_hooked", []):
            module.uninstrument()
        self._hooked = []
        uninstrument_logging()
        remove_export_error_filter()
        telemetry.reset()
