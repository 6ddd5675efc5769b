"""Set-up and tear-down of the SDK (the seed's trace.go) for apps not run under ``opentelemetry-instrument``.

``initialize()`` builds the providers from a ``Config`` and instruments the installed
frameworks. When an SDK provider is already set (``opentelemetry-instrument`` did it, or the
app did), it is reused with a warning instead of being replaced: OpenTelemetry lets a
process set its global providers only once.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any, Literal

from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk import _configuration as sdk_configuration
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .config import Config, ConfigError, Options, sdk_disabled
from .console import TreeConsoleSpanExporter
from .exporter_safety import ExitShutdown, bounded_shutdown

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {}

# The seed's defaults, for what neither a setting nor the standard variables give.
_SEED_SERVICE, _SEED_VERSION, _SEED_ENVIRONMENT = "realtime-ai", "0.1.0", "development"
_ENVIRONMENT_KEYS = ("deployment.environment.name", "environment")  # the standard key, and the seed's


def _standard_exporters(signal: Literal["traces", "metrics"]) -> list[Any]:
    """The exporters the standard variable names, found the SDK's way (its entry points, the OTLP
    protocol variables); unset means ``otlp``, the specification's default."""
    variable = OTEL_TRACES_EXPORTER if signal == "traces" else OTEL_METRICS_EXPORTER
    value = os.environ.get(variable, "").strip() or "otlp"
    if value.lower() == "none":
        return []
    try:
        names = [
            sdk_configuration._get_exporter_entry_point(name.strip(), signal) for name in value.split(",")
        ]
        traces, metric_exporters, _ = sdk_configuration._import_exporters(
            names if signal == "traces" else [], names if signal == "metrics" else [], []
        )
    except (RuntimeError, ValueError) as error:
        raise ConfigError(f"{variable}={value!r}: {error}") from None
    return [cls() for cls in (traces if signal == "traces" else metric_exporters).values()]


def _span_exporters(config: Config) -> list[SpanExporter]:
    exporter = config.exporter
    if exporter is None:
        if os.environ.get(OTEL_TRACES_EXPORTER, "").strip():
            return _standard_exporters("traces")
        exporter = "stdout"
    if exporter == "none":
        return []
    if exporter == "stdout":
        return [ConsoleSpanExporter()]
    if exporter == "tree":
        return [TreeConsoleSpanExporter()]
    if exporter == "otlp_file":
        from .otlp_file import OTLPJsonFileSpanExporter

        return [OTLPJsonFileSpanExporter(config.otlp_file or "")]
    endpoint = config.endpoint()
    if exporter == "otlp_http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

        return [HTTPSpanExporter(endpoint=endpoint.url) if endpoint else HTTPSpanExporter()]
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # The seed's bare host:port is plain text; a URL says for itself, as the exporter reads it.
    return [
        OTLPSpanExporter(endpoint=endpoint.url, insecure=endpoint.insecure)
        if endpoint
        else OTLPSpanExporter()
    ]


def _metric_exporters(config: Config) -> list[MetricExporter]:
    """``OTEL_METRICS_EXPORTER`` when set; else metrics go where the seed's exporter sends traces."""
    if not config.metrics:
        return []
    if os.environ.get(OTEL_METRICS_EXPORTER, "").strip():
        return _standard_exporters("metrics")
    exporter = config.exporter
    if exporter is None:
        if os.environ.get(OTEL_TRACES_EXPORTER, "").strip():  # the standard variables: the standard default
            return _standard_exporters("metrics")
        exporter = "stdout"
    if exporter in ("none", "tree", "otlp_file"):  # otlp_file: traces only
        return []
    if exporter == "stdout":
        return [ConsoleMetricExporter()]
    endpoint = config.endpoint()
    if exporter == "otlp_http":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HTTPMetricExporter,
        )

        if endpoint is None:
            return [HTTPMetricExporter()]
        return [HTTPMetricExporter(endpoint=endpoint.url.removesuffix("/v1/traces") + "/v1/metrics")]
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return [
        OTLPMetricExporter(endpoint=endpoint.url, insecure=endpoint.insecure)
        if endpoint
        else OTLPMetricExporter()
    ]


def _resource(config: Config) -> Resource:
    """The SDK's resource (``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME``, detectors), with the
    explicit settings over it and the seed's defaults under it."""
    explicit: dict[str, str] = dict(config.resource_attributes)
    if config.service_name is not None:
        explicit[SERVICE_NAME] = config.service_name
    if config.service_version is not None:
        explicit[SERVICE_VERSION] = config.service_version
    if config.environment is not None:
        explicit.update(dict.fromkeys(_ENVIRONMENT_KEYS, config.environment))
    resource = Resource.create(explicit)
    found = resource.attributes
    defaults: dict[str, str] = {}
    if str(found.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = _SEED_SERVICE
    if SERVICE_VERSION not in found:
        defaults[SERVICE_VERSION] = _SEED_VERSION
    environment = next((str(found[key]) for key in _ENVIRONMENT_KEYS if key in found), _SEED_ENVIRONMENT)
    defaults.update({key: environment for key in _ENVIRONMENT_KEYS if key not in found})
    return resource.merge(Resource(defaults))


def initialize(config: Config | None = None, **instrument_options: object) -> Config:
    """Set up tracing and metrics and instrument the installed frameworks; a second call does nothing.

    ``instrument_options`` go to ``RealtimeAIInstrumentor().instrument()`` (``frame_spans``, ...).
    Raises ``ConfigError`` for a bad setting before anything is set up.
    """
    config = config or Config.from_env()
    config.validate()
    timeout = Options.resolve(instrument_options).shutdown_timeout
    with _lock:
        if "config" in _state:
            _log.debug("initialize() called again: already initialized")
            return _state["config"]  # type: ignore[no-any-return]
        # The seed's "none" is its no-op mode: no provider, so every span is a non-recording one.
        if not sdk_disabled() and config.exporter != "none":
            _set_up_providers(config, timeout)
        _state["config"] = config
    from .instrumentor import RealtimeAIInstrumentor

    instrumentor = RealtimeAIInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(**instrument_options)
    elif instrument_options:
        _log.warning(
            "initialize(%s): already instrumented (by opentelemetry-instrument?), these options are not applied",
            ", ".join(instrument_options),
        )
    return config


def _set_up_providers(config: Config, timeout_s: float) -> None:
    """Build what is missing; everything built here is flushed and shut down by us, and only that."""
    resource = _resource(config)
    has_tracer_provider = isinstance(trace.get_tracer_provider(), TracerProvider)
    has_meter_provider = isinstance(metrics.get_meter_provider(), MeterProvider)
    # Exporters first: a bad exporter setting raises before any provider is set.
    span_exporters = [] if has_tracer_provider else _span_exporters(config)
    metric_exporters = [] if has_meter_provider else _metric_exporters(config)
    created: list[Any] = []
    if has_tracer_provider:
        _log.warning(
            "A tracer provider is already configured (for example by opentelemetry-instrument): "
            "reusing it; initialize() leaves its exporter and sampler as they are"
        )
    else:
        # No sampler given: the SDK reads OTEL_TRACES_SAMPLER. The seed's rate is ParentBased(TraceIdRatio).
        rate = config.sampling_rate
        sampler = ParentBased(TraceIdRatioBased(rate)) if rate is not None else None
        # The SDK's own exit hook would flush without a deadline: ours below bounds it.
        provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
        for exporter in span_exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        created.append(provider)
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
    if not has_meter_provider:
        readers: list[MetricReader] = [PeriodicExportingMetricReader(e) for e in metric_exporters]
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)
        created.append(meter_provider)
    if created:
        _state["created"] = created
        exit_shutdown = _state.get("exit")
        if exit_shutdown is None:
            exit_shutdown = _state["exit"] = ExitShutdown()
            atexit.register(_shutdown_at_exit)
        exit_shutdown.providers, exit_shutdown.timeout_s = created, timeout_s


def _shutdown_at_exit() -> None:
    with _lock:
        created = _state.pop("created", [])
        exit_shutdown = _state.get("exit")
    if created and exit_shutdown is not None:
        exit_shutdown()


def shutdown(timeout_millis: int = 30_000) -> None:
    """Flush and close what ``initialize()`` created, within ``timeout_millis`` even if the collector is down.

    Providers it reused belong to their owner.
    """
    with _lock:
        created = _state.pop("created", [])
        _state.pop("config", None)
    if created:
        bounded_shutdown(created, timeout_millis / 1000)
