"""The zero-code path: the unchanged LiveKit demo agent under ``opentelemetry-instrument``.

The agent (no OpenTelemetry in it) runs in a fresh process with the console exporter; the
spans it prints show ours and LiveKit's own in one trace, each LLM request counted once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "examples" / "livekit_demo" / "agent.py"


def spans_of(stdout: str) -> list[dict]:
    """The console exporter's JSON objects, one per span."""
    decoder, spans, i = json.JSONDecoder(), [], 0
    while (start := stdout.find("{", i)) != -1:
        try:
            obj, i = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            i = start + 1
            continue
        if isinstance(obj, dict) and "context" in obj:
            spans.append(obj)
    return spans


def test_agent_under_opentelemetry_instrument():
    cli = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "livekit-demo",
    }
    done = subprocess.run(
        [str(cli), sys.executable, str(AGENT), "--text"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "agent: It is sunny in Paris." in done.stdout  # the app did what it does uninstrumented
    spans = spans_of(done.stdout)
    names = [s["name"] for s in spans]
    assert names.count("pipeline.run") == 1
    assert names.count("chat gpt-4o-mini") == 3 and names.count("execute_tool get_weather") == 1
    assert "agent_session" in names and "llm_request" in names  # LiveKit's own spans, same provider
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    counted = [s["name"] for s in spans if s["attributes"].get("gen_ai.operation.name") == "chat"]
    assert counted == ["chat gpt-4o-mini"] * 3
    run = next(s for s in spans if s["name"] == "pipeline.run")
    assert run["attributes"]["realtime_ai.framework"] == "livekit"
    assert run["resource"]["attributes"]["service.name"] == "livekit-demo"


JOB = """
import multiprocessing, sys
sys.path.insert(0, {demo!r})


def job():  # what LiveKit's worker runs in a job process made by its forkserver
    import asyncio
    from opentelemetry import trace
    import agent
    print("job:", asyncio.run(agent.run_agent(text=True))[0], flush=True)
    trace.get_tracer_provider().force_flush()  # a job process ends with os._exit: flush first


if __name__ == "__main__":
    process = multiprocessing.get_context("forkserver").Process(target=job)
    process.start()
    process.join(60)
    sys.exit(process.exitcode)
"""


def test_job_process_under_opentelemetry_instrument(tmp_path):
    """LiveKit runs jobs in processes forked from a forkserver on Linux: they are instrumented too."""
    script = tmp_path / "worker.py"
    script.write_text(JOB.format(demo=str(AGENT.parent)))
    cli = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    done = subprocess.run(
        [str(cli), sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "job: It is sunny in Paris." in done.stdout
    names = [s["name"] for s in spans_of(done.stdout)]
    assert names.count("pipeline.run") == 1 and names.count("chat gpt-4o-mini") == 3
