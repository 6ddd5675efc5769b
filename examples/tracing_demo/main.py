"""The tracing demo: the offline voice bot of bot.py, traced by opentelemetry-instrumentation-realtime-ai.

By default each session's trace is printed as a tree with durations. ``TRACE_EXPORTER=stdout``
prints the full JSON of every span instead; ``TRACE_EXPORTER=otlp`` (or the standard
``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_*`` variables) sends it to a collector.
Arguments are bot.py's (``--turns``, ``--fast``, ``--bots``, ...).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from opentelemetry_instrumentation_realtime_ai import Config, initialize, shutdown

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    config = Config.from_env()
    if "TRACE_EXPORTER" not in os.environ and "OTEL_TRACES_EXPORTER" not in os.environ:
        config.exporter = "tree"
    initialize(config)
    try:
        import bot

        return bot.main(sys.argv[1:])
    finally:
        shutdown()


if __name__ == "__main__":
    sys.exit(main())
