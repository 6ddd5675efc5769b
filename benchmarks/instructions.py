#!/usr/bin/env python
"""The overhead benchmark's session counted in CPU instructions instead of CPU seconds.

CPU seconds on a small shared machine vary by 15-20 % between runs of the same work, more
than the 5 % budget being checked. Instructions executed, counted by valgrind's cachegrind
with a fixed hash seed, vary by about 1-2 % (the session is asynchronous: how often the event
loop polls still depends on timing). Each mode of ``overhead.py`` runs in fresh processes under
cachegrind, once with one session and once with two; the difference is one warm session's
instructions, without the imports and first-use costs every process pays once.

Under valgrind a session runs about 30x slower, so the periodic metric reader gets a 30x longer
interval (``--metric-interval-ms``, default 30000) to collect about as often per session as the
native run's 1 s; the table shows how many exports the two-session run made.

Needs valgrind (Debian/Ubuntu: ``apt install valgrind``). Usage::

    python benchmarks/instructions.py                     # baseline, default, sdk_disabled: ~20 min
    python benchmarks/instructions.py --repeat 1 --modes baseline,default
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overhead  # this directory


def _count(mode: str, sessions: int, repeat: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """One fresh process under cachegrind; its result carries the instructions it executed."""
    out_file = tmp / f"{mode}-{sessions}-{repeat}.out"
    runner = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--branch-sim=no",
        f"--cachegrind-out-file={out_file}",
    ]
    # no warm-up and no pinning: the two-minus-one difference already drops first-use costs, and
    # valgrind runs one thread at a time anyway
    child_args = argparse.Namespace(**{**vars(args), "sessions": sessions, "warmup_chunks": 0, "cpu": "all"})
    started = time.monotonic()
    run = overhead._spawn(mode, child_args, runner=runner, env={"PYTHONHASHSEED": "0"})
    summary = (
        [line for line in out_file.read_text().splitlines() if line.startswith("summary:")]
        if out_file.exists()
        else []
    )
    if summary and "failed" not in run and "skipped" not in run:
        run["instructions"] = int(summary[0].split()[1])
    print(
        f"  {mode:<14} sessions={sessions} repeat={repeat + 1}  [{time.monotonic() - started:.0f}s]",
        flush=True,
    )
    return run


def _session_counts(runs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[int]:
    return [
        two["instructions"] - one["instructions"]
        for one, two in runs
        if "instructions" in one and "instructions" in two
    ]


def _table(results: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]) -> str:
    lines = [
        "| mode | instructions per session (G) | vs baseline | range over repeats (G) | spans per session | metric exports (2 sessions) | notes |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    base = _session_counts(results.get("baseline", []))
    for mode, runs in results.items():
        counts = _session_counts(runs)
        notes = sorted(
            {
                run.get("skipped") or run.get("failed", "")[:120]
                for pair in runs
                for run in pair
                if "instructions" not in run
            }
        )
        notes += sorted({p for pair in runs for run in pair for p in run.get("problems", [])})[:3]
        if not counts:
            lines.append(f"| {mode} | - | - | - | - | - | {'; '.join(notes) or 'no run'} |")
            continue
        median = statistics.median(counts)
        ratio = f"{median / statistics.median(base):.3f}" if base else "-"
        one, two = runs[0]
        spans = two.get("spans", 0) - one.get("spans", 0)
        lines.append(
            f"| {mode} | {median / 1e9:.3f} | {ratio} | {min(counts) / 1e9:.3f}-{max(counts) / 1e9:.3f} | "
            f"{spans} | {two.get('metric_exports', '-')} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="baseline,default,sdk_disabled")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per mode; the table shows the median")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=600, help="20 ms mic chunks per utterance")
    ap.add_argument("--metric-interval-ms", type=int, default=30_000, help="see the module docstring")
    ap.add_argument("--jobs", type=int, default=2, help="processes run at once")
    ap.add_argument("--child-timeout", type=float, default=3600)
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args(argv)
    modes = overhead.parse_modes(args.modes)
    if shutil.which("valgrind") is None:
        ap.error("valgrind is not installed (Debian/Ubuntu: apt install valgrind)")
    overhead.print_header(
        args, f"instructions counted by valgrind cachegrind, PYTHONHASHSEED=0; {args.repeat} repeats"
    )
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        jobs = {
            (mode, sessions, r): pool.submit(_count, mode, sessions, r, args, Path(tmp))
            for r in range(args.repeat)
            for mode in modes
            for sessions in (2, 1)  # the longer first, so that two jobs end together
        }
        results = {
            m: [(jobs[m, 1, r].result(), jobs[m, 2, r].result()) for r in range(args.repeat)] for m in modes
        }
    print()
    print(_table(results))
    print(
        "\nInstructions per session: (process with two sessions) - (process with one), median over repeats; "
        "imports and first-use costs cancel out."
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": overhead.machine(), "args": vars(args), "results": results}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
