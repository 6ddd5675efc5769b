#!/usr/bin/env python
"""CPU and memory overhead of the instrumentation on a frame-heavy Pipecat pipeline (issue 6).

The workload is the offline demo bot (``examples/tracing_demo``): 5 user turns of 2,000
20-ms 16 kHz microphone chunks each (10,000 speech chunks, ~10,075 with the silence tails),
unpaced (``realtime=False``), through Pipecat's VAD, a segmented STT, the context
aggregators, the real ``OpenAILLMService`` streaming from a local HTTP server, a TTS and an
output transport. Every mode runs in a fresh interpreter (this script re-invokes itself with
``sys.executable``); the rounds interleave the modes, rotating their order, and the table
reports medians:

- ``baseline``: no OpenTelemetry at all;
- ``default``: ``RealtimeAIInstrumentor`` with an SDK ``TracerProvider`` (``BatchSpanProcessor``
  into a discarding exporter) and an SDK ``MeterProvider`` (``PeriodicExportingMetricReader``
  every second into a discarding exporter);
- ``frame_spans``: the same with ``frame_spans=True, frame_span_sampling_ratio=1.0``;
- ``sdk_only``: the SDK providers of ``default`` (threads and all) but nothing instrumented: the
  share of ``default`` that is the OpenTelemetry SDK being there rather than this package's hooks;
- ``sdk_disabled``: the ``default`` set-up with ``OTEL_SDK_DISABLED=true``;
- ``pipecat_tracing``: no instrumentor; Pipecat's own tracing (``enable_tracing=True``, and the
  ``enable_metrics=True`` every mode has) into the same SDK provider, set globally;
- ``openinference``: ``openinference-instrumentation-pipecat`` into the same SDK provider
  (skipped with a note when it is not installed).

Each child runs on one CPU (``--cpu``; the demo's threads, the local LLM server's included, then
take turns instead of handing the GIL back and forth between two cores, which made the same
session's CPU time vary by 20-30 %), runs a short warm-up session (a server runs many sessions:
first-use costs are not per-session costs), then ``--sessions`` measured sessions. Measured inside
each child: CPU seconds per session (``time.process_time()``, all threads; the child reports the
median of its sessions plus its share of the final flush of spans and metrics), wall seconds,
peak RSS (``ru_maxrss``, whole process), whole-process CPU (``getrusage``, imports included) and
spans produced (a counting span processor; the discarding exporter also counts what reached it).
``paired.py`` measures the package's own cost more precisely, alternating sessions in one process.

``--long`` runs one long session instead (default: 500 turns of 200 chunks, ~107,500 mic
chunks) in ``default`` mode and samples RSS, live objects (all, SDK spans, this package's) and
this package's containers every 50 turns, to show that memory stays flat; ``--tracemalloc`` adds
traced Python memory (total, allocated in this package, in ``opentelemetry``) at ~2x the time. ``--profile MODE`` runs one child under
cProfile and prints where the instrumentation's time goes; ``--sample MODE`` samples one child with
py-spy and prints the share of busy samples in this package's code (the direct measure of its cost).

Usage::

    python benchmarks/overhead.py                 # the table (5 rounds x 7 modes, ~9 min)
    python benchmarks/overhead.py --rounds 3 --modes baseline,default,frame_spans
    python benchmarks/overhead.py --long          # the long session (~4 min)
    python benchmarks/overhead.py --profile default
    python benchmarks/overhead.py --sample default  # needs py-spy
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "tracing_demo"
PACKAGE = "opentelemetry_instrumentation_realtime_ai"
MODES = ("baseline", "sdk_only", "default", "frame_spans", "sdk_disabled", "pipecat_tracing", "openinference")
RESULT_TAG = "@@overhead-result "
# Variables that would change what a mode measures; children get a clean slate.
_SCRUBBED_ENV = ("OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
_SCRUBBED_PREFIXES = ("OTEL_INSTRUMENTATION_REALTIME_AI_", "OTEL_PYTHON_")


# ---------------------------------------------------------------------------
# child side: one mode, one session, one process
# ---------------------------------------------------------------------------


class _Telemetry:
    """The SDK pipeline of an instrumented mode, with counters on the span path."""

    def __init__(self, metric_interval_ms: int):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            MetricExporter,
            MetricExportResult,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        outer = self
        self.spans_started = 0
        self.spans_ended = 0
        self.spans_exported = 0
        self.span_names: Counter[str] = Counter()
        self.metric_exports = 0
        self.metric_points = 0
        self.metric_names: set[str] = set()

        class CountingProcessor(SpanProcessor):
            def on_start(self, span: Any, parent_context: Any = None) -> None:
                outer.spans_started += 1

            def on_end(self, span: Any) -> None:
                outer.spans_ended += 1

        class DiscardingSpanExporter(SpanExporter):
            def export(self, spans: Any) -> Any:
                outer.spans_exported += len(spans)
                outer.span_names.update(span.name for span in spans)
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                pass

            def force_flush(self, timeout_millis: int = 30_000) -> bool:
                return True

        class DiscardingMetricExporter(MetricExporter):
            def __init__(self) -> None:
                super().__init__(preferred_temporality={}, preferred_aggregation={})

            def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
                outer.metric_exports += 1
                for resource_metrics in metrics_data.resource_metrics:
                    for scope_metrics in resource_metrics.scope_metrics:
                        for metric in scope_metrics.metrics:
                            outer.metric_names.add(metric.name)
                            outer.metric_points += len(metric.data.data_points)
                return MetricExportResult.SUCCESS

            def force_flush(self, timeout_millis: float = 10_000) -> bool:
                return True

            def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
                pass

        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(CountingProcessor())
        self.tracer_provider.add_span_processor(BatchSpanProcessor(DiscardingSpanExporter()))
        self.meter_provider = MeterProvider(
            metric_readers=[
                PeriodicExportingMetricReader(
                    DiscardingMetricExporter(), export_interval_millis=metric_interval_ms
                )
            ]
        )

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.meter_provider.force_flush()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def reset_counts(self) -> None:
        """Forget the warm-up session: what follows counts only the measured ones."""
        self.spans_started = self.spans_ended = self.spans_exported = 0
        self.span_names.clear()
        self.metric_exports = self.metric_points = 0

    def counts(self) -> dict[str, Any]:
        return {
            "spans": self.spans_ended,
            "spans_started": self.spans_started,
            "spans_exported": self.spans_exported,
            "span_names": dict(self.span_names.most_common()),
            "metric_exports": self.metric_exports,
            "metric_points": self.metric_points,
            "metrics": sorted(self.metric_names),
        }


def _set_up(mode: str, args: argparse.Namespace) -> tuple[_Telemetry | None, dict[str, Any], str | None]:
    """Install the mode's telemetry; returns (telemetry, VoiceBot task_kwargs, skip reason)."""
    if mode == "baseline":
        return None, {}, None
    telemetry = _Telemetry(args.metric_interval_ms)
    if mode == "sdk_only":  # the SDK pipeline of the instrumented modes, with nothing feeding it
        return telemetry, {}, None
    if mode in ("default", "frame_spans", "sdk_disabled", "long"):
        from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

        options = {"frame_spans": True, "frame_span_sampling_ratio": 1.0} if mode == "frame_spans" else {}
        RealtimeAIInstrumentor().instrument(
            tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options
        )
        return telemetry, {}, None
    from opentelemetry import metrics, trace

    trace.set_tracer_provider(telemetry.tracer_provider)
    metrics.set_meter_provider(telemetry.meter_provider)
    if mode == "pipecat_tracing":
        return telemetry, {"enable_tracing": True}, None
    if mode == "openinference":
        try:
            from openinference.instrumentation.pipecat import PipecatInstrumentor
        except ImportError as error:
            return None, {}, f"openinference-instrumentation-pipecat is not installed ({error})"
        PipecatInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
        return telemetry, {}, None
    raise SystemExit(f"unknown mode {mode!r}")


def _rss_kb() -> int:
    """Current resident set size (kB), from /proc; 0 where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _check(result: Any, turns: int) -> list[str]:
    problems = []
    if result.ended_by != "end":
        problems.append(f"ended_by={result.ended_by}")
    if result.user_turns != turns:
        problems.append(f"user_turns={result.user_turns}")
    if len(result.llm_requests) != turns or any(r.outcome != "ok" for r in result.llm_requests):
        problems.append(f"llm={[r.outcome for r in result.llm_requests]}")
    if result.bot_stopped_speaking != turns:
        problems.append(f"bot_stopped_speaking={result.bot_stopped_speaking}")
    problems += [f"error: {e}" for e in result.errors]
    return problems


def _frames_processed() -> int | None:
    """Frame hops this package counted (its frames metric), when it instrumented the run."""
    module = sys.modules.get(f"{PACKAGE}.frameworks.pipecat.pipeline")
    cells = getattr(module, "_frame_counts", None)
    return sum(cell.count for cell in cells.values()) if cells else None


def _pin(cpu: str) -> None:
    """Run the whole child (its threads too) on one CPU; see ``--cpu``."""
    if cpu != "all" and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})


def _session(
    bot: Any,
    turns: int,
    chunks: int,
    name: str,
    args: argparse.Namespace,
    task_kwargs: Any,
    realtime: bool = False,
) -> Any:
    return asyncio.run(
        bot.run_bot(
            turns=turns,
            interrupt_turn=None,
            chunks_per_utterance=chunks,
            realtime=realtime,
            conversation_id=name,
            timeout=args.child_timeout,  # under valgrind (instructions.py) a session runs ~30x slower
            enable_metrics=True,
            task_kwargs=task_kwargs,
        )
    )


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    mode = args.child
    _pin(args.cpu)
    sys.path.insert(0, str(DEMO))
    import bot  # the demo app: imports Pipecat

    bot.configure_logging("WARNING")
    telemetry, task_kwargs, skipped = _set_up(mode, args)
    if skipped:
        return {"mode": mode, "skipped": skipped}
    if args.warmup_chunks:  # a server runs many sessions: measure warm ones, not first-use costs
        _session(bot, 1, args.warmup_chunks, f"warm-up-{mode}", args, task_kwargs)
        if telemetry:
            telemetry.flush()
            telemetry.reset_counts()
    profiler = None
    if args.profile_out:
        import cProfile

        profiler = cProfile.Profile()
    results, cpus, mains, walls = [], [], [], []
    frames_before = _frames_processed() or 0
    for session in range(args.sessions):
        gc.collect()
        wall0, cpu0, main0 = time.perf_counter(), time.process_time(), time.thread_time()
        if profiler:
            profiler.enable()
        results.append(_session(bot, args.turns, args.chunks, f"bench-{mode}-{session}", args, task_kwargs))
        if profiler:
            profiler.disable()
        cpus.append(time.process_time() - cpu0)
        mains.append(time.thread_time() - main0)
        walls.append(time.perf_counter() - wall0)
    cpu0 = time.process_time()
    if telemetry:
        telemetry.flush()
    flush = (time.process_time() - cpu0) / args.sessions  # the last spans and metrics, shared out
    if profiler:
        profiler.dump_stats(args.profile_out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "mode": mode,
        # per session: the median over this child's sessions (a pause of the machine in one
        # session does not move it), plus its share of the final flush
        "cpu_s": statistics.median(cpus) + flush,
        "main_thread_cpu_s": statistics.median(mains) + flush,
        "wall_s": statistics.median(walls),
        "session_cpu_s": cpus,
        "process_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kB on Linux
        "mic_chunks": sum(result.audio_chunks_in for result in results),
        "audio_frames_out": sum(result.audio_frames_out for result in results),
        "sessions": args.sessions,
        "frames_processed": (_frames_processed() or 0) - frames_before,
        "problems": [problem for result in results for problem in _check(result, args.turns)],
        **(telemetry.counts() if telemetry else {"spans": 0}),
    }
    if telemetry:
        telemetry.shutdown()
    return out


# --- the long session ---


def _our_objects() -> tuple[int, int, Counter[str]]:
    """(all gc-tracked objects, live SDK spans, live objects of this package's classes by class)."""
    from opentelemetry.sdk.trace import Span as SdkSpan

    ours: Counter[str] = Counter()
    spans = 0
    objects = gc.get_objects()
    for obj in objects:
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith(PACKAGE):
            ours[type(obj).__name__] += 1
        elif isinstance(obj, SdkSpan):
            spans += 1
    return len(objects), spans, ours


def _package_state_sizes() -> dict[str, int]:
    """Lengths of the module-level containers the instrumentation keeps."""
    pipeline = sys.modules[f"{PACKAGE}.frameworks.pipecat.pipeline"]
    frames = sys.modules[f"{PACKAGE}.frameworks.pipecat.frames"]
    return {
        "element_ns": len(pipeline._element_ns),
        "frame_counts": len(pipeline._frame_counts),
        "frame_kinds": len(frames.KINDS),
        "roles": len(pipeline._roles),
    }


def run_long(args: argparse.Namespace) -> dict[str, Any]:
    import tracemalloc

    sys.path.insert(0, str(DEMO))
    import bot
    import providers

    bot.configure_logging("WARNING")
    telemetry, _, _ = _set_up("long", args)
    assert telemetry is not None
    our_dir = str(Path(sys.modules[PACKAGE].__file__).parent)  # editable or installed
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc_frames)
    samples: list[dict[str, Any]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()

    def sample(turn: int) -> None:
        gc.collect()
        row: dict[str, Any] = {
            "turn": turn,
            "cpu_s": round(time.process_time() - cpu0, 1),
            "wall_s": round(time.perf_counter() - wall0, 1),
            "rss_mb": round(_rss_kb() / 1024, 1),
            "spans": telemetry.spans_ended,
            "frames_processed": _frames_processed() or 0,
        }
        if args.tracemalloc:
            snapshot = tracemalloc.take_snapshot()
            traced, _peak = tracemalloc.get_traced_memory()
            ours = snapshot.filter_traces([tracemalloc.Filter(True, f"{our_dir}/*")])
            sdk = snapshot.filter_traces([tracemalloc.Filter(True, "*/opentelemetry/*")])
            row["traced_mb"] = round(traced / 2**20, 2)
            row["ours_kb"] = round(sum(s.size for s in ours.statistics("filename")) / 1024, 1)
            row["otel_kb"] = round(sum(s.size for s in sdk.statistics("filename")) / 1024, 1)
        total, live_spans, ours_objects = _our_objects()
        row["gc_objects"] = total
        row["live_sdk_spans"] = live_spans
        row["our_objects"] = sum(ours_objects.values())
        row["our_classes"] = dict(ours_objects.most_common())
        row.update(_package_state_sizes())
        samples.append(row)
        print(_long_row(row), file=sys.stderr, flush=True)

    async def session() -> Any:
        async with providers.LocalLLMServer() as llm:
            voice_bot = bot.VoiceBot(
                llm_base_url=llm.base_url,
                llm_server=llm,
                turns=args.long_turns,
                interrupt_turn=None,
                chunks_per_utterance=args.long_chunks,
                realtime=False,
                conversation_id="bench-long",
            )

            @voice_bot.mic.event_handler("on_user_utterance")
            async def _on_utterance(_mic: Any, turn: int) -> None:
                if turn == 1 or (turn - 1) % args.sample_every == 0:
                    sample(turn - 1)  # turns completed so far

            result = await voice_bot.run()
            return result

    result = asyncio.run(session())
    telemetry.flush()
    sample(result.user_turns)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "mode": "long",
        "turns": result.user_turns,
        "mic_chunks": result.audio_chunks_in,
        "audio_frames_out": result.audio_frames_out,
        "frames_processed": _frames_processed(),
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "problems": _check(result, args.long_turns),
        "samples": samples,
        "tracemalloc": args.tracemalloc,
        **telemetry.counts(),
    }
    telemetry.shutdown()
    return out


def _long_row(row: dict[str, Any]) -> str:
    cols = [
        f"{row['turn']:>5}",
        f"{row['frames_processed']:>9}",
        f"{row['spans']:>6}",
        f"{row['cpu_s']:>7}",
        f"{row['rss_mb']:>7}",
    ]
    if "traced_mb" in row:
        cols += [f"{row['traced_mb']:>9}", f"{row['ours_kb']:>8}", f"{row['otel_kb']:>8}"]
    cols += [
        f"{row['gc_objects']:>9}",
        f"{row['live_sdk_spans']:>6}",
        f"{row['our_objects']:>6}",
        f"{row['frame_counts']:>6}",
    ]
    return "| " + " | ".join(cols) + " |"


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------


def _child_env(mode: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith(_SCRUBBED_PREFIXES)
    }
    if mode == "sdk_disabled":
        env["OTEL_SDK_DISABLED"] = "true"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _spawn(
    mode: str,
    args: argparse.Namespace,
    extra: Sequence[str] = (),
    runner: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One child; ``runner`` goes before the interpreter (valgrind), ``env`` over the clean slate."""
    command = [
        *runner,
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--turns",
        str(args.turns),
        "--chunks",
        str(args.chunks),
        "--metric-interval-ms",
        str(args.metric_interval_ms),
        "--sessions",
        str(args.sessions),
        "--warmup-chunks",
        str(args.warmup_chunks),
        "--cpu",
        args.cpu,
        *extra,
    ]
    proc = subprocess.run(
        command,
        env={**_child_env(mode), **(env or {})},
        capture_output=True,
        text=True,
        timeout=args.child_timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    tail = "\n".join((proc.stderr or "").splitlines()[-15:])
    return {"mode": mode, "failed": f"exit {proc.returncode}: {tail}"}


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", PACKAGE], capture_output=True, text=True
        ).stdout.strip()
        checkout = f"; checkout {head or '?'}{' (package modified)' if dirty else ''}"
    except OSError:
        checkout = ""
    try:
        load = "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return (
        f"CPU: {cpu}, {os.cpu_count()} cores ({load}); {platform.system()} {platform.release()}\n"
        f"Python {platform.python_version()} ({sys.executable}); pipecat-ai {version('pipecat-ai')}, "
        f"opentelemetry-sdk {version('opentelemetry-sdk')}, "
        f"opentelemetry-instrumentation-realtime-ai {version('opentelemetry-instrumentation-realtime-ai')}, "
        f"openinference-instrumentation-pipecat {version('openinference-instrumentation-pipecat')}{checkout}"
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _table(runs: dict[str, list[dict[str, Any]]], modes: list[str]) -> str:
    """Medians over rounds; ratios are medians of per-round ratios against that round's baseline."""
    base = {r["round"]: r for r in runs.get("baseline", []) if "cpu_s" in r}
    default = {r["round"]: r for r in runs.get("default", []) if "cpu_s" in r}
    base_median = _median([r["cpu_s"] for r in base.values()])
    lines = [
        "| mode | CPU s | CPU vs baseline | ratio of median CPU | main-thread CPU vs baseline | wall s "
        "| peak RSS MB | spans | µs CPU per extra span | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for mode in modes:
        ok = [r for r in runs.get(mode, []) if "cpu_s" in r]
        notes = sorted(
            {r.get("skipped") or r.get("failed", "")[:120] for r in runs.get(mode, []) if "cpu_s" not in r}
        )
        if not ok:
            lines.append(f"| {mode} | - | - | - | - | - | - | - | - | {'; '.join(notes) or 'no run'} |")
            continue

        def ratios(key: str, runs_: list[dict[str, Any]] = ok) -> list[float]:
            return [r[key] / base[r["round"]][key] for r in runs_ if r["round"] in base]

        cpu_ratios, main_ratios = ratios("cpu_s"), ratios("main_thread_cpu_s")
        cpus = [r["cpu_s"] for r in ok]
        note = []
        if len(cpus) > 1:
            note.append(f"CPU {min(cpus):.2f}-{max(cpus):.2f} s")
        if len(cpu_ratios) > 1 and mode != "baseline":
            note.append(f"ratio {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}")
        per_span = "-"
        if mode == "frame_spans" and default:
            costs = [
                (r["cpu_s"] - default[r["round"]]["cpu_s"])
                / ((r["spans"] - default[r["round"]]["spans"]) / r.get("sessions", 1))
                * 1e6
                for r in ok
                if r["round"] in default and r["spans"] > default[r["round"]]["spans"]
            ]
            per_span = f"{_median(costs):.0f}" if costs else "-"
        dropped = [r["spans"] - r.get("spans_exported", r["spans"]) for r in ok]
        spans = _median([r["spans"] / r.get("sessions", 1) for r in ok])
        if any(dropped):
            note.append(f"BatchSpanProcessor dropped up to {max(dropped)} spans")
        bad = [p for r in ok for p in r.get("problems", [])]
        if bad:
            note.append("PROBLEMS: " + "; ".join(sorted(set(bad))[:3]))
        note += notes

        of_medians = f"{_median(cpus) / base_median:.3f}" if base else "-"

        def fmt(values: list[float]) -> str:
            return f"{_median(values):.3f}" if values else "-"

        lines.append(
            f"| {mode} | {_median(cpus):.2f} | {fmt(cpu_ratios)} | {of_medians} | {fmt(main_ratios)} | "
            f"{_median([r['wall_s'] for r in ok]):.2f} | {_median([r['peak_rss_mb'] for r in ok]):.0f} | "
            f"{spans:.0f} | {per_span} | {'; '.join(note)} |"
        )
    return "\n".join(lines)


def add_session_arguments(
    ap: argparse.ArgumentParser, rounds: int, turns: int, chunks: int, child_timeout: float
) -> None:
    """The options of the scripts that alternate modes in one process over the demo's session."""
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--turns", type=int, default=turns)
    ap.add_argument("--chunks", type=int, default=chunks, help="20 ms mic chunks per utterance")
    ap.add_argument("--metric-interval-ms", type=int, default=1000, help="periodic metric reader interval")
    ap.add_argument("--cpu", type=_cpu, default=_default_cpu(), help="the CPU to run on, or 'all'")
    ap.add_argument(
        "--child-timeout", type=float, default=child_timeout, help="longest a session may take (s)"
    )


def demo_in_process(args: argparse.Namespace) -> Any:
    """This process, set up to run the demo's sessions itself: a clean environment, pinned, the demo imported."""
    for name in _SCRUBBED_ENV:
        os.environ.pop(name, None)
    _pin(args.cpu)
    sys.path.insert(0, str(DEMO))
    import bot  # the demo app: imports Pipecat

    bot.configure_logging("WARNING")
    return bot


def print_header(args: argparse.Namespace, method: str, realtime: bool = False) -> None:
    """The machine and the workload, above every table of these scripts."""
    print(machine())
    print(
        f"Workload: demo bot, {args.turns} turns x {args.chunks} chunks of 20 ms, realtime={realtime}; {method}\n",
        flush=True,
    )


def parse_modes(text: str) -> list[str]:
    """The ``--modes`` list, or an error naming the accepted modes."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"--modes: unknown {sorted(unknown)}; accepted: {', '.join(MODES)}")
    return modes


def run_table(args: argparse.Namespace) -> dict[str, Any]:
    modes = parse_modes(args.modes)
    print_header(args, f"{args.rounds} rounds x {len(modes)} modes, each run in a fresh process")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    started = time.monotonic()
    for round_ in range(args.rounds):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in order:
            if runs[mode] and "skipped" in runs[mode][-1]:
                continue
            run = _spawn(mode, args)
            run["round"] = round_
            runs[mode].append(run)
            if "cpu_s" in run:
                detail = (
                    f"cpu {run['cpu_s']:.2f}s wall {run['wall_s']:.2f}s rss {run['peak_rss_mb']:.0f}MB "
                    f"spans {run['spans']} mic chunks {run['mic_chunks']}"
                    + (f" PROBLEMS {run['problems']}" if run["problems"] else "")
                )
            else:
                detail = run.get("skipped") or run.get("failed", "?")
            print(
                f"  round {round_ + 1}/{args.rounds} {mode:<16} {detail}  [{time.monotonic() - started:.0f}s]",
                flush=True,
            )
    print()
    print(_table(runs, modes))
    print(
        "\nCPU: process_time() of the child (all threads) per measured session, the median of the child's "
        "sessions, plus its share of the final flush of spans and metrics; every child runs on one CPU "
        "(--cpu) after a warm-up session (--warmup-chunks). Main-thread CPU: thread_time() of the "
        "event-loop thread, where the hooks run. CPU vs baseline: median of per-round ratios to the same "
        "round's baseline; ratio of median CPU: median CPU of the mode over median CPU of baseline. Peak "
        "RSS: ru_maxrss of the child (imports included). µs per extra span: (frame_spans - default CPU) / "
        "(frame_spans - default spans per session), same round."
    )
    first = {m: next((r for r in runs[m] if "cpu_s" in r), None) for m in modes}
    print("\nWhat one run of each mode produced:")
    for mode, run in first.items():
        if run is None:
            continue
        frames = (
            f", {run['frames_processed']} frame hops counted by our hook"
            if run.get("frames_processed")
            else ""
        )
        names = ", ".join(f"{k} {v}" for k, v in list(run.get("span_names", {}).items())[:8])
        metrics = (
            f"; {run['metric_points']} metric points in {run['metric_exports']} exports"
            if run.get("metric_exports")
            else ""
        )
        print(
            f"- {mode}: {run['mic_chunks']} mic chunks in, {run['audio_frames_out']} audio frames out{frames}; "
            f"spans: {names or 'none'}{metrics}"
        )
    return {"machine": machine(), "args": vars(args), "runs": runs}


def run_long_parent(args: argparse.Namespace) -> dict[str, Any]:
    print(machine())
    print(
        f"Long session: {args.long_turns} turns x {args.long_chunks} chunks, realtime=False, default mode; "
        f"sample every {args.sample_every} turns; tracemalloc {'on' if args.tracemalloc else 'off'}\n",
        flush=True,
    )
    header = ["turn", "frames", "spans", "CPU s", "RSS MB"]
    if args.tracemalloc:
        header += ["traced MB", "ours kB", "otel kB"]
    header += ["gc objs", "live spans", "our objs", "series"]
    print("| " + " | ".join(header) + " |\n|" + "---:|" * len(header), flush=True)
    extra = [
        "--long-turns",
        str(args.long_turns),
        "--long-chunks",
        str(args.long_chunks),
        "--sample-every",
        str(args.sample_every),
    ]
    if args.tracemalloc:
        extra.append("--tracemalloc")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "long", *extra]
    command += ["--metric-interval-ms", str(args.metric_interval_ms)]
    proc = subprocess.Popen(
        command, env=_child_env("long"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Sample rows arrive on stderr as they are taken.
    assert proc.stderr is not None and proc.stdout is not None
    errors: deque[str] = deque(maxlen=15)
    for line in proc.stderr:
        if line.startswith("|"):
            print(line.rstrip(), flush=True)
        else:
            errors.append(line.rstrip())
    out = proc.stdout.read()
    proc.wait()
    result = next(
        (json.loads(line[len(RESULT_TAG) :]) for line in out.splitlines() if line.startswith(RESULT_TAG)),
        None,
    )
    if result is None:
        print(f"long session failed (exit {proc.returncode}):\n" + "\n".join(errors))
        return {"long": None}
    samples = result["samples"]
    print(
        f"\n{result['turns']} turns, {result['mic_chunks']} mic chunks in, {result['audio_frames_out']} audio "
        f"frames out, {result['frames_processed']} frame hops processed, {result['spans']} spans, "
        f"{result['metric_points']} metric points; CPU {result['cpu_s']:.1f}s, wall {result['wall_s']:.1f}s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
        + (f"; PROBLEMS {result['problems']}" if result["problems"] else "")
    )
    running = samples[1:-1]  # not turn 0 (before warm-up), not the sample taken after the session ended
    if len(running) >= 3:
        # Robust growth rate per 100 turns: the median of the pairwise slopes (Theil-Sen).
        def slope(key: str, scale: float = 1.0) -> float:
            pairs = [
                (b[key] - a[key]) / (b["turn"] - a["turn"])
                for i, a in enumerate(running)
                for b in running[i + 1 :]
                if b["turn"] > a["turn"]
            ]
            return statistics.median(pairs) * 100 * scale

        first, last = running[0], running[-1]
        parts = [f"RSS {slope('rss_mb'):+.2f} MB"]
        if "traced_mb" in last:
            parts += [
                f"tracemalloc total {slope('traced_mb', 1024):+.1f} kB",
                f"allocated in our package {slope('ours_kb'):+.1f} kB",
                f"in opentelemetry {slope('otel_kb'):+.1f} kB",
            ]
        parts += [f"gc objects {slope('gc_objects'):+.0f}", f"our objects {slope('our_objects'):+.0f}"]
        print(
            f"Growth per 100 turns (Theil-Sen slope, turns {first['turn']}-{last['turn']}): "
            + ", ".join(parts)
        )
        print(f"Our live objects at turn {last['turn']}: {last['our_classes']}")
        print(f"... and after the session ended: {samples[-1]['our_classes']}")
    return {"machine": machine(), "args": vars(args), "long": result}


_WAITING = (
    "<method 'poll' of 'select.epoll' objects>",
    "<method 'put' of '_queue.SimpleQueue' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
    "<built-in method time.sleep>",
)
_WRAPPED = ("__process_frame", "push_frame", "run", "start_llm_usage_metrics")


def _profile_summary(path: Path) -> tuple[Any, float, float]:
    import pstats

    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    waiting = sum(v[2] for k, v in raw.items() if k[2] in _WAITING)
    return raw, stats.total_tt, waiting  # type: ignore[attr-defined]


def _attributed(raw: dict[Any, Any]) -> dict[Any, float]:
    """Time each of our functions costs: its own time plus that of the non-package code it calls
    (the SDK, builtins), but not the framework call it wraps."""

    def ours(key: Any) -> bool:
        return PACKAGE in key[0]

    cost = {k: v[2] for k, v in raw.items() if ours(k)}
    for key, (_cc, _nc, _tt, _ct, callers) in raw.items():
        if ours(key) or (key[2].split(".")[-1] in _WRAPPED and "pipecat" in key[0]):
            continue
        for caller, (_c, _n, _t, ct) in callers.items():
            if ours(caller):
                cost[caller] += ct
    return cost


def run_profile(args: argparse.Namespace) -> None:
    """cProfile ``baseline`` and MODE (one fresh child each) and show what MODE adds."""
    mode = args.profile
    paths = {m: Path(args.profile_dir) / f"overhead-{m}.prof" for m in ("baseline", mode)}
    print(machine())
    print(
        f"cProfile of one {args.turns}-turn x {args.chunks}-chunk session per mode (the profiler inflates times)\n"
    )
    summary = {}
    for m, path in paths.items():
        run = _spawn(m, args, ["--profile-out", str(path)])
        if "cpu_s" not in run:
            raise SystemExit(f"profiled {m} run failed: {run}")
        raw, total, waiting = _profile_summary(path)
        summary[m] = raw
        print(
            f"{m:>16}: CPU {run['cpu_s']:.2f}s; profiled {total:.2f}s of which {waiting:.2f}s blocked "
            f"(epoll, thread hand-offs): {total - waiting:.2f}s busy; stats in {path}"
        )
    raw = summary[mode]
    cost = _attributed(raw)
    busy = _profile_summary(paths[mode])
    attributed = sum(cost.values())
    print(
        f"\nAttributed to {PACKAGE} in {mode} (own time + SDK/builtins it calls, not the wrapped Pipecat "
        f"call): {attributed:.3f}s = {attributed / (busy[1] - busy[2]):.1%} of busy profiled time"
    )
    if cost:
        print("\n| calls | attributed s | own s | function |\n|---:|---:|---:|---|")
        for key, value in sorted(cost.items(), key=lambda kv: -kv[1])[:12]:
            print(
                f"| {raw[key][1]} | {value:.3f} | {raw[key][2]:.3f} | {Path(key[0]).name}:{key[1]} {key[2]} |"
            )
    base = summary["baseline"]
    diffs = []
    for key in set(raw) | set(base):
        if key[2] in _WAITING:
            continue
        mine, theirs = raw.get(key), base.get(key)
        diffs.append(((mine[2] if mine else 0.0) - (theirs[2] if theirs else 0.0), key, mine, theirs))
    print(f"\nOwn time that grew most from baseline to {mode} (s; calls baseline -> {mode}):")
    for delta, key, mine, theirs in sorted(diffs, key=lambda d: -d[0])[:12]:
        where = Path(key[0]).name if key[0] != "~" else ""
        print(
            f"  {delta:+7.3f}  {theirs[1] if theirs else 0:>8} -> {mine[1] if mine else 0:<8} {where}:{key[1]} {key[2]}"
        )


# Where threads wait (py-spy counts some waits as busy): the event loop's poll, a pool worker's queue.get.
_IDLE_LEAVES = (".select (selectors.py", ".wait (threading.py", "_worker (concurrent/futures/thread.py:81)")


def run_sample(args: argparse.Namespace) -> None:
    """Sample one child of MODE with py-spy: the share of busy samples spent in this package's code.

    A sampling profiler barely slows the code it watches (cProfile inflates every small function),
    so this is the direct measure of what the package's own code costs, free of the run-to-run
    noise of CPU seconds. Samples in imports and idle waits are left out.
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--sample needs py-spy (pip install py-spy)")
    print(machine())
    out = Path(args.profile_dir) / f"overhead-{args.sample}.spy.txt"
    runner = [spy, "record", "--rate", str(args.sample_rate), "--format", "raw", "--output", str(out), "--"]
    run = _spawn(args.sample, args, runner=runner)
    if "cpu_s" not in run:
        raise SystemExit(f"sampled {args.sample} run failed: {run}")
    counts: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        if any("_find_and_load" in f for f in frames) or any(idle in frames[-1] for idle in _IDLE_LEAVES):
            continue
        n = int(number)
        counts["busy"] += n
        if PACKAGE in frames[-1]:
            counts["package"] += n
        elif "opentelemetry/" in frames[-1]:
            counts["opentelemetry"] += n
    busy = counts["busy"] or 1
    print(
        f"py-spy at {args.sample_rate} Hz over one {args.turns}-turn x {args.chunks}-chunk session in "
        f"{args.sample} (all threads; imports and idle waits left out): {counts['busy']} busy samples\n"
        f"- in {PACKAGE}'s own code: {counts['package']} = {counts['package'] / busy:.2%}\n"
        f"- in the OpenTelemetry SDK and API (spans, metric collection, context): "
        f"{counts['opentelemetry']} = {counts['opentelemetry'] / busy:.2%}\n"
        f"Raw stacks: {out}"
    )


def _default_cpu() -> str:
    return str(max(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "all"


def _cpu(text: str) -> str:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if text == "all" or (text.isdigit() and int(text) in allowed):
        return text
    raise argparse.ArgumentTypeError(f"--cpu: expected 'all' or one of the CPUs {allowed}, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=2000, help="20 ms mic chunks per utterance")
    ap.add_argument("--metric-interval-ms", type=int, default=1000, help="periodic metric reader interval")
    ap.add_argument(
        "--sessions", type=int, default=2, help="measured sessions per child; it reports their median"
    )
    ap.add_argument(
        "--warmup-chunks",
        type=int,
        default=200,
        help="a 1-turn warm-up session of this many chunks before the measured one (0: none)",
    )
    ap.add_argument(
        "--cpu",
        type=_cpu,
        default=_default_cpu(),
        help="the CPU each child runs on, or 'all' to let it float (default: the last CPU this process may use)",
    )
    ap.add_argument("--child-timeout", type=float, default=600)
    ap.add_argument("--json", help="also write the raw results to this file")
    ap.add_argument("--long", action="store_true", help="run the long session instead of the table")
    ap.add_argument("--long-turns", type=int, default=500)
    ap.add_argument("--long-chunks", type=int, default=200)
    ap.add_argument("--sample-every", type=int, default=50, help="long session: turns between samples")
    ap.add_argument(
        "--tracemalloc", action="store_true", help="long session: also sample tracemalloc (about 2x slower)"
    )
    ap.add_argument("--tracemalloc-frames", type=int, default=1)
    ap.add_argument("--profile", choices=MODES, help="run one child of MODE under cProfile and summarize it")
    ap.add_argument("--sample", choices=MODES, help="sample one child of MODE with py-spy (see run_sample)")
    ap.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--profile-dir", default="/tmp")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        result = run_long(args) if args.child == "long" else run_child(args)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0
    if args.profile:
        run_profile(args)
        return 0
    if args.sample:
        run_sample(args)
        return 0
    report = run_long_parent(args) if args.long else run_table(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
