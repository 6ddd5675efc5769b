"""The tracer, the metric instruments and the options every helper records through.

One ``Telemetry`` is current at a time: built from the global providers on first use, and
rebuilt from the providers given to ``RealtimeAIInstrumentor().instrument(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Histogram, Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from . import attributes as attrs
from .config import Options
from .event_loop import LoopMonitors
from .version import __version__

SCOPE = "opentelemetry.instrumentation.realtime_ai"
_SECONDS_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_LAG_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]


class Instruments:
    """The metric instruments of ``attributes.METRIC_*``, created once per meter."""

    def __init__(self, meter: Meter):
        self.meter = meter

        def seconds_histogram(
            name: str, description: str, buckets: list[float] = _SECONDS_BUCKETS
        ) -> Histogram:
            return meter.create_histogram(
                name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
            )

        self.operation_duration = seconds_histogram(
            attrs.METRIC_OPERATION_DURATION, "Duration of a GenAI operation (LLM, STT or TTS request)"
        )
        self.time_to_first_chunk = seconds_histogram(
            attrs.METRIC_TIME_TO_FIRST_CHUNK, "Time from request to the first chunk of the response"
        )
        self.turn_latency = seconds_histogram(
            attrs.METRIC_TURN_LATENCY, "End of the user's speech to the bot's first audio out"
        )
        self.turn_stage_latency = seconds_histogram(
            attrs.METRIC_TURN_STAGE_LATENCY,
            "One stage of the user-to-bot latency, by turn.latency.stage",
            [0.0025, 0.005, *_SECONDS_BUCKETS],
        )
        self.token_usage = meter.create_histogram(
            attrs.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Tokens used per LLM request",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.turns = meter.create_counter(attrs.METRIC_TURNS, unit="{turn}", description="Conversation turns")
        self.interruptions = meter.create_counter(
            attrs.METRIC_INTERRUPTIONS, unit="{interruption}", description="Turns the user interrupted"
        )
        self.connections_active = meter.create_up_down_counter(
            attrs.METRIC_CONNECTIONS_ACTIVE, unit="{connection}", description="Open transport connections"
        )
        self.connection_state_changes = meter.create_counter(
            attrs.METRIC_CONNECTION_STATE_CHANGES,
            unit="{change}",
            description="Transport connection state changes, by new state",
        )
        self.connection_messages = meter.create_counter(
            attrs.METRIC_CONNECTION_MESSAGES,
            unit="{message}",
            description="Application messages sent or received over a transport connection",
        )
        self.sessions_active = meter.create_up_down_counter(
            attrs.METRIC_SESSIONS_ACTIVE, unit="{session}", description="Pipelines running"
        )
        self.event_loop_lag = seconds_histogram(
            attrs.METRIC_EVENT_LOOP_LAG,
            "The worst lag, per 100 ms, of a callback the event loop running a session runs every 10 ms",
            _LAG_BUCKETS,
        )
        self.audio_gap = seconds_histogram(
            attrs.METRIC_AUDIO_GAP, "Holes in the bot's audio mid-reply (output underruns)", _LAG_BUCKETS
        )
        self.audio_input_gap = seconds_histogram(
            attrs.METRIC_AUDIO_INPUT_GAP,
            "Waits for the caller's audio at the input transport long enough to make a chunk late",
            _LAG_BUCKETS,
        )
        self.connection_rtt = seconds_histogram(
            attrs.METRIC_CONNECTION_RTT,
            "Round-trip time of a media connection, as its RTCP reports give it",
            _LAG_BUCKETS,
        )
        self.connection_jitter = seconds_histogram(
            attrs.METRIC_CONNECTION_JITTER,
            "Interarrival jitter of a media connection's audio, by direction",
            _LAG_BUCKETS,
        )
        self.connection_packets_lost = meter.create_counter(
            attrs.METRIC_CONNECTION_PACKETS_LOST,
            unit="{packet}",
            description="Media packets lost, by direction (received: from the caller; sent: to the caller)",
        )


@dataclass
class Telemetry:
    tracer: Tracer
    instruments: Instruments
    options: Options
    loops: LoopMonitors
    recordings: Any = None
    """The ``RecordingProcessor`` when ``recording_dir`` is set (the audio hooks feed it)."""


_current: Telemetry | None = None


def build(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    options: Options | None = None,
) -> Telemetry:
    """Make the given providers (or the globals) current for everything the package emits."""
    global _current
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
    meter = metrics.get_meter(SCOPE, __version__, meter_provider)
    options = options or Options.resolve({})
    instruments = Instruments(meter)
    if _current is not None:
        _current.loops.stop_all()
    _current = Telemetry(
        tracer, instruments, options, LoopMonitors(instruments, options.event_loop_block_threshold)
    )
    return _current


def current() -> Telemetry:
    return _current or build()


def reset() -> None:
    global _current
    if _current is not None:
        _current.loops.stop_all()
    _current = None
