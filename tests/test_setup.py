"""initialize(), shutdown() and the entry point, each in a fresh process: global providers are set once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CLI = [str(BIN / "opentelemetry-instrument"), "--traces_exporter", "console", "--metrics_exporter", "none",
       "--logs_exporter", "none"]  # fmt: skip


def run(
    code: str, *, env: dict[str, str] | None = None, command: list[str] | None = None, timeout: float = 90
):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACE_"))}
    full_env.update(env or {})
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    args = [*(command or []), sys.executable if not command else "python", "-c", textwrap.dedent(code)]
    return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=timeout)


def test_initialize_sets_up_sdk_and_instruments():
    result = run(
        """
        import json
        from opentelemetry import trace, metrics, propagate
        import opentelemetry_instrumentation_realtime_ai as rt
        from opentelemetry_instrumentation_realtime_ai import Config, RealtimeAIInstrumentor
        config = rt.initialize(Config(service_name="svc", environment="staging", sampling_rate=0.5, exporter="tree"))
        assert rt.initialize() is config  # a second call is harmless
        provider = trace.get_tracer_provider()
        with rt.start_span("hello"):
            pass
        print("RESULT", json.dumps({
            "provider": type(provider).__module__,
            "resource": dict(provider.resource.attributes),
            "sampler": provider.sampler.get_description(),
            "propagators": sorted(propagate.get_global_textmap().fields),
            "instrumented": RealtimeAIInstrumentor().is_instrumented_by_opentelemetry,
            "meter": type(metrics.get_meter_provider()).__module__,
        }))
        rt.shutdown()
        """
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["provider"] == "opentelemetry.sdk.trace"
    assert out["resource"]["service.name"] == "svc"
    assert out["resource"]["deployment.environment.name"] == "staging"
    assert out["resource"]["environment"] == "staging"
    assert "TraceIdRatioBased{0.5}" in out["sampler"] and out["sampler"].startswith("ParentBased")
    assert {"traceparent", "baggage"} <= set(out["propagators"])
    assert out["instrumented"] is True
    assert out["meter"] == "opentelemetry.sdk.metrics._internal"


def test_exporter_none_is_the_no_op_mode():
    result = run(
        """
        from opentelemetry import trace
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize(rt.Config(exporter="none"))
        with rt.start_span("nothing") as span:
            print("recording", span.is_recording(), "instrumented", rt.RealtimeAIInstrumentor().is_instrumented_by_opentelemetry)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "recording False instrumented True" in result.stdout


def test_stdout_exporter_prints_spans_at_shutdown():
    result = run(
        """
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize()
        with rt.start_span("visible.work"):
            pass
        rt.shutdown()
        """,
        env={"TRACE_EXPORTER": "stdout"},
    )
    assert result.returncode == 0, result.stderr
    assert '"name": "visible.work"' in result.stdout
    assert "can only be called once" not in result.stderr  # the exit hook knows shutdown() already ran


def test_existing_sdk_provider_is_reused_with_one_warning():
    result = run(
        """
        import logging
        logging.basicConfig(level=logging.WARNING)
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize()
        rt.initialize()
        assert trace.get_tracer_provider() is mine
        print("same provider")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "same provider" in result.stdout
    assert result.stderr.count("already configured") == 1
    assert "Overriding of current TracerProvider is not allowed" not in result.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TRACE_EXPORTER": "jaegr"}, "TRACE_EXPORTER='jaegr'"),
        ({"TRACE_SAMPLING_RATE": "1.5"}, "TRACE_SAMPLING_RATE='1.5'"),
        ({"TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "nohost"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_bad_setting_fails_initialize_clearly(env, message):
    result = run("import opentelemetry_instrumentation_realtime_ai as rt; rt.initialize()", env=env)
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and message in result.stderr


def test_sdk_disabled_instruments_nothing():
    result = run(
        """
        from opentelemetry import trace
        import opentelemetry_instrumentation_realtime_ai as rt
        from pipecat.processors.frame_processor import FrameProcessor
        rt.initialize()
        hooked = hasattr(FrameProcessor.__dict__["_FrameProcessor__process_frame"], "__wrapped__")
        print("provider", type(trace.get_tracer_provider()).__name__, "hooked", hooked)
        """,
        env={"OTEL_SDK_DISABLED": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert "hooked False" in result.stdout
    assert "provider ProxyTracerProvider" in result.stdout


def test_opentelemetry_instrument_loads_the_entry_point():
    result = run(
        """
        from opentelemetry import trace
        from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor
        from pipecat.processors.frame_processor import FrameProcessor
        from pipecat.services.llm_service import LLMService
        print("instrumented", RealtimeAIInstrumentor().is_instrumented_by_opentelemetry)
        print("dispatcher", hasattr(FrameProcessor.__dict__["_FrameProcessor__process_frame"], "__wrapped__"))
        print("llm", hasattr(LLMService.__dict__["push_frame"], "__wrapped__"))
        print("provider", type(trace.get_tracer_provider()).__module__)
        """,
        command=CLI,
    )
    assert result.returncode == 0, result.stderr
    assert "instrumented True" in result.stdout
    assert "dispatcher True" in result.stdout and "llm True" in result.stdout
    assert "provider opentelemetry.sdk.trace" in result.stdout


def test_disabled_instrumentations_variable_is_honoured():
    result = run(
        "from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor as I;"
        "print('instrumented', I().is_instrumented_by_opentelemetry)",
        env={"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "realtime_ai"},
        command=CLI,
    )
    assert result.returncode == 0, result.stderr
    assert "instrumented False" in result.stdout


def test_uninstrument_restores_every_original(instrument):
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

    classes = (FrameProcessor, LLMService, STTService, TTSService)
    before = {(c, k): v for c in classes for k, v in vars(c).items()}
    instrument()
    hooked = [
        (c, k)
        for c in classes
        for k, v in vars(c).items()
        if v is not before.get((c, k)) and hasattr(v, "__wrapped__")
    ]
    assert len(hooked) >= 5  # the dispatcher, three push_frame, start_llm_usage_metrics
    RealtimeAIInstrumentor().uninstrument()
    after = {(c, k): v for c in classes for k, v in vars(c).items()}
    assert after == before


def test_unknown_instrument_argument_is_rejected():
    from opentelemetry_instrumentation_realtime_ai import ConfigError, RealtimeAIInstrumentor

    with pytest.raises(ConfigError, match=r"frame_span\b.*accepted arguments: .*frame_spans"):
        RealtimeAIInstrumentor().instrument(frame_span=True)
    assert not RealtimeAIInstrumentor().is_instrumented_by_opentelemetry


def _json_objects(text: str) -> list[dict]:
    decoder, objects, index = json.JSONDecoder(), [], 0
    while (start := text.find("{", index)) != -1:
        try:
            obj, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        objects.append(obj)
    return objects


def test_unchanged_pipecat_app_under_opentelemetry_instrument():
    bot_py = Path(__file__).resolve().parent.parent / "examples" / "tracing_demo" / "bot.py"
    args = [*CLI, "python", str(bot_py), "--fast", "--turns", "2", "--interrupt-turn", "0",
            "--conversation-id", "cli-call"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACE_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ended_by=end" in result.stdout
    spans = [o for o in _json_objects(result.stdout) if "context" in o and "name" in o]
    by_name: dict[str, list[dict]] = {}
    for span in spans:
        by_name.setdefault(span["name"].split(" ")[0], []).append(span)
    (run,) = by_name["pipeline.run"]
    assert run["attributes"]["session.id"] == "cli-call"
    turns = by_name["conversation.turn"]
    assert len(turns) == 2 and all(t["parent_id"] == run["context"]["span_id"] for t in turns)
    turn_ids = {t["context"]["span_id"] for t in turns}
    assert len(by_name["chat"]) == 2 and {c["parent_id"] for c in by_name["chat"]} == turn_ids
    ours = [
        s
        for s in spans
        if s["name"].split(" ")[0] in ("conversation.turn", "chat", "speech_to_text", "text_to_speech")
    ]
    assert {s["context"]["trace_id"] for s in ours} == {run["context"]["trace_id"]}


def test_transports_are_hooked_when_the_app_imports_them():
    result = run(
        """
        import sys, wrapt
        from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor
        RealtimeAIInstrumentor().instrument()
        print("loaded early", "aiortc" in sys.modules or "fastapi" in sys.modules)
        from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
        from pipecat.transports.websocket.client import WebsocketClientTransport
        print("webrtc", isinstance(SmallWebRTCConnection.__dict__["_close"], wrapt.FunctionWrapper))
        print("websocket", isinstance(WebsocketClientTransport.__dict__["_call_event_handler"], wrapt.FunctionWrapper))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded early False" in result.stdout
    assert "webrtc True" in result.stdout and "websocket True" in result.stdout


def test_instruments_extra_mirrors_the_package():
    from importlib.metadata import requires

    from opentelemetry_instrumentation_realtime_ai.package import _instruments_any

    extra = [r.split(";")[0].replace(" ", "") for r in requires("opentelemetry-instrumentation-realtime-ai") or []
             if "instruments-any" in r]  # fmt: skip
    assert sorted(extra) == sorted(r.replace(" ", "") for r in _instruments_any)  # the wheel lists them sorted


def _initialized(env: dict[str, str], config: str = "") -> dict:
    """initialize() in a fresh process; what it built."""
    result = run(
        f"""
        import json
        from opentelemetry import trace, metrics
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize({config})
        provider, meters = trace.get_tracer_provider(), metrics.get_meter_provider()
        processors = provider._active_span_processor._span_processors
        print("RESULT", json.dumps({{
            "resource": dict(provider.resource.attributes),
            "sampler": provider.sampler.get_description(),
            "span_exporters": [type(p.span_exporter).__name__ for p in processors],
            "metric_exporters": [type(r._exporter).__name__ for r in meters._metric_readers],
        }}))
        rt.shutdown()
        """,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_standard_resource_variables_are_the_sdks():
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=2.3.4,deployment.environment.name=prod%20eu,team=voice",
        "OTEL_SERVICE_NAME": "voice-bot",
        "TRACE_EXPORTER": "none",
    }
    resource = _initialized({**env, "TRACE_EXPORTER": "tree"})["resource"]
    assert resource["service.name"] == "voice-bot" and resource["service.version"] == "2.3.4"
    assert resource["deployment.environment.name"] == "prod eu"  # percent-decoded, by the SDK
    assert resource["environment"] == "prod eu" and resource["team"] == "voice"
    # Only an explicit setting overrides the environment.
    explicit = _initialized({**env, "TRACE_EXPORTER": "tree"}, 'rt.Config(environment="staging")')["resource"]
    assert explicit["deployment.environment.name"] == "staging" and explicit["service.version"] == "2.3.4"
    # With nothing set, the seed's defaults.
    seed = _initialized({"TRACE_EXPORTER": "tree"})["resource"]
    assert (seed["service.name"], seed["service.version"], seed["deployment.environment.name"]) == (
        "realtime-ai",
        "0.1.0",
        "development",
    )


@pytest.mark.parametrize(
    "env, sampler",
    [
        ({"OTEL_TRACES_SAMPLER": "always_on"}, "AlwaysOnSampler"),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}, "TraceIdRatioBased{0.1}"),
        ({}, "ParentBased{root:AlwaysOnSampler"),  # the SDK's default
        ({"TRACE_SAMPLING_RATE": "0.5", "OTEL_TRACES_SAMPLER": "always_on"}, "ParentBased{root:TraceIdRatioBased{0.5}"),
    ],
)
def test_the_sdk_reads_the_standard_sampler_variables(env, sampler):
    assert _initialized({**env, "TRACE_EXPORTER": "tree"})["sampler"].startswith(sampler)


@pytest.mark.parametrize(
    "env, spans, metrics",
    [
        ({"TRACE_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "console"}, ["OTLPSpanExporter"], ["ConsoleMetricExporter"]),
        ({"TRACE_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"}, ["OTLPSpanExporter"], []),
        ({"TRACE_EXPORTER": "stdout"}, ["ConsoleSpanExporter"], ["ConsoleMetricExporter"]),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "otlp"}, ["ConsoleSpanExporter"], ["OTLPMetricExporter"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["ConsoleSpanExporter"], ["OTLPMetricExporter"]),  # the spec's default
        ({"OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_METRICS_EXPORTER": "none"}, ["ConsoleSpanExporter", "OTLPSpanExporter"], []),
    ],
)
def test_metrics_go_where_the_metrics_variable_says(env, spans, metrics):
    built = _initialized(env)
    assert (built["span_exporters"], built["metric_exporters"]) == (spans, metrics)


def test_unknown_standard_exporter_is_a_config_error():
    result = run("import opentelemetry_instrumentation_realtime_ai as rt; rt.initialize()",
                 env={"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_METRICS_EXPORTER": "none"})  # fmt: skip
    assert result.returncode != 0
    assert "ConfigError" in result.stderr and "OTEL_TRACES_EXPORTER='zipkin'" in result.stderr


def test_providers_set_after_instrument_are_the_apps_to_shut_down():
    result = run(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
        from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

        class Counting(SpanExporter):
            def export(self, spans):
                return SpanExportResult.SUCCESS
            def shutdown(self):
                print("exporter shut down")

        RealtimeAIInstrumentor().instrument()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Counting()))
        trace.set_tracer_provider(provider)
        print("app done")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["app done", "exporter shut down"]  # once, by the SDK's own exit hook
    assert "can only be called once" not in result.stderr


def test_initialize_bounds_the_exit_flush_of_what_it_created():
    code = """
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize()
        with rt.start_span("work"):
            pass
        print("app done")
    """
    env = {"TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:9",
           "OTEL_INSTRUMENTATION_REALTIME_AI_SHUTDOWN_TIMEOUT": "1"}  # fmt: skip
    import time

    start = time.monotonic()
    result = run(code, env=env)
    assert result.returncode == 0, result.stderr
    # a fresh interpreter's imports take several seconds on a loaded CI machine; the exporter's own retries
    # would take tens of seconds: the message says our 1 s bound is what ended the flush
    assert time.monotonic() - start < 15
    assert "not exported within 1.0 s" in result.stderr
    assert "can only be called once" not in result.stderr


def test_keywords_other_components_pass_are_accepted(instrument):
    from opentelemetry.sdk._logs import LoggerProvider

    otel = instrument(logger_provider=LoggerProvider())
    import opentelemetry_instrumentation_realtime_ai as rt

    rt.instrument_llm_request("openai", "gpt-4o").end()
    assert otel.one("chat gpt-4o")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frame_spans": 1}, "frame_spans=1 is not a boolean"),
        ({"capture_content": None}, "capture_content=None is not a boolean"),
        ({"frameworks": None}, "frameworks=None is not a list of frameworks"),
    ],
)
def test_bad_instrument_values_are_config_errors(kwargs, message):
    from opentelemetry_instrumentation_realtime_ai import ConfigError, RealtimeAIInstrumentor

    with pytest.raises(ConfigError, match=message):
        RealtimeAIInstrumentor().instrument(**kwargs)
    assert not RealtimeAIInstrumentor().is_instrumented_by_opentelemetry
