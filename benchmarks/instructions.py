#!/usr/bin/env python
"""The overhead benchmark's session counted in CPU instructions, which do not vary from run to run.

CPU seconds on a small shared machine vary by 15-20 % between runs, more than the 5 % budget
being checked. Instructions executed, counted by valgrind's cachegrind with a fixed hash seed,
repeat to about 0.1 %. Each mode of ``overhead.py`` runs twice under cachegrind: set-up only
(``--sessions 0``: imports, instrumenting, shutting down) and set-up plus one session; the
difference is the session's own instructions, so the OpenTelemetry SDK's import (a one-off
per process) is not charged to every session.

Under valgrind the session runs about 30x slower, so the periodic metric reader gets a 30x
longer interval (``--metric-interval-ms``, default 30000) to collect as often per session as
the native run's 1 s does; the table shows how many exports happened.

Needs valgrind (Debian/Ubuntu: ``apt install valgrind``). Usage::

    python benchmarks/instructions.py                       # baseline, default, sdk_disabled; ~10 min
    python benchmarks/instructions.py --modes baseline,default,frame_spans --chunks 500
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overhead  # this directory


def _instructions(out_file: Path) -> int:
    for line in out_file.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary line in {out_file}")


def _count(mode: str, sessions: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out_file = tmp / f"{mode}-{sessions}.out"
    child_args = argparse.Namespace(**{**vars(args), "sessions": sessions})
    runner = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--branch-sim=no",
        f"--cachegrind-out-file={out_file}",
    ]
    started = time.monotonic()
    run = overhead._spawn(mode, child_args, runner=runner, env={"PYTHONHASHSEED": "0"})
    if "failed" not in run and "skipped" not in run:
        run["instructions"] = _instructions(out_file)
    print(f"  {mode:<16} sessions={sessions}  [{time.monotonic() - started:.0f}s]", flush=True)
    return run


def _table(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = [
        "| mode | session instructions (G) | vs baseline | set-up instructions (G) | spans "
        "| metric exports | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    base = results.get("baseline", {})
    base_session = (
        base[1]["instructions"] - base[0]["instructions"]
        if all("instructions" in base.get(s, {}) for s in (0, 1))
        else None
    )
    for mode, runs in results.items():
        notes = sorted(
            {r.get("skipped") or r.get("failed", "")[:120] for r in runs.values() if "instructions" not in r}
        )
        if notes:
            lines.append(f"| {mode} | - | - | - | - | - | {'; '.join(notes)} |")
            continue
        session = runs[1]["instructions"] - runs[0]["instructions"]
        ratio = f"{session / base_session:.4f}" if base_session else "-"
        problems = "; ".join(sorted(set(runs[1].get("problems", [])))[:3])
        lines.append(
            f"| {mode} | {session / 1e9:.3f} | {ratio} | {runs[0]['instructions'] / 1e9:.3f} | "
            f"{runs[1].get('spans', 0)} | {runs[1].get('metric_exports', '-')} | {problems} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="baseline,default,sdk_disabled")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=2000, help="20 ms mic chunks per utterance")
    ap.add_argument("--metric-interval-ms", type=int, default=30_000, help="see the module docstring")
    ap.add_argument("--jobs", type=int, default=2, help="children run at once")
    ap.add_argument("--child-timeout", type=float, default=3600)
    ap.add_argument("--json", help="also write the raw results to this file")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(overhead.MODES)
    if unknown:
        ap.error(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(overhead.MODES)}")
    if shutil.which("valgrind") is None:
        ap.error("valgrind is not installed (Debian/Ubuntu: apt install valgrind)")
    print(overhead.machine())
    print(
        f"Workload: demo bot, {args.turns} turns x {args.chunks} chunks of 20 ms, realtime=False; "
        "instructions counted by valgrind cachegrind, PYTHONHASHSEED=0\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {(m, s): pool.submit(_count, m, s, args, Path(tmp)) for m in modes for s in (2, 1)}
        results = {m: {s - 1: futures[m, s].result() for s in (1, 2)} for m in modes}
    print()
    print(_table(results))
    print(
        "\nSession instructions: (set-up + one session) - (set-up only), each counted in a fresh process. "
        "Set-up: imports, instrumenting and shutting down, paid once per process."
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
