#!/usr/bin/env python
"""The instrumentation's own CPU cost, measured in one process by alternating sessions (issue 6).

``overhead.py`` runs each mode in a fresh process, as the issue asks; on a small shared VM, CPU
seconds then differ by 5-10 % from one process to the next for the same work (where a process's
memory lands matters as much as what it runs), so a few-percent cost needs many rounds to show.
Here one process, on one CPU, runs the same session again and again and switches the mode in
between, rotating the order every round:

- ``sdk_only``: the SDK providers of ``default`` (a ``TracerProvider`` with a ``BatchSpanProcessor``,
  a ``MeterProvider`` with a periodic reader, both into discarding exporters), nothing instrumented:
  the reference, so that the ratios are the package's own cost;
- ``default``: the same providers, ``RealtimeAIInstrumentor().instrument(...)`` before the session
  and ``uninstrument()`` after it;
- ``sdk_disabled``: the same with ``OTEL_SDK_DISABLED=true`` while it instruments.

Every session gets fresh providers (a meter provider keeps the callbacks of every instrument ever
created on it). CPU is user plus system time (``getrusage()``) around the session and the flush of
its spans and metrics. Each mode has a warm-up session first. The table shows, per mode, the
median CPU, its system part and the median and interquartile range of its per-round ratio to
``sdk_only``.

Usage::

    python benchmarks/paired.py                # 20 rounds of the 5-turn session, about 5 min
    python benchmarks/paired.py --rounds 40 --turns 1
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import overhead  # this directory

MODES = ("sdk_only", "default", "sdk_disabled")


def _one(
    mode: str,
    bot: Any,
    args: argparse.Namespace,
    turns: int,
    chunks: int,
    after_instrument: Callable[[], None] | None = None,
) -> tuple[float, float, int, int]:
    """One session in ``mode``: its user and system CPU seconds, voluntary and involuntary context
    switches. ``after_instrument`` runs once the instrumentor is in place (``ablation.py`` puts
    some of Pipecat's originals back there)."""
    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

    telemetry = overhead._Telemetry(args.metric_interval_ms)
    instrumentor = RealtimeAIInstrumentor() if mode != "sdk_only" else None
    if mode == "sdk_disabled":
        os.environ["OTEL_SDK_DISABLED"] = "true"
    try:
        if instrumentor:
            instrumentor.instrument(
                tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
            )
            if after_instrument is not None:
                after_instrument()
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = overhead._session(bot, turns, chunks, f"paired-{mode}", args, {})
        telemetry.flush()
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        if instrumentor:
            instrumentor.uninstrument()
        os.environ.pop("OTEL_SDK_DISABLED", None)
        telemetry.shutdown()
    problems = overhead._check(result, turns)
    if problems:
        raise SystemExit(f"{mode} session went wrong: {problems}")
    return (
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        after.ru_nvcsw - before.ru_nvcsw,
        after.ru_nivcsw - before.ru_nivcsw,
    )


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    overhead.add_session_arguments(ap, rounds=20, turns=5, chunks=2000, child_timeout=600)
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "sdk_only" not in modes or set(modes) - set(MODES):
        ap.error(f"--modes: a subset of {', '.join(MODES)} that includes sdk_only (the reference)")
    bot = overhead.demo_in_process(args)
    overhead.print_header(
        args, f"{args.rounds} rounds x {len(modes)} modes alternating in one process on CPU {args.cpu}"
    )
    for mode in modes:  # warm-up
        _one(mode, bot, args, 1, 200)
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    system: dict[str, list[float]] = {m: [] for m in modes}
    started = time.monotonic()
    for round_ in range(args.rounds):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in reversed(order) if round_ % 2 else order:
            user_s, system_s, _, _ = _one(mode, bot, args, args.turns, args.chunks)
            cpu[mode].append(user_s + system_s)
            system[mode].append(system_s)
        print(
            f"  round {round_ + 1}/{args.rounds} "
            + " ".join(f"{m} {cpu[m][-1]:.2f}s" for m in modes)
            + f"  [{time.monotonic() - started:.0f}s]",
            flush=True,
        )
    print(
        "\n| mode | CPU s (median) | of which system s | CPU vs sdk_only (median of rounds) | interquartile range |"
    )
    print("|---|---:|---:|---:|---|")
    for mode in modes:
        ratios = [mine / ref for mine, ref in zip(cpu[mode], cpu["sdk_only"], strict=True)]
        low, high = _quartiles(ratios)
        print(
            f"| {mode} | {statistics.median(cpu[mode]):.2f} | {statistics.median(system[mode]):.2f} | "
            f"{statistics.median(ratios):.3f} | {low:.3f}-{high:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
