"""Every setting, read from the environment and checked: bad values name the setting and what it accepts."""

from __future__ import annotations

import pytest

from opentelemetry_instrumentation_realtime_ai.config import Config, ConfigError, Options, sdk_disabled


def test_defaults_are_the_seeds():
    config = Config.from_env({})
    assert (config.service_name, config.service_version, config.environment) == (
        "realtime-ai",
        "0.1.0",
        "development",
    )
    assert config.exporter == "stdout"
    assert config.sampling_rate == 1.0
    assert config.endpoint().url == "http://localhost:4317"
    assert config.endpoint().insecure is True


@pytest.mark.parametrize(
    "value, expected",
    [
        ("stdout", "stdout"),
        ("console", "stdout"),
        ("OTLP", "otlp"),
        ("otlp_http", "otlp_http"),
        ("none", "none"),
    ],
)
def test_trace_exporter(value, expected):
    assert Config.from_env({"TRACE_EXPORTER": value}).exporter == expected


def test_unknown_exporter_names_setting_and_choices():
    with pytest.raises(
        ConfigError, match=r"TRACE_EXPORTER='jaegr'.*stdout, console, tree, otlp, otlp_http, none"
    ):
        Config.from_env({"TRACE_EXPORTER": "jaegr"})


def test_environment_and_service_name():
    config = Config.from_env({"ENVIRONMENT": "production", "OTEL_SERVICE_NAME": "voice-bot"})
    assert (config.environment, config.service_name) == ("production", "voice-bot")


def test_service_name_from_resource_attributes():
    config = Config.from_env({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-resource,team=voice"})
    assert config.service_name == "from-resource"
    assert config.resource_attributes == {"service.name": "from-resource", "team": "voice"}


@pytest.mark.parametrize(
    "endpoint, exporter, url, insecure",
    [
        ("collector:4317", "otlp", "http://collector:4317", True),
        ("http://collector:4317", "otlp", "http://collector:4317", True),
        ("https://otlp.example.com", "otlp", "https://otlp.example.com", False),
        ("collector:4318", "otlp_http", "http://collector:4318/v1/traces", True),
        ("https://otlp.example.com/v1/traces", "otlp_http", "https://otlp.example.com/v1/traces", False),
        ("[::1]:4317", "otlp", "http://[::1]:4317", True),
    ],
)
def test_endpoint_forms(endpoint, exporter, url, insecure):
    config = Config.from_env({"TRACE_EXPORTER": exporter, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert config.endpoint().url == url
    assert config.endpoint().insecure is insecure


@pytest.mark.parametrize(
    "endpoint",
    [
        "localhost",
        "localhost:99999",
        "ftp://host:21",
        "http://",
        "host:port",
        "http://host:abc",
        "two words:4317",
    ],
)
def test_malformed_endpoint(endpoint):
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_ENDPOINT|otlp_endpoint.*host:port"):
        Config.from_env({"TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})


def test_sampling_rate_variable():
    assert Config.from_env({"TRACE_SAMPLING_RATE": "0.25"}).sampling_rate == 0.25


@pytest.mark.parametrize("value", ["1.5", "-0.1", "half"])
def test_bad_sampling_rate(value):
    with pytest.raises(ConfigError, match=r"TRACE_SAMPLING_RATE=.*0\.0 to 1\.0"):
        Config.from_env({"TRACE_SAMPLING_RATE": value})


def test_bad_sampling_rate_in_code():
    with pytest.raises(ConfigError, match=r"Config.sampling_rate=1.5.*0\.0 to 1\.0"):
        Config(sampling_rate=1.5).validate()


@pytest.mark.parametrize(
    "sampler, arg, rate",
    [
        ("always_on", None, 1.0),
        ("always_off", None, 0.0),
        ("parentbased_always_off", None, 0.0),
        ("traceidratio", "0.1", 0.1),
        ("parentbased_traceidratio", "0.5", 0.5),
    ],
)
def test_standard_sampler_variables(sampler, arg, rate):
    env = {"OTEL_TRACES_SAMPLER": sampler, **({"OTEL_TRACES_SAMPLER_ARG": arg} if arg else {})}
    assert Config.from_env(env).sampling_rate == rate


def test_unknown_sampler():
    with pytest.raises(ConfigError, match=r"OTEL_TRACES_SAMPLER='jaeger_remote'.*parentbased_traceidratio"):
        Config.from_env({"OTEL_TRACES_SAMPLER": "jaeger_remote"})


def test_bad_sampler_arg():
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER_ARG"):
        Config.from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})


def test_sdk_disabled():
    assert sdk_disabled({"OTEL_SDK_DISABLED": "true"}) is True
    assert sdk_disabled({}) is False
    with pytest.raises(ConfigError, match="OTEL_SDK_DISABLED='maybe'.*true, false"):
        sdk_disabled({"OTEL_SDK_DISABLED": "maybe"})


def test_options_from_environment():
    options = Options.resolve(
        {},
        {
            "OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPANS": "true",
            "OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPAN_SAMPLING_RATIO": "0.05",
            "OTEL_INSTRUMENTATION_REALTIME_AI_TRACE_PER_TURN": "1",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "yes",
            "OTEL_INSTRUMENTATION_REALTIME_AI_FRAMEWORKS": "pipecat",
        },
    )
    assert options == Options(True, 0.05, True, True, ("pipecat",))


def test_keyword_arguments_override_environment():
    options = Options.resolve(
        {"frame_spans": False}, {"OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPANS": "true"}
    )
    assert options.frame_spans is False


@pytest.mark.parametrize(
    "kwargs, env, message",
    [
        (
            {},
            {"OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPANS": "sometimes"},
            "OTEL_INSTRUMENTATION_REALTIME_AI_FRAME_SPANS='sometimes'.*true, false",
        ),
        ({"frame_span_sampling_ratio": 3}, {}, "frame_span_sampling_ratio=3.*0.0 to 1.0"),
        (
            {},
            {"OTEL_INSTRUMENTATION_REALTIME_AI_FRAMEWORKS": "pipecat,livekat"},
            "livekat.*accepted values: pipecat",
        ),
        ({"trace_per_turn": "perhaps"}, {}, "trace_per_turn='perhaps'"),
    ],
)
def test_bad_options(kwargs, env, message):
    with pytest.raises(ConfigError, match=message):
        Options.resolve(kwargs, env)


@pytest.mark.parametrize(
    "env, exporter",
    [
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "otlp_http"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "stdout"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "none"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "TRACE_EXPORTER": "stdout"}, "stdout"),
    ],
)
def test_standard_exporter_variables(env, exporter):
    assert Config.from_env(env).exporter == exporter


def test_unsupported_standard_exporter_values():
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER='zipkin'.*console, otlp, none"):
        Config.from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL='http/json'.*grpc, http/protobuf"):
        Config.from_env({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
