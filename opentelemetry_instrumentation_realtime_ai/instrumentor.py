"""``RealtimeAIInstrumentor``: wires the installed frameworks' hooks to the helpers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.dependencies import DependencyConflict
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import telemetry
from .config import ConfigError, Options, sdk_disabled
from .exporter_safety import exit_flush, install_export_error_filter, remove_export_error_filter
from .logs import instrument_logging, uninstrument_logging
from .package import _instruments

_log = logging.getLogger(__name__)

# framework name -> (module that must be importable, module of ours that hooks it)
_FRAMEWORK_MODULES = {
    "pipecat": ("pipecat", "opentelemetry_instrumentation_realtime_ai.frameworks.pipecat"),
}
_ACCEPTED = {"tracer_provider", "meter_provider", *Options.__dataclass_fields__}


class RealtimeAIInstrumentor(BaseInstrumentor):
    """Instruments every supported framework that is installed.

    Keyword arguments of ``instrument()``: ``tracer_provider``, ``meter_provider``, and the
    options of ``config.Options`` (``frame_spans``, ``frame_span_sampling_ratio``,
    ``trace_per_turn``, ``capture_content``, ``frameworks``), which override the
    ``OTEL_INSTRUMENTATION_REALTIME_AI_*`` variables.
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
        if sdk_disabled():
            _log.debug("OTEL_SDK_DISABLED is true: nothing to record, so nothing is instrumented")
            self._hooked: list[Any] = []
            return
        telemetry.build(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options)
        install_export_error_filter()
        exit_flush.watch(
            kwargs.get("tracer_provider"), kwargs.get("meter_provider"), options.shutdown_timeout
        )
        if options.log_correlation:
            instrument_logging(options.export_logs)
        self._hooked = []
        for name in options.frameworks:
            target, ours = _FRAMEWORK_MODULES[name]
            try:
                importlib.import_module(target)
            except ImportError:
                _log.debug("%s is not installed: not instrumenting it", name)
                continue
            module = importlib.import_module(ours)
            module.instrument()
            self._hooked.append(module)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module in getattr(self, "_hooked", []):
            module.uninstrument()
        self._hooked = []
        uninstrument_logging()
        remove_export_error_filter()
        exit_flush.providers = []
        telemetry.reset()
