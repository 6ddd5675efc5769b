"""``python -m opentelemetry_instrumentation_realtime_ai.replay SPANS [--audio WAV] -o OUT.html``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import attributes as attrs
from . import build_page, model, spans


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opentelemetry_instrumentation_realtime_ai.replay",
        description="Build a self-contained HTML replay of a session from OTLP JSON lines.",
    )
    parser.add_argument(
        "spans", help="OTLP JSON lines (the otlp_file exporter, the Collector's file exporter)"
    )
    parser.add_argument("-o", "--output", required=True, help="the HTML file to write")
    parser.add_argument(
        "--audio", help="the session's recording (stereo WAV); default: the one its span names, if it exists"
    )
    parser.add_argument("--session", help="session.id to replay (default: the first session in the file)")
    args = parser.parse_args(argv)
    with open(args.spans, encoding="utf-8") as file:
        records = spans.read_lines(file)
    found = model.sessions(records)
    if not found:
        parser.error(f"{args.spans}: no {attrs.SPAN_PIPELINE_RUN} span")
    session_id = args.session or found[0]
    if session_id not in found:
        parser.error(f"--session {session_id!r}: not in {args.spans}; sessions: {', '.join(found)}")
    audio = args.audio
    if audio is None:
        run = next(
            s
            for s in records
            if s.name == attrs.SPAN_PIPELINE_RUN and str(s.attributes.get(attrs.SESSION_ID)) == session_id
        )
        recorded = run.attributes.get(attrs.RECORDING_PATH)
        audio = recorded if isinstance(recorded, str) and os.path.exists(recorded) else None
    build_page(records, args.output, session_id=session_id, audio=audio)
    others = [s for s in found if s != session_id]
    print(
        f"{args.output}: session {session_id}"
        + (f" (also in the file: {', '.join(others)})" if others else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
