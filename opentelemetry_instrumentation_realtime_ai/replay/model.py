"""What a replay page shows, worked out from one session's spans by the published telemetry names.

Times are milliseconds from the start of the session's ``pipeline.run`` span: the clock of the
page's axis and of the recording. Nothing here depends on the framework that made the spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import attributes as attrs
from .spans import Span

LANES = (
    (attrs.OPERATION_SPEECH_TO_TEXT, "STT"),
    (attrs.OPERATION_CHAT, "LLM"),
    (attrs.OPERATION_TEXT_TO_SPEECH, "TTS"),
    (attrs.OPERATION_EXECUTE_TOOL, "Tools"),
)
_LANE_OF = dict(LANES)
_CONTENT = (
    attrs.GEN_AI_OUTPUT_TEXT,
    attrs.GEN_AI_INPUT_TEXT,
    attrs.GEN_AI_OUTPUT_MESSAGES,
    attrs.GEN_AI_INPUT_MESSAGES,
)


class NoSession(ValueError):
    """The spans hold no ``pipeline.run`` span (or not the one asked for)."""


def sessions(spans: Sequence[Span]) -> list[str]:
    """The session ids of the ``pipeline.run`` spans, in the order they started."""
    runs = sorted((s for s in spans if s.name == attrs.SPAN_PIPELINE_RUN), key=lambda s: (s.start, s.span_id))
    return [str(s.attributes.get(attrs.SESSION_ID, s.span_id)) for s in runs]


def _run_of(spans: Sequence[Span], session_id: str | None) -> Span:
    runs = [s for s in spans if s.name == attrs.SPAN_PIPELINE_RUN]
    if session_id is not None:
        runs = [s for s in runs if str(s.attributes.get(attrs.SESSION_ID, s.span_id)) == session_id]
    if not runs:
        raise NoSession(
            f"no {attrs.SPAN_PIPELINE_RUN} span" + (f" with session.id {session_id!r}" if session_id else "")
        )
    return min(runs, key=lambda s: (s.start, s.span_id))


def _is_connection(span: Span) -> bool:
    return attrs.CONNECTION_ID in span.attributes and span.name.startswith(attrs.connection_span_name(""))


def shown(name: str, attributes: Any, event_names: Any) -> bool:
    """The spans a page is made of; every other span (frame spans, the app's own) is left out."""
    return (
        name in (attrs.SPAN_PIPELINE_RUN, attrs.SPAN_TURN)
        or attrs.GEN_AI_OPERATION_NAME in attributes
        or attrs.CONNECTION_ID in attributes
        or attrs.EVENT_LOOP_BLOCKED in event_names
    )


def session_spans(spans: Sequence[Span], run: Span) -> list[Span]:
    """The run's trace, the traces of its turns (``trace_per_turn``), and connections that lived in it.

    A connection made before the run (a WebRTC offer) has a trace of its own: it is the run's
    when it started before the run ended and was closed by then.
    """
    session_id = run.attributes.get(attrs.SESSION_ID)
    traces = {run.trace_id}
    traces.update(
        s.trace_id
        for s in spans
        if s.name == attrs.SPAN_TURN
        and session_id is not None
        and s.attributes.get(attrs.SESSION_ID) == session_id
    )
    # what ended after the run is left out: the session-end writer cannot have it
    chosen = [
        s
        for s in spans
        if s.trace_id in traces
        and s.end <= run.end
        and shown(s.name, s.attributes, [e.name for e in s.events])
    ]
    chosen += [
        s
        for s in spans
        if s.trace_id not in traces
        and not s.parent_id
        and _is_connection(s)
        and s.start < run.end
        and s.end <= run.end
    ]
    return sorted(chosen, key=lambda s: (s.start, s.span_id))


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(value: Any) -> float | None:
    return (
        round(float(value) * 1000, 3)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else None
    )


def build(spans: Sequence[Span], session_id: str | None = None) -> dict[str, Any]:
    """The page's data for one session (the first one when ``session_id`` is None)."""
    run = _run_of(spans, session_id)
    t0 = run.start

    def at(ns: int) -> float:
        return round((ns - t0) / 1e6, 3)

    chosen = session_spans(spans, run)
    index = {s.span_id: i for i, s in enumerate(chosen)}
    table = [
        {
            "id": s.span_id,
            "name": s.name,
            "start": at(s.start),
            "end": at(s.end),
            "attributes": s.attributes,
            "events": [{"name": e.name, "time": at(e.time), "attributes": e.attributes} for e in s.events],
            "error": s.status == 2,
        }
        for s in chosen
    ]
    turns: list[dict[str, Any]] = []
    for s in chosen:
        if s.name != attrs.SPAN_TURN:
            continue
        stages = [
            {"name": key[len(attrs.TURN_LATENCY_PREFIX) :], "ms": _ms(value)}
            for key, value in s.attributes.items()
            if key.startswith(attrs.TURN_LATENCY_PREFIX) and _ms(value) is not None
        ]
        turns.append(
            {
                "span": index[s.span_id],
                "number": s.attributes.get(attrs.TURN_NUMBER),
                "start": at(s.start),
                "end": at(s.end),
                "interrupted": bool(s.attributes.get(attrs.TURN_INTERRUPTED, False)),
                "latency": _ms(s.attributes.get(attrs.TURN_USER_BOT_LATENCY)),
                "stages": stages,
            }
        )
    turns.sort(key=lambda t: (t["number"] if isinstance(t["number"], int) else 1 << 30, t["start"]))
    by_id = {s.span_id: s for s in chosen}
    requests = []
    for s in chosen:
        lane = _LANE_OF.get(s.attributes.get(attrs.GEN_AI_OPERATION_NAME))  # type: ignore[arg-type]
        if lane is None:
            continue
        text = next((str(s.attributes[k]) for k in _CONTENT if k in s.attributes), None)
        turn = _turn_of(s, by_id)
        requests.append(
            {
                "span": index[s.span_id],
                "lane": lane,
                "start": at(s.start),
                "end": at(s.end),
                "interrupted": bool(s.attributes.get(attrs.INTERRUPTED, False)),
                "error": s.status == 2,
                "text": text,
                "turn": turn,
            }
        )
    states = [
        {
            "span": index[s.span_id],
            "time": at(e.time),
            "state": e.attributes.get(attrs.CONNECTION_STATE),
            "old": e.attributes.get(attrs.CONNECTION_OLD_STATE),
            "type": s.attributes.get(attrs.CONNECTION_TYPE),
        }
        for s in chosen
        if _is_connection(s)
        for e in s.events
        if e.name == attrs.EVENT_STATE_CHANGE
    ]
    stalls = [
        {
            "span": index[s.span_id],
            "time": at(e.time),
            "ms": _ms(e.attributes.get(attrs.EVENT_LOOP_BLOCKED_DURATION)),
            "element": e.attributes.get(attrs.PIPELINE_ELEMENT),
        }
        for s in chosen
        for e in s.events
        if e.name == attrs.EVENT_LOOP_BLOCKED
    ]
    states.sort(key=lambda m: (m["time"], m["span"]))
    stalls.sort(key=lambda m: (m["time"], m["span"]))
    holes = sorted(
        (
            {
                "span": index[s.span_id],
                "time": at(e.time),
                "ms": _ms(e.attributes.get(attrs.AUDIO_GAP_DURATION)),
            }
            for s in chosen
            for e in s.events
            if e.name == attrs.EVENT_AUDIO_GAP
        ),
        key=lambda m: (m["time"], m["span"]),
    )
    latencies = [t["latency"] for t in turns if t["latency"] is not None]
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    return {
        "session": {
            "id": str(run.attributes.get(attrs.SESSION_ID, run.span_id)),
            "pipeline": run.attributes.get(attrs.PIPELINE_NAME),
            "framework": run.attributes.get(attrs.FRAMEWORK),
            "span": index[run.span_id],
            "start_unix_ns": str(run.start),
            "duration": at(run.end),
            "recording": run.attributes.get(attrs.RECORDING_PATH),
        },
        "turns": turns,
        "requests": requests,
        "states": states,
        "stalls": stalls,
        "holes": holes,
        "latency": {
            "p50": None if p50 is None else round(p50, 3),
            "p95": None if p95 is None else round(p95, 3),
        },
        "spans": table,
    }


def _turn_of(span: Span, by_id: dict[str, Span]) -> int | None:
    """The number of the turn a request ran under (its nearest ``conversation.turn`` ancestor)."""
    parent = by_id.get(span.parent_id)
    while parent is not None:
        if parent.name == attrs.SPAN_TURN:
            number = parent.attributes.get(attrs.TURN_NUMBER)
            return number if isinstance(number, int) else None
        parent = by_id.get(parent.parent_id)
    return None
