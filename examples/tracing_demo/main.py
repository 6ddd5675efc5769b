"""The tracing demo: the offline voice bot of bot.py, traced by opentelemetry-instrumentation-realtime-ai.

By default each session's trace is printed as a tree with durations. ``TRACE_EXPORTER=stdout``
prints the full JSON of every span instead; ``TRACE_EXPORTER=otlp`` (or the standard
``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_*`` variables) sends it to a collector.
Arguments are bot.py's (``--turns``, ``--fast``, ``--bots``, ...).

Each session is also recorded (a stereo WAV, left the caller, right the bot) and replayed (an
HTML page to open in a browser) into ``OTEL_INSTRUMENTATION_REALTIME_AI_REPLAY_DIR`` /
``..._RECORDING_DIR`` when set, else into ``<temp dir>/realtime-ai-demo``; the paths are printed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry_instrumentation_realtime_ai import Config, initialize, shutdown
from opentelemetry_instrumentation_realtime_ai.config import ENV_RECORDING_DIR, ENV_REPLAY_DIR, Options

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    config = Config.from_env()
    if "TRACE_EXPORTER" not in os.environ and "OTEL_TRACES_EXPORTER" not in os.environ:
        config.exporter = "tree"
    default_dir = os.path.join(tempfile.gettempdir(), "realtime-ai-demo")
    outputs = {
        option: default_dir
        for option, variable in (("replay_dir", ENV_REPLAY_DIR), ("recording_dir", ENV_RECORDING_DIR))
        if variable not in os.environ
    }
    initialize(config, **outputs)
    started = time.time()
    try:
        import bot

        return bot.main(sys.argv[1:])
    finally:
        shutdown()  # also waits for the replay pages to be written
        options = Options.resolve(outputs)
        printed = set()
        for folder, kind in ((options.replay_dir, "html"), (options.recording_dir, "wav")):
            for path in sorted(Path(folder).glob(f"*.{kind}")) if folder else []:
                if path.stat().st_mtime >= started:
                    print(f"{'replay' if kind == 'html' else 'recording'}: {path.as_uri()}")
                    printed.add(kind)
        if printed == {"html", "wav"}:
            print(
                "The replay plays the recording by its path relative to the page: "
                "to move or share them, keep the .html and the .wav together."
            )


if __name__ == "__main__":
    sys.exit(main())
