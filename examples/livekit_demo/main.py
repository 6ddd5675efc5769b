"""The LiveKit tracing demo: the offline agent of agent.py, traced by opentelemetry-instrumentation-realtime-ai.

By default each session's trace is printed as a tree with durations (``TRACE_EXPORTER=stdout``
prints every span as JSON, ``TRACE_EXPORTER=otlp`` sends them to a collector). Arguments are
agent.py's (``--text``).
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
        import agent

        return agent.main(sys.argv[1:])
    finally:
        shutdown()


if __name__ == "__main__":
    sys.exit(main())
