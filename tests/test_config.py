"""Every setting, read from the environment and checked: bad values name the setting and what it accepts."""

from __future__ import annotations

import pytest

from opentelemetry_instrumentation_realtime_ai.config import Config, ConfigError, Options, sdk_disabled


def test_from_env_reads_only_the_seeds_variables():
    """The standard OTEL_* variables are the SDK's: from_env leaves every field they cover unset."""
    env = {
        "OTEL_SERVICE_NAME": "voice-bot",
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=2.3.4",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com:4317",
    }
    assert Config.from_env(env) == Config()
    assert Config.from_env({}) == Config()
    assert Config().endpoint() is None  # the exporter reads its own variables


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
        ConfigError, match=r"TRACE_EXPORTER='jaegr'.*stdout, console, tree, otlp, otlp_http, otlp_file, none"
    ):
        Config.from_env({"TRACE_EXPORTER": "jaegr"})


def test_seed_variables_map_onto_settings():
    config = Config.from_env(
        {"ENVIRONMENT": "production", "TRACE_SAMPLING_RATE": "0.25", "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}
    )
    assert (config.environment, config.sampling_rate) == ("production", 0.25)
    # The seed's bare host:port is mapped (the exporters would not understand it); a URL is not.
    assert config.otlp_endpoint == "collector:4317"
    assert config.endpoint().url == "http://collector:4317" and config.endpoint().insecure is True


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
    config = Config(exporter=exporter, otlp_endpoint=endpoint)
    config.validate()
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
    "kwargs, message",
    [
        ({"frame_spans": 1}, r"frame_spans=1 is not a boolean; accepted values: True, False"),
        ({"capture_content": None}, r"capture_content=None is not a boolean"),
        ({"frameworks": None}, r"frameworks=None is not a list of frameworks; accepted values: .*pipecat"),
        ({"frameworks": [1]}, r"frameworks=\[1\] is not a list of frameworks"),
        ({"frame_span_sampling_ratio": "lots"}, r"frame_span_sampling_ratio='lots' is not a number; .*0.0 to 1.0"),
        ({"frame_span_sampling_ratio": True}, r"frame_span_sampling_ratio=True is not a number"),
        ({"shutdown_timeout": None}, r"shutdown_timeout=None is not a number; .*seconds"),
        ({"log_correlation": "sure"}, r"log_correlation='sure' is not a boolean"),
    ],
)
def test_option_values_of_the_wrong_type_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Options.resolve(kwargs, {})


def test_every_option_has_a_variable_and_a_parser():
    from dataclasses import fields

    for option in fields(Options):
        assert option.metadata["variable"].startswith("OTEL_INSTRUMENTATION_"), option.name
        # The default goes through its own parser unchanged.
        assert option.metadata["parse"](option.name, option.default) == option.default, option.name


def test_frameworks_follow_the_supported_table():
    from opentelemetry_instrumentation_realtime_ai.package import SUPPORTED

    assert Options().frameworks == tuple(SUPPORTED)
    with pytest.raises(ConfigError, match=f"accepted values: {', '.join(SUPPORTED)}"):
        Options.resolve({"frameworks": "livekat"}, {})


@pytest.mark.parametrize(
    "config, message",
    [
        (Config(exporter=3), r"Config.exporter=3 is not an exporter"),  # type: ignore[arg-type]
        (Config(service_name=5), r"Config.service_name=5 must be a string"),  # type: ignore[arg-type]
        (Config(metrics="maybe"), r"Config.metrics='maybe' is not a boolean"),  # type: ignore[arg-type]
        (Config(otlp_endpoint="collector"), r"Config.otlp_endpoint='collector'.*host:port"),
    ],
)
def test_bad_config_fields(config, message):
    with pytest.raises(ConfigError, match=message):
        config.validate()
