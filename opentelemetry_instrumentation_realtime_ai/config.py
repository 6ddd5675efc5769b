"""Settings: the seed's ``Config`` for ``initialize()`` and the instrumentation options.

Every value is checked when it is read; a bad one raises ``ConfigError`` naming the
setting and what it accepts, rather than silently falling back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
)

TRACE_EXPORTER = "TRACE_EXPORTER"
OTEL_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
TRACE_SAMPLING_RATE = "TRACE_SAMPLING_RATE"
ENVIRONMENT = "ENVIRONMENT"

ENV_FRAME_SPANS = "OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPANS"
ENV_FRAME_SPAN_RATIO = "OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPAN_SAMPLING_RATIO"
ENV_TRACE_PER_TURN = "OTEL_INSTRUMENTATION_REALTIME_AI_TRACE_PER_TURN"
ENV_FRAMEWORKS = "OTEL_INSTRUMENTATION_REALTIME_AI_FRAMEWORKS"
ENV_LOG_CORRELATION = "OTEL_INSTRUMENTATION_REALTIME_AI_LOG_CORRELATION"
ENV_EXPORT_LOGS = "OTEL_INSTRUMENTATION_REALTIME_AI_EXPORT_LOGS"
ENV_SHUTDOWN_TIMEOUT = "OTEL_INSTRUMENTATION_REALTIME_AI_SHUTDOWN_TIMEOUT"
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

EXPORTERS = ("stdout", "console", "tree", "otlp", "otlp_http", "none")
SAMPLERS = {
    "always_on": 1.0,
    "always_off": 0.0,
    "traceidratio": None,
    "parentbased_always_on": 1.0,
    "parentbased_always_off": 0.0,
    "parentbased_traceidratio": None,
}
FRAMEWORKS = ("pipecat",)
_STANDARD_EXPORTERS = {"console": "stdout", "otlp": "otlp", "none": "none"}
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class ConfigError(ValueError):
    """A setting has a value the package does not accept."""


def parse_bool(setting: str, value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{setting}={value!r} is not a boolean; accepted values: true, false, 1, 0, yes, no")


def parse_ratio(setting: str, value: str | float) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{setting}={value!r} is not a number; accepted values: 0.0 to 1.0") from None
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"{setting}={value!r} is out of range; accepted values: 0.0 to 1.0")
    return ratio


def parse_seconds(setting: str, value: str | float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{setting}={value!r} is not a number; accepted values: seconds, more than 0"
        ) from None
    if not seconds > 0:
        raise ConfigError(f"{setting}={value!r} is out of range; accepted values: seconds, more than 0")
    return seconds


def parse_exporter(setting: str, value: str) -> str:
    exporter = value.strip().lower()
    if exporter not in EXPORTERS:
        raise ConfigError(f"{setting}={value!r} is not an exporter; accepted values: {', '.join(EXPORTERS)}")
    return "stdout" if exporter == "console" else exporter


@dataclass(frozen=True)
class Endpoint:
    """Where OTLP goes: ``url`` is what the exporters take, ``insecure`` says plain or TLS."""

    url: str
    insecure: bool


def parse_endpoint(setting: str, value: str, exporter: str) -> Endpoint:
    """Accept the seed's bare ``host:port`` (plain text) or an ``http://`` / ``https://`` URL."""
    text = value.strip()
    accepted = "host:port, http://host:port or https://host:port[/path]"
    if _HOST_PORT.match(text):
        if not 0 < int(text.rsplit(":", 1)[1]) < 65536:
            raise ConfigError(f"{setting}={value!r} has an invalid port; accepted forms: {accepted}")
        return _endpoint_for(f"http://{text}", exporter, insecure=True)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        raise ConfigError(f"{setting}={value!r} has an invalid port; accepted forms: {accepted}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text or (port == 0):
        raise ConfigError(f"{setting}={value!r} is not an OTLP endpoint; accepted forms: {accepted}")
    return _endpoint_for(text, exporter, insecure=parts.scheme == "http")


def _endpoint_for(url: str, exporter: str, insecure: bool) -> Endpoint:
    """OTLP/HTTP wants the signal path; gRPC wants the bare authority."""
    if exporter == "otlp_http":
        base = url.rstrip("/")
        if not base.endswith("/v1/traces"):
            base += "/v1/traces"
        return Endpoint(base, insecure)
    return Endpoint(url, insecure)


def _exporter_from_env(env: Mapping[str, str]) -> str:
    """``TRACE_EXPORTER`` (the seed's), else the standard ``OTEL_TRACES_EXPORTER`` and protocol, else stdout."""
    if TRACE_EXPORTER in env:
        return parse_exporter(TRACE_EXPORTER, env[TRACE_EXPORTER])
    standard = env.get(OTEL_TRACES_EXPORTER, "").strip().lower()
    if not standard:
        return "stdout"
    if standard not in _STANDARD_EXPORTERS:
        raise ConfigError(
            f"{OTEL_TRACES_EXPORTER}={standard!r} is not supported by initialize(); "
            f"accepted values: {', '.join(_STANDARD_EXPORTERS)}"
        )
    if standard != "otlp":
        return _STANDARD_EXPORTERS[standard]
    protocol = env.get(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc").strip().lower()
    if protocol not in ("grpc", "http/protobuf"):
        raise ConfigError(
            f"{OTEL_EXPORTER_OTLP_PROTOCOL}={protocol!r} is not supported; accepted values: grpc, http/protobuf"
        )
    return "otlp" if protocol == "grpc" else "otlp_http"


def _parse_resource_attributes(value: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {key.strip(): val.strip() for key, val in pairs}


def _sampling_rate_from_env(env: Mapping[str, str]) -> float | None:
    if TRACE_SAMPLING_RATE in env:
        return parse_ratio(TRACE_SAMPLING_RATE, env[TRACE_SAMPLING_RATE])
    name = env.get(OTEL_TRACES_SAMPLER)
    if not name:
        return None
    sampler = name.strip().lower()
    if sampler not in SAMPLERS:
        raise ConfigError(
            f"{OTEL_TRACES_SAMPLER}={name!r} is not supported by initialize(); "
            f"accepted values: {', '.join(SAMPLERS)}"
        )
    fixed = SAMPLERS[sampler]
    if fixed is not None:
        return fixed
    return parse_ratio(OTEL_TRACES_SAMPLER_ARG, env.get(OTEL_TRACES_SAMPLER_ARG, "1.0"))


@dataclass
class Config:
    """What ``initialize()`` sets up: the seed's ``Config``, read from the environment by ``from_env``."""

    service_name: str = "realtime-ai"
    service_version: str = "0.1.0"
    environment: str = "development"
    exporter: str = "stdout"
    otlp_endpoint: str | None = None
    sampling_rate: float = 1.0
    metrics: bool = True
    resource_attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        resource = _parse_resource_attributes(env.get(OTEL_RESOURCE_ATTRIBUTES, ""))
        config = cls(
            service_name=env.get(OTEL_SERVICE_NAME) or resource.get("service.name") or cls.service_name,
            environment=env.get(ENVIRONMENT) or cls.environment,
            exporter=_exporter_from_env(env),
            otlp_endpoint=env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or None,
            resource_attributes=resource,
            metrics=env.get("OTEL_METRICS_EXPORTER", "").strip().lower() != "none",
        )
        if config.otlp_endpoint:
            parse_endpoint(OTEL_EXPORTER_OTLP_ENDPOINT, config.otlp_endpoint, config.exporter)
        rate = _sampling_rate_from_env(env)
        if rate is not None:
            config.sampling_rate = rate
        config.validate()
        return config

    def validate(self) -> None:
        """Check every field; raise ``ConfigError`` on the first bad one."""
        for f in fields(self):
            if f.type == "str" and not isinstance(getattr(self, f.name), str):
                raise ConfigError(f"Config.{f.name}={getattr(self, f.name)!r} must be a string")
        self.exporter = parse_exporter("Config.exporter", self.exporter)
        self.sampling_rate = parse_ratio("Config.sampling_rate", self.sampling_rate)
        self.endpoint()

    def endpoint(self) -> Endpoint:
        default = "localhost:4318" if self.exporter == "otlp_http" else "localhost:4317"
        setting = "Config.otlp_endpoint" if self.otlp_endpoint else "default endpoint"
        return parse_endpoint(setting, self.otlp_endpoint or default, self.exporter)


def sdk_disabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return parse_bool(OTEL_SDK_DISABLED, env.get(OTEL_SDK_DISABLED, "false"))


@dataclass(frozen=True)
class Options:
    """What the instrumentation records; ``instrument(**kwargs)`` overrides the environment."""

    frame_spans: bool = False
    frame_span_sampling_ratio: float = 1.0
    trace_per_turn: bool = False
    capture_content: bool = False
    frameworks: tuple[str, ...] = FRAMEWORKS
    log_correlation: bool = True
    export_logs: bool = False
    shutdown_timeout: float = 3.0

    @classmethod
    def resolve(cls, kwargs: Mapping[str, object], env: Mapping[str, str] | None = None) -> Options:
        env = os.environ if env is None else env

        def pick(name: str, variable: str, default: object) -> tuple[str, object]:
            if name in kwargs:
                return name, kwargs[name]
            return variable, env.get(variable, default)

        frameworks_setting, frameworks = pick("frameworks", ENV_FRAMEWORKS, ",".join(FRAMEWORKS))
        return cls(
            frame_spans=parse_bool(*pick("frame_spans", ENV_FRAME_SPANS, "false")),  # type: ignore[arg-type]
            frame_span_sampling_ratio=parse_ratio(
                *pick("frame_span_sampling_ratio", ENV_FRAME_SPAN_RATIO, "1.0")  # type: ignore[arg-type]
            ),
            trace_per_turn=parse_bool(*pick("trace_per_turn", ENV_TRACE_PER_TURN, "false")),  # type: ignore[arg-type]
            capture_content=parse_bool(*pick("capture_content", ENV_CAPTURE_CONTENT, "false")),  # type: ignore[arg-type]
            frameworks=parse_frameworks(frameworks_setting, frameworks),  # type: ignore[arg-type]
            log_correlation=parse_bool(*pick("log_correlation", ENV_LOG_CORRELATION, "true")),  # type: ignore[arg-type]
            export_logs=parse_bool(*pick("export_logs", ENV_EXPORT_LOGS, "false")),  # type: ignore[arg-type]
            shutdown_timeout=parse_seconds(*pick("shutdown_timeout", ENV_SHUTDOWN_TIMEOUT, "3")),  # type: ignore[arg-type]
        )


def parse_frameworks(setting: str, value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else list(value)
    chosen = tuple(name.strip().lower() for name in names if name.strip())
    unknown = [name for name in chosen if name not in FRAMEWORKS]
    if unknown:
        raise ConfigError(f"{setting}={value!r} names {unknown}; accepted values: {', '.join(FRAMEWORKS)}")
    return chosen
