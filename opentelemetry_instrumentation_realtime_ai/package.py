"""The frameworks this package instruments: one row each.

The ``frameworks`` option's accepted values, the modules the instrumentor loads and the
``instruments-any`` extra of pyproject.toml (which ``opentelemetry-instrument`` reads) all
follow from ``SUPPORTED``. Frameworks are alternatives: an app uses one of them, so any one
installed is enough.
"""

from __future__ import annotations

from typing import NamedTuple


class Framework(NamedTuple):
    requirement: str
    """The distribution and versions supported, as the ``instruments-any`` extra lists it."""
    module: str
    """What must be importable for the framework to be instrumented."""
    hooks: str
    """Our module that hooks it: ``instrument()`` and ``uninstrument()``."""


SUPPORTED: dict[str, Framework] = {
    "pipecat": Framework(
        "pipecat-ai >= 0.0.90", "pipecat", "opentelemetry_instrumentation_realtime_ai.frameworks.pipecat"
    ),
    "livekit": Framework(
        "livekit-agents >= 1.2",
        "livekit.agents",
        "opentelemetry_instrumentation_realtime_ai.frameworks.livekit",
    ),
}
FRAMEWORKS = tuple(SUPPORTED)

_instruments: tuple[str, ...] = ()
_instruments_any = tuple(framework.requirement for framework in SUPPORTED.values())
