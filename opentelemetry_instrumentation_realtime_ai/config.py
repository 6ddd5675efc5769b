"""Settings: the seed's ``Config`` for ``initialize()`` and the instrumentation options.

Every value is checked when it is read; a bad one raises ``ConfigError`` naming the
setting and what it accepts, rather than silently falling back to a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_SDK_DISABLED,
)

from .package import FRAMEWORKS

# The seed's own variables; every standard OTEL_* variable is left to the SDK and its exporters.
TRACE_EXPORTER = "TRACE_EXPORTER"
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
ENV_EVENT_LOOP_BLOCK_THRESHOLD = "OTEL_INSTRUMENTATION_REALTIME_AI_EVENT_LOOP_BLOCK_THRESHOLD"
ENV_WEBRTC_STATS_INTERVAL = "OTEL_INSTRUMENTATION_REALTIME_AI_WEBRTC_STATS_INTERVAL"
ENV_AUDIO_GAP_THRESHOLD = "OTEL_INSTRUMENTATION_REALTIME_AI_AUDIO_GAP_THRESHOLD"
ENV_OTLP_FILE = "OTEL_INSTRUMENTATION_REALTIME_AI_OTLP_FILE"
ENV_REPLAY_DIR = "OTEL_INSTRUMENTATION_REALTIME_AI_REPLAY_DIR"
ENV_RECORDING_DIR = "OTEL_INSTRUMENTATION_REALTIME_AI_RECORDING_DIR"
ENV_LIVEKIT_NATIVE_GENAI = "OTEL_INSTRUMENTATION_REALTIME_AI_LIVEKIT_NATIVE_GENAI"

EXPORTERS = ("stdout", "console", "tree", "otlp", "otlp_http", "otlp_file", "none")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class ConfigError(ValueError):
    """A setting has a value the package does not accept."""


def parse_bool(setting: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{setting}={value!r} is not a boolean; accepted values: True, False, or the strings true, false, 1, 0, yes, no"
    )


def _number(setting: str, value: object, accepted: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{setting}={value!r} is not a number; accepted values: {accepted}")
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{setting}={value!r} is not a number; accepted values: {accepted}") from None


def parse_ratio(setting: str, value: object) -> float:
    ratio = _number(setting, value, "0.0 to 1.0")
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"{setting}={value!r} is out of range; accepted values: 0.0 to 1.0")
    return ratio


def parse_seconds(setting: str, value: object) -> float:
    seconds = _number(setting, value, "seconds, more than 0")
    if not seconds > 0:
        raise ConfigError(f"{setting}={value!r} is out of range; accepted values: seconds, more than 0")
    return seconds


def parse_frameworks(setting: str, value: object) -> tuple[str, ...]:
    accepted = f"a comma-separated string or a list of names among {', '.join(FRAMEWORKS)}"
    if isinstance(value, str):
        names: list[object] = list(value.split(","))
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = list(value)
    else:
        raise ConfigError(f"{setting}={value!r} is not a list of frameworks; accepted values: {accepted}")
    texts = [name for name in names if isinstance(name, str)]
    if len(texts) != len(names):
        raise ConfigError(f"{setting}={value!r} is not a list of frameworks; accepted values: {accepted}")
    chosen = tuple(name.strip().lower() for name in texts if name.strip())
    unknown = [name for name in chosen if name not in FRAMEWORKS]
    if unknown:
        raise ConfigError(f"{setting}={value!r} names {unknown}; accepted values: {', '.join(FRAMEWORKS)}")
    return chosen


def parse_exporter(setting: str, value: object) -> str:
    exporter = value.strip().lower() if isinstance(value, str) else None
    if exporter not in EXPORTERS:
        raise ConfigError(f"{setting}={value!r} is not an exporter; accepted values: {', '.join(EXPORTERS)}")
    return "stdout" if exporter == "console" else exporter


def parse_directory(setting: str, value: object) -> str | None:
    """A directory to write into, made if missing; empty means off."""
    accepted = "a writable directory path, or empty for off"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{setting}={value!r} is not a directory path; accepted values: {accepted}")
    path = os.path.abspath(os.fspath(value).strip())  # type: ignore[arg-type]
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"{setting}={value!r} cannot be made ({error.strerror}); accepted values: {accepted}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}={value!r} is not writable; accepted values: {accepted}")
    return path


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


@dataclass
class Config:
    """What ``initialize()`` sets up: the seed's ``Config``.

    A field left ``None`` is not a setting: the standard ``OTEL_*`` variables decide (the SDK
    and its exporters read them), and where those are unset too the seed's defaults apply
    (service ``realtime-ai`` ``0.1.0``, environment ``development``, the ``stdout`` exporter,
    every trace sampled). ``from_env`` reads the seed's own variables only.
    """

    service_name: str | None = None
    service_version: str | None = None
    environment: str | None = None
    exporter: str | None = None
    otlp_endpoint: str | None = None
    sampling_rate: float | None = None
    otlp_file: str | None = None
    """Where the ``otlp_file`` exporter appends its OTLP JSON lines."""
    metrics: bool = True
    resource_attributes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The seed's variables: ``TRACE_EXPORTER``, ``TRACE_SAMPLING_RATE``, ``ENVIRONMENT``, and a bare
        ``host:port`` in ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a URL there is the exporters' to read)."""
        env = os.environ if env is None else env
        endpoint = env.get(OTEL_EXPORTER_OTLP_ENDPOINT, "").strip()
        config = cls(
            environment=env.get(ENVIRONMENT) or None,
            exporter=parse_exporter(TRACE_EXPORTER, env[TRACE_EXPORTER]) if TRACE_EXPORTER in env else None,
            otlp_endpoint=endpoint if "://" not in endpoint and endpoint else None,
            otlp_file=env.get(ENV_OTLP_FILE) or None,
        )
        if TRACE_SAMPLING_RATE in env:
            config.sampling_rate = parse_ratio(TRACE_SAMPLING_RATE, env[TRACE_SAMPLING_RATE])
        if endpoint:  # checked in either form, so that a typo fails here and not at the first export
            parse_endpoint(OTEL_EXPORTER_OTLP_ENDPOINT, endpoint, config.exporter or "otlp")
        config.validate()
        return config

    def validate(self) -> None:
        """Check every field; raise ``ConfigError`` on the first bad one."""
        for name in ("service_name", "service_version", "environment", "otlp_endpoint", "otlp_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"Config.{name}={value!r} must be a string or None")
        if not isinstance(self.resource_attributes, dict):
            raise ConfigError(f"Config.resource_attributes={self.resource_attributes!r} must be a dict")
        self.metrics = parse_bool("Config.metrics", self.metrics)
        if self.exporter is not None:
            self.exporter = parse_exporter("Config.exporter", self.exporter)
        if self.sampling_rate is not None:
            self.sampling_rate = parse_ratio("Config.sampling_rate", self.sampling_rate)
        if self.otlp_endpoint is not None:
            self.endpoint()
        if self.exporter == "otlp_file" and not self.otlp_file:
            raise ConfigError(
                f"the otlp_file exporter needs Config.otlp_file or {ENV_OTLP_FILE}; accepted values: a writable file path"
            )

    def endpoint(self) -> Endpoint | None:
        """The endpoint given as a setting, in the form the exporter takes; None leaves it to the exporter."""
        if self.otlp_endpoint is None:
            return None
        return parse_endpoint("Config.otlp_endpoint", self.otlp_endpoint, self.exporter or "otlp")


def sdk_disabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return parse_bool(OTEL_SDK_DISABLED, env.get(OTEL_SDK_DISABLED, "false"))


def _option(variable: str, parse: Callable[[str, object], object], default: object) -> Any:
    """A dataclass field that is also a setting: its variable and parser are declared with it."""
    return field(default=default, metadata={"variable": variable, "parse": parse})


@dataclass(frozen=True)
class Options:
    """What the instrumentation records; ``instrument(**kwargs)`` overrides the environment.

    Each option is declared once, with its ``OTEL_INSTRUMENTATION_*`` variable and its parser.
    """

    frame_spans: bool = _option(ENV_FRAME_SPANS, parse_bool, False)
    frame_span_sampling_ratio: float = _option(ENV_FRAME_SPAN_RATIO, parse_ratio, 1.0)
    trace_per_turn: bool = _option(ENV_TRACE_PER_TURN, parse_bool, False)
    capture_content: bool = _option(ENV_CAPTURE_CONTENT, parse_bool, False)
    frameworks: tuple[str, ...] = _option(ENV_FRAMEWORKS, parse_frameworks, FRAMEWORKS)
    log_correlation: bool = _option(ENV_LOG_CORRELATION, parse_bool, True)
    export_logs: bool = _option(ENV_EXPORT_LOGS, parse_bool, False)
    shutdown_timeout: float = _option(ENV_SHUTDOWN_TIMEOUT, parse_seconds, 3.0)
    event_loop_block_threshold: float = _option(ENV_EVENT_LOOP_BLOCK_THRESHOLD, parse_seconds, 0.1)
    webrtc_stats_interval: float = _option(ENV_WEBRTC_STATS_INTERVAL, parse_seconds, 5.0)
    audio_gap_threshold: float = _option(ENV_AUDIO_GAP_THRESHOLD, parse_seconds, 0.1)
    replay_dir: str | None = _option(ENV_REPLAY_DIR, parse_directory, None)
    recording_dir: str | None = _option(ENV_RECORDING_DIR, parse_directory, None)
    livekit_native_genai: bool = _option(ENV_LIVEKIT_NATIVE_GENAI, parse_bool, False)

    @classmethod
    def resolve(cls, kwargs: Mapping[str, object], env: Mapping[str, str] | None = None) -> Options:
        env = os.environ if env is None else env
        values = {}
        for option in fields(cls):
            variable, parse = option.metadata["variable"], option.metadata["parse"]
            if option.name in kwargs:
                values[option.name] = parse(option.name, kwargs[option.name])
            elif variable in env:
                values[option.name] = parse(variable, env[variable])
        return cls(**values)


OPTION_NAMES = tuple(option.name for option in fields(Options))
