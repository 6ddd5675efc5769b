"""End to end: the unchanged demo bot under ``opentelemetry-instrument``, exporting to a real backend.

What a user does: ``opentelemetry-instrument python app.py`` with the standard ``OTEL_*``
variables, then looks at the traces in their backend. Here the app is
``examples/tracing_demo/bot.py`` (no OpenTelemetry in it), run in a subprocess, and the
backend is a real Arize Phoenix (``tests/phoenix_backend.py``) reached over OTLP/gRPC and
OTLP/HTTP; the spans are read back through Phoenix's REST API.

The second half runs the same app with the exporter pointing at a closed loopback port:
the app must not notice (same output, exit 0, about the same wall time) and the export
failure must be logged a handful of times, not once per span.

Needs Phoenix in its own virtualenv (``tests/requirements-phoenix.txt``) and
``PHOENIX_BIN`` pointing at its ``bin/phoenix``; ``tox -e e2e`` sets that up. Without it
the whole module is skipped.

Other installed instrumentations of Pipecat (``openinference-instrumentation-pipecat``
is in some test environments) are switched off with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``:
they write their own traces, and living next to them is tested in
``test_pipecat_coexistence.py``. Standard-library instrumentations (``logging``) stay on.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from phoenix_backend import PhoenixError, PhoenixServer, find_phoenix_bin

try:
    PHOENIX_BIN = find_phoenix_bin()
except PhoenixError as exc:
    pytest.skip(
        f"Arize Phoenix is not installed, so there is no OTLP backend to test against ({exc}). "
        "Run `tox -e e2e`, or install tests/requirements-phoenix.txt into its own venv and set PHOENIX_BIN.",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "examples" / "tracing_demo" / "bot.py"
BIN = Path(sys.executable).parent
TURNS = 3
CONVERSATION_ID = "e2e-conversation-1"
BOT_ARGS = ["--fast", "--turns", str(TURNS), "--conversation-id", CONVERSATION_ID]
PROTOCOLS = ["grpc", "http/protobuf"]

# Exporter-down bounds: "about the same wall time" and "a handful" of log lines.
MAX_EXTRA_SECONDS = 10.0
MAX_EXPORT_ERROR_LINES = 5
# What the OTLP exporters and the SDK's batch processor log when an export fails.
EXPORT_ERROR_LINE = re.compile(
    r"^(Transient error|Failed to export|Shutdown in progress, aborting retry|Exception while exporting"
    r"|opentelemetry-instrumentation-realtime-ai: telemetry not exported)",
    re.MULTILINE,
)


def _foreign_instrumentations() -> str:
    """Entry points of other distributions that instrument Pipecat-level code (not stdlib ones)."""
    ours = "opentelemetry-instrumentation-realtime-ai"
    names = []
    for ep in entry_points(group="opentelemetry_instrumentor"):
        dist = getattr(ep, "dist", None)
        dist_name = (dist.name if dist else "").lower().replace("_", "-")
        if dist_name not in (ours, "opentelemetry-instrumentation-logging"):
            names.append(ep.name)
    return ",".join(sorted(set(names)))


def run_demo(env: dict[str, str] | None = None, *, instrumented: bool = True, timeout: float = 150):
    """Run the demo bot in a fresh process; returns (CompletedProcess, wall seconds)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACE_"))}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    full_env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = _foreign_instrumentations()
    full_env.update(env or {})
    if instrumented:
        args = [str(BIN / "opentelemetry-instrument"), "python", str(BOT), *BOT_ARGS]
    else:
        args = [sys.executable, str(BOT), *BOT_ARGS]
    started = time.monotonic()
    result = subprocess.run(
        args,
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return result, time.monotonic() - started


def otel_env(protocol: str, endpoint: str, project: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
    }


def unique_project(protocol: str) -> str:
    return f"e2e-{protocol.split('/')[0]}-{uuid.uuid4().hex[:8]}"


def normalised_output(stdout: str) -> list[str]:
    """The demo's summary lines with what depends on timing replaced.

    Timing-dependent: the session duration, the seconds of audio played, the number of TTS
    requests and whether the interrupted answer (turn 2) got stored at all: how far it got before
    the barge-in.
    """
    lines = []
    for line in stdout.splitlines():
        if line.startswith("  bot:  Reply 2."):
            continue
        line = re.sub(r" in [0-9.]+s:", " in <t>s:", line)
        line = re.sub(r"[0-9.]+s audio out", "<t>s audio out", line)
        line = re.sub(r"\d+ TTS requests", "<n> TTS requests", line)
        lines.append(line)
    return lines


def failed(result: subprocess.CompletedProcess) -> str:
    return f"exit code {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr[-6000:]}"


@pytest.fixture(scope="module")
def phoenix():
    """ONE Phoenix for the module; each test writes to its own project."""
    with PhoenixServer(PHOENIX_BIN) as server:
        print(f"phoenix {PHOENIX_BIN} ready in {server.startup_seconds:.1f}s")
        yield server


# ---------------------------------------------------------------------------------------- traces
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_demo_traces_arrive_in_phoenix(phoenix, protocol, record_property):
    project = unique_project(protocol)
    endpoint = phoenix.grpc_endpoint if protocol == "grpc" else phoenix.http_endpoint
    result, wall = run_demo(otel_env(protocol, endpoint, project))
    record_property("wall_seconds", round(wall, 2))
    print(f"{protocol}: demo under opentelemetry-instrument exited {result.returncode} in {wall:.2f}s")
    assert result.returncode == 0, failed(result)
    assert f"[{CONVERSATION_ID}] ended_by=end" in result.stdout, failed(result)
    assert not EXPORT_ERROR_LINE.search(result.stderr), failed(result)

    expected = 1 + TURNS * 4  # pipeline.run, and per turn: turn, STT, LLM, TTS
    spans = phoenix.spans(project, timeout=60, min_count=expected, settle=1.0)
    names = sorted(s["name"] for s in spans)
    print(f"{protocol}: {len(spans)} spans in project {project}: {names}")
    by_id = {s["span_id"]: s for s in spans}

    # One session span, the root of everything.
    runs = [s for s in spans if s["name"] == "pipeline.run"]
    assert len(runs) == 1, names
    run = runs[0]
    assert run["parent_id"] is None
    assert run["attributes"]["session.id"] == CONVERSATION_ID
    assert run["attributes"]["realtime_ai.framework"] == "pipecat"
    trace_id = run["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert [s["name"] for s in spans if s["trace_id"] != trace_id] == []
    assert [s["name"] for s in spans if s["status_code"] == "ERROR"] == []

    # Turns: children of the session, numbered 1..N, turn 2 barged in on.
    turns = sorted(
        (s for s in spans if s["name"] == "conversation.turn"), key=lambda s: s["attributes"]["turn.number"]
    )
    assert len(turns) == TURNS, names
    for turn in turns:
        attributes = turn["attributes"]
        assert turn["parent_id"] == run["span_id"]
        assert type(attributes["turn.number"]) is int
        assert type(attributes["turn.interrupted"]) is bool
        assert type(attributes["turn.user_bot_latency"]) is float
        assert 0 < attributes["turn.user_bot_latency"] < 10
        assert attributes["session.id"] == CONVERSATION_ID
    assert [t["attributes"]["turn.number"] for t in turns] == list(range(1, TURNS + 1))
    assert [t["attributes"]["turn.interrupted"] for t in turns] == [False, True, False]
    turn_ids = {t["span_id"] for t in turns}

    def parent_turn(span) -> int:
        assert span["parent_id"] in turn_ids, f"{span['name']} is not a child of a turn: {span['parent_id']}"
        return by_id[span["parent_id"]]["attributes"]["turn.number"]

    # LLM calls: one per turn, GenAI semantic conventions.
    llm = [s for s in spans if s["name"] == "chat local-llm"]
    assert sorted(parent_turn(s) for s in llm) == list(range(1, TURNS + 1)), names
    for span in llm:
        attributes = span["attributes"]
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.request.model"] == "local-llm"
        assert type(attributes["gen_ai.response.time_to_first_chunk"]) is float
        assert 0 <= attributes["gen_ai.response.time_to_first_chunk"] < 10
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
            assert type(attributes[key]) is int and attributes[key] > 0, (key, attributes.get(key))

    # Speech in and out: under the turns, every turn has both.
    stt = [s for s in spans if s["name"].startswith("speech_to_text ")]
    tts = [s for s in spans if s["name"].startswith("text_to_speech ")]
    assert sorted({parent_turn(s) for s in stt}) == list(range(1, TURNS + 1)), names
    assert sorted({parent_turn(s) for s in tts}) == list(range(1, TURNS + 1)), names
    for span in stt:
        assert span["attributes"]["gen_ai.operation.name"] == "speech_to_text"
    for span in tts:
        assert span["attributes"]["gen_ai.operation.name"] == "text_to_speech"


# --------------------------------------------------------------------------------- exporter down
def closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exporter_down_does_not_hurt_the_app(protocol, record_property):
    """Collector unreachable: same output, exit 0, about the same wall time, few log lines.

    What the SDK does here (opentelemetry-sdk 1.45): the batch processor exports at exit (and, if
    the app outlives its 5 s schedule delay, once more from its timer while the app runs); each
    failing export retries with backoff until ``OTEL_EXPORTER_OTLP_TIMEOUT`` is spent, and exit
    waits for it. Those providers are the SDK's, made by ``opentelemetry-instrument``: the package
    does not shut them down, so the exit wait is the SDK's, bounded by the SDK's own variable
    (set to 2 s here, as the docs advise). The printed line gives the numbers.
    """
    baseline, baseline_wall = run_demo(instrumented=False)
    assert baseline.returncode == 0, failed(baseline)

    endpoint = f"http://127.0.0.1:{closed_loopback_port()}"
    env = {**otel_env(protocol, endpoint, unique_project(protocol)), "OTEL_EXPORTER_OTLP_TIMEOUT": "2"}
    result, wall = run_demo(env)
    errors = EXPORT_ERROR_LINE.findall(result.stderr)
    error_lines = [line for line in result.stderr.splitlines() if EXPORT_ERROR_LINE.match(line)]
    report = (
        f"{protocol}, exporter down: exit {result.returncode}, wall {wall:.2f}s "
        f"(uninstrumented {baseline_wall:.2f}s, +{wall - baseline_wall:.2f}s), "
        f"{len(errors)} export-failure log line(s): {errors}"
    )
    print(report)
    for line in error_lines:
        print("   ", line[:200])
    record_property("wall_seconds", round(wall, 2))
    record_property("uninstrumented_wall_seconds", round(baseline_wall, 2))
    record_property("export_error_lines", len(errors))

    assert result.returncode == 0, failed(result)
    assert normalised_output(result.stdout) == normalised_output(baseline.stdout), failed(result)
    assert len(errors) <= MAX_EXPORT_ERROR_LINES, report + "\n" + failed(result)
    assert wall <= baseline_wall + MAX_EXTRA_SECONDS, report + "\n" + failed(result)
