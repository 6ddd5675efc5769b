#!/usr/bin/env python
"""Which hooks the default mode's cost comes from: ``paired.py``'s session with some hooks put back.

Each extra mode instruments as ``default`` does, then restores Pipecat's originals of the named
hook groups, so that the rest of the package runs as usual; modes alternate in one process on one
CPU as in ``paired.py``. Context switches are shown beside CPU: the session hands every chunk to
the VAD's worker thread, and how often the threads switch decides how warm the caches are.

Usage::

    python benchmarks/ablation.py                                   # every group, 12 rounds
    python benchmarks/ablation.py --without frame,vad --rounds 20 --cpu 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

import overhead  # this directory
import paired  # this directory


def _groups() -> dict[str, list[tuple[type, str, Any]]]:
    """Hook group -> (class, attribute, Pipecat's original) to put back."""
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_output import BaseOutputTransport

    def originals(cls: type, *names: str) -> list[tuple[type, str, Any]]:
        return [(cls, name, cls.__dict__[name]) for name in names if name in cls.__dict__]

    return {
        "frame": originals(FrameProcessor, "_FrameProcessor__process_frame"),
        "vad": originals(VADAnalyzer, "_run_analyzer"),
        "sender": originals(BaseOutputTransport.MediaSender, "_bot_started_speaking"),
        "mic": originals(BaseInputTransport, "push_audio_frame"),
        "push": [o for cls in (LLMService, STTService, TTSService) for o in originals(cls, "push_frame")],
    }


def _one(mode: str, bot: Any, groups: dict[str, Any], args: argparse.Namespace) -> tuple[float, int, int]:
    """One session; its CPU seconds and voluntary / involuntary context switches."""

    def put_back() -> None:
        for group in mode.split("-")[1:]:
            for cls, name, original in groups[group]:
                setattr(cls, name, original)

    reference = "sdk_only" if mode == "sdk_only" else "default"
    user, system, voluntary, involuntary = paired._one(
        reference, bot, args, args.turns, args.chunks, put_back
    )
    return user + system, voluntary, involuntary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--without", default="frame,vad,mic,push", help="hook groups to put back, one mode each")
    overhead.add_session_arguments(ap, rounds=12, turns=5, chunks=600, child_timeout=600)
    args = ap.parse_args(argv)
    bot = overhead.demo_in_process(args)
    groups = _groups()
    wanted = [g.strip() for g in args.without.split(",") if g.strip()]
    if set(wanted) - set(groups):
        ap.error(f"--without: among {', '.join(groups)}")
    modes = ["sdk_only", "default", *(f"default-{g}" for g in wanted)]
    if len(wanted) > 1:
        modes.append("default-" + "-".join(wanted))
    overhead.print_header(args, f"{args.rounds} rounds x {len(modes)} modes alternating on CPU {args.cpu}")
    for mode in modes:  # warm-up
        _one(mode, bot, groups, argparse.Namespace(**{**vars(args), "turns": 1, "chunks": 200}))
    runs: dict[str, list[tuple[float, int, int]]] = {m: [] for m in modes}
    for round_ in range(args.rounds):
        order = modes[round_ % len(modes) :] + modes[: round_ % len(modes)]
        for mode in reversed(order) if round_ % 2 else order:
            runs[mode].append(_one(mode, bot, groups, args))
    print(
        "\n| mode | CPU s (median) | CPU vs sdk_only (median of rounds) | IQR | switches (voluntary / involuntary) |"
    )
    print("|---|---:|---:|---|---|")
    for mode in modes:
        ratios = [mine[0] / ref[0] for mine, ref in zip(runs[mode], runs["sdk_only"], strict=True)]
        low, high = paired._quartiles(ratios)
        voluntary = statistics.median(r[1] for r in runs[mode])
        involuntary = statistics.median(r[2] for r in runs[mode])
        print(
            f"| {mode.replace('-', ' without ', 1).replace('-', ', ')} | {statistics.median(r[0] for r in runs[mode]):.2f} | "
            f"{statistics.median(ratios):.3f} | {low:.3f}-{high:.3f} | {voluntary:.0f} / {involuntary:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
