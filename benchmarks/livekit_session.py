#!/usr/bin/env python
"""The package's CPU cost on a LiveKit Agents session, next to LiveKit's own tracing (issue 15).

One process, one CPU; sessions alternate between three modes, the order rotating every round:

- ``uninstrumented``: LiveKit's tracer pointed at a no-op provider, nothing instrumented;
- ``livekit``: LiveKit's own tracing into an SDK ``TracerProvider`` (batch processor into a
  discarding exporter), nothing of ours;
- ``default``: the same provider and a ``MeterProvider``, and ``RealtimeAIInstrumentor`` on
  (LiveKit's spans stay on too, as they do for a user who instruments a traced app).

The session is the LiveKit demo's text conversation (``examples/livekit_demo/agent.py --text``:
two questions, a function tool, the real openai plugin against a local SSE server), run
``--sessions`` times per measurement. CPU is ``time.process_time()`` around those sessions and
the flush of their telemetry. The table shows each mode's median CPU and the median of its
per-round ratios to ``uninstrumented`` and to ``livekit``.

Usage::

    python benchmarks/livekit_session.py                 # 15 rounds, about 2 min
    python benchmarks/livekit_session.py --rounds 30 --sessions 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "livekit_demo"))

MODES = ("uninstrumented", "livekit", "default")


class _Discard:
    """A span and metric exporter that drops everything: the cost is making the telemetry."""

    def export(self, batch, *args, **kwargs):
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self, *args, **kwargs):
        return None

    def force_flush(self, *args, **kwargs):
        return True


def _measure(mode: str, sessions: int) -> float:
    import agent
    from livekit.agents import telemetry as lk_telemetry
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import NoOpTracerProvider

    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Discard()))  # type: ignore[arg-type]
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    lk_telemetry.set_tracer_provider(NoOpTracerProvider() if mode == "uninstrumented" else tracer_provider)
    instrumentor = RealtimeAIInstrumentor() if mode == "default" else None
    if instrumentor:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        gc.collect()
        cpu0 = time.process_time()
        for _ in range(sessions):
            said = asyncio.run(agent.run_agent(text=True))
            assert len(said) == 2, said
        tracer_provider.force_flush()
        meter_provider.force_flush()
        return time.process_time() - cpu0
    finally:
        if instrumentor:
            instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sessions", type=int, default=3, help="text conversations per measurement")
    parser.add_argument("--cpu", type=int, default=1, help="the CPU to run on (Linux)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    from importlib.metadata import version

    print(
        f"Python {sys.version.split()[0]}; livekit-agents {version('livekit-agents')}, "
        f"opentelemetry-sdk {version('opentelemetry-sdk')}; {args.rounds} rounds x {len(MODES)} modes x "
        f"{args.sessions} text sessions, alternating in one process on CPU {args.cpu}"
    )
    for mode in MODES:  # warm-up: imports, first connections
        _measure(mode, 1)
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    for number in range(args.rounds):
        order = MODES[number % len(MODES) :] + MODES[: number % len(MODES)]
        for mode in order:
            cpu[mode].append(_measure(mode, args.sessions))
        print(f"  round {number + 1}/{args.rounds} " + " ".join(f"{m} {cpu[m][-1]:.2f}s" for m in MODES))
    print()
    print("| mode | CPU s (median) | vs uninstrumented (median of rounds) | vs LiveKit's own tracing |")
    print("|---|---:|---:|---:|")
    for mode in MODES:
        to_base = statistics.median(a / b for a, b in zip(cpu[mode], cpu["uninstrumented"], strict=True))
        to_lk = statistics.median(a / b for a, b in zip(cpu[mode], cpu["livekit"], strict=True))
        print(f"| {mode} | {statistics.median(cpu[mode]):.3f} | {to_base:.3f} | {to_lk:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
