"""Set-up and tear-down of the SDK (the seed's trace.go) for apps not run under ``opentelemetry-instrument``.

``initialize()`` builds the providers from a ``Config`` and instruments the installed
frameworks. When an SDK provider is already set (``opentelemetry-instrument`` did it, or the
app did), it is reused with a warning instead of being replaced: OpenTelemetry lets a
process set its global providers only once.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .config import Config, sdk_disabled
from .console import TreeConsoleSpanExporter
from .exporter_safety import bounded_shutdown, exit_flush

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, object] = {}


def _span_exporter(config: Config) -> SpanExporter | None:
    if config.exporter == "none":
        return None
    if config.exporter == "stdout":
        return ConsoleSpanExporter()
    if config.exporter == "tree":
        return TreeConsoleSpanExporter()
    endpoint = config.endpoint()
    if config.exporter == "otlp_http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

        return HTTPSpanExporter(endpoint=endpoint.url)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.url, insecure=endpoint.insecure)


def _metric_exporter(config: Config) -> MetricExporter | None:
    if config.exporter in ("none", "tree") or not config.metrics:
        return None
    if config.exporter == "stdout":
        return ConsoleMetricExporter()
    endpoint = config.endpoint()
    if config.exporter == "otlp_http":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HTTPMetricExporter,
        )

        return HTTPMetricExporter(endpoint=endpoint.url.removesuffix("/v1/traces") + "/v1/metrics")
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=endpoint.url, insecure=endpoint.insecure)


def _resource(config: Config) -> Resource:
    return Resource.create(
        {
            **config.resource_attributes,
            "service.name": config.service_name,
            "service.version": config.service_version,
            "environment": config.environment,
            "deployment.environment.name": config.environment,
        }
    )


def initialize(config: Config | None = None, **instrument_options: object) -> Config:
    """Set up tracing and metrics and instrument the installed frameworks; a second call does nothing.

    ``instrument_options`` go to ``RealtimeAIInstrumentor().instrument()`` (``frame_spans``, ...).
    Raises ``ConfigError`` for a bad setting before anything is set up.
    """
    config = config or Config.from_env()
    config.validate()
    with _lock:
        if "config" in _state:
            _log.debug("initialize() called again: already initialized")
            return _state["config"]  # type: ignore[return-value]
        _state["config"] = config
        # The seed's "none" is its no-op mode: no provider, so every span is a non-recording one.
        if not sdk_disabled() and config.exporter != "none":
            _set_up_providers(config)
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


def _set_up_providers(config: Config) -> None:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        _log.warning(
            "A tracer provider is already configured (for example by opentelemetry-instrument): "
            "reusing it; initialize() leaves its exporter and sampler as they are"
        )
    else:
        provider = TracerProvider(
            resource=_resource(config), sampler=ParentBased(TraceIdRatioBased(config.sampling_rate))
        )
        exporter = _span_exporter(config)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _state["tracer_provider"] = provider
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        return
    metric_exporter = _metric_exporter(config)
    readers: list[MetricReader] = [PeriodicExportingMetricReader(metric_exporter)] if metric_exporter else []
    meter_provider = MeterProvider(resource=_resource(config), metric_readers=readers)
    metrics.set_meter_provider(meter_provider)
    _state["meter_provider"] = meter_provider


def shutdown(timeout_millis: int = 30_000) -> None:
    """Flush and close what ``initialize()`` created, within ``timeout_millis`` even if the collector is down.

    Providers it reused belong to their owner.
    """
    with _lock:
        providers = [_state.pop("tracer_provider", None), _state.pop("meter_provider", None)]
        _state.pop("config", None)
    created = [p for p in providers if p is not None]
    if created:
        bounded_shutdown(created, timeout_millis / 1000)
        exit_flush.providers = []  # they were the globals: nothing left to flush at exit
