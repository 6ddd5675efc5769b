#!/usr/bin/env python
"""What recording a session costs: CPU and memory per session-minute, recording on vs off (issue 18).

The demo bot's call in real time (its mic paced at 20 ms a chunk, its output transport paced as
a speaker plays), ``--turns`` utterances of ``--chunks`` chunks each, so that a session lasts
minutes. One process on one CPU (as ``paired.py``: a process's CPU time varies by 5-10 % from one
process to the next) alternates, rotating the order every round:

- ``off``: ``RealtimeAIInstrumentor`` with the SDK providers of ``overhead.py``'s ``default``;
- ``on``: the same with ``recording_dir`` (a temporary directory).

Per session: CPU seconds (``time.process_time()``, all threads, the recording's writer thread
included, the flush of spans and metrics after the session too) per minute of the session (its
wall time); memory from RSS sampled every 0.5 s: its peak above what it was when the session
started, and how it grew from the end of the first minute to the end of the session, per minute
(bounded memory: about zero). It also prints which audio hooks each mode installed: with recording
off there are none, so off costs what ``default`` costs.

Usage::

    python benchmarks/recording_cost.py                         # 1 round of ~2.2-min sessions, ~5 min
    python benchmarks/recording_cost.py --rounds 3 --turns 2 --chunks 1500
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import overhead  # this directory

MODES = ("off", "on")
# The Pipecat hooks recording installs (frameworks/pipecat/recording.py)
_AUDIO_HOOKS = {"push_audio_frame", "_internal_write_audio_frame", "_handle_frame"}


class _RssSampler(threading.Thread):
    def __init__(self, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.every_s = every_s
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while True:
            self.samples.append((time.perf_counter() - start, overhead._rss_kb()))
            if self._stop_event.wait(self.every_s):
                return

    def stop(self) -> list[tuple[float, int]]:
        self._stop_event.set()
        self.join()
        return self.samples


def _one(mode: str, bot: Any, args: argparse.Namespace, turns: int, chunks: int) -> dict[str, Any]:
    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor
    from opentelemetry_instrumentation_realtime_ai.frameworks import pipecat as hooks

    telemetry = overhead._Telemetry(args.metric_interval_ms)
    instrumentor = RealtimeAIInstrumentor()
    with tempfile.TemporaryDirectory() as directory:
        options = {"recording_dir": directory} if mode == "on" else {}
        instrumentor.instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options
        )
        try:
            audio_hooks = sorted({method for _, method, _ in hooks._hooks.installed} & _AUDIO_HOOKS)
            gc.collect()
            sampler = _RssSampler()
            sampler.start()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            result = overhead._session(bot, turns, chunks, f"recording-{mode}", args, {}, realtime=True)
            telemetry.flush()  # the recording is complete once its processor has flushed
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            rss = sampler.stop()
            wav_bytes = sum(entry.stat().st_size for entry in os.scandir(directory))
        finally:
            instrumentor.uninstrument()
            telemetry.shutdown()
    problems = overhead._check(result, turns)
    if problems:
        raise SystemExit(f"{mode} session went wrong: {problems}")
    minutes = wall / 60
    after_first = [kb for t, kb in rss if t >= 60] or [rss[-1][1]]
    return {
        "minutes": minutes,
        "cpu_per_min": cpu / minutes,
        "peak_rise_mb": (max(kb for _, kb in rss) - rss[0][1]) / 1024,
        "growth_mb_per_min": (after_first[-1] - after_first[0]) / 1024 / max(minutes - 1, 1e-9),
        "wav_mb": wav_bytes / 2**20,
        "audio_hooks": audio_hooks,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # 1500 chunks: 30 s utterances
    overhead.add_session_arguments(ap, rounds=1, turns=4, chunks=1500, child_timeout=1800)
    args = ap.parse_args(argv)
    bot = overhead.demo_in_process(args)
    overhead.print_header(
        args,
        f"{args.rounds} round(s) x recording off / on alternating in one process on CPU {args.cpu}",
        realtime=True,
    )
    for mode in MODES:  # warm-up: first-use costs (numpy, the writer thread) are not per-minute costs
        _one(mode, bot, args, 1, 100)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    started = time.monotonic()
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else reversed(MODES):
            run = runs[mode]
            run.append(_one(mode, bot, args, args.turns, args.chunks))
            print(
                f"  round {round_ + 1}/{args.rounds} {mode}: {run[-1]['minutes']:.2f} min, "
                f"{run[-1]['cpu_per_min']:.3f} CPU s/min  [{time.monotonic() - started:.0f}s]",
                flush=True,
            )
    print(
        "\n| recording | session min | CPU s per session-min | RSS peak rise MB | RSS growth MB per min"
        " after the 1st | WAV MB per min | audio hooks installed |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for mode in MODES:
        rows = runs[mode]

        def median(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(
            f"| {mode} | {median('minutes'):.2f} | {median('cpu_per_min'):.3f} | {median('peak_rise_mb'):.1f} | "
            f"{median('growth_mb_per_min'):+.2f} | {median('wav_mb') / median('minutes'):.2f} | "
            f"{', '.join(rows[-1]['audio_hooks']) or 'none'} |"
        )
    extra = [on["cpu_per_min"] - off["cpu_per_min"] for on, off in zip(runs["on"], runs["off"], strict=True)]
    ratio = [on["cpu_per_min"] / off["cpu_per_min"] for on, off in zip(runs["on"], runs["off"], strict=True)]
    print(
        f"\nRecording on costs {statistics.median(extra):+.3f} CPU s per session-minute "
        f"({(statistics.median(ratio) - 1) * 100:+.1f} % of the session's CPU with recording off)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
