"""Event-loop stalls on a real pipeline: an element that blocks the loop shows on the turn where it happened."""

from __future__ import annotations

import threading

import pytest

bot = pytest.importorskip("bot")

BLOCK_SECONDS = 0.3


def by_number(turns):
    return sorted(turns, key=lambda s: s.attributes["turn.number"])


def stalls(span):
    return [e for e in span.events if e.name == "realtime_ai.event_loop.blocked"]


async def test_a_blocking_element_stalls_the_turn_it_served(instrument):
    otel = instrument()
    result = await bot.run_bot(
        turns=3, interrupt_turn=None, realtime=False, block_seconds=BLOCK_SECONDS, block_turn=2
    )
    assert result.ended_by == "end"
    turns = by_number(otel.spans("conversation.turn"))
    # Only the turn whose transcript was blocked. (Other stalls can be real too: on a busy machine the
    # openai client's first request, which imports lazily, blocks the loop for ~0.1 s.)
    blocked = [
        (t.attributes["turn.number"], e)
        for t in turns
        for e in stalls(t)
        if e.attributes.get("pipeline.element", "").startswith("LoopBlocker")
    ]
    assert [number for number, _ in blocked] == [2]
    ((_, stall),) = blocked
    ((turn, slept),) = result.blocked  # what LoopBlocker measured; the monitor's tick is 10 ms
    assert turn == 2
    assert abs(stall.attributes["realtime_ai.event_loop.blocked_duration"] - slept) < 0.015
    (lag,) = otel.points("realtime_ai.event_loop.lag")
    assert lag.count >= 5 and lag.max >= slept - 0.011  # one observation per 100 ms: the worst tick
    assert not stalls(otel.one("pipeline.run"))  # a turn was open: the event went there
    # One monitor per loop; it stops with the loop's last session.
    assert not [t for t in threading.enumerate() if t.name == "otel-realtime-ai-loop-watchdog" and t.is_alive()]


async def test_a_smooth_session_has_no_stall(instrument):
    await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)  # first use: lazy imports done
    otel = instrument(event_loop_block_threshold=0.2)
    await bot.run_bot(turns=1, interrupt_turn=None, realtime=False)
    assert not [e for s in otel.spans() for e in stalls(s)]
    (lag,) = otel.points("realtime_ai.event_loop.lag")
    assert lag.count > 0 and lag.max < 0.2


async def test_helper_sessions_are_watched_and_a_broken_reader_is_harmless(otel, monkeypatch):
    """For code the hooks cannot see: a Session made on a running loop is watched too."""
    import asyncio
    import time

    import opentelemetry_instrumentation_realtime_ai as rt
    from opentelemetry_instrumentation_realtime_ai import telemetry

    def broken(frame):
        raise RuntimeError("a reader that fails")

    telemetry.current().loops.element_of = broken
    session = rt.instrument_pipeline_start("in-house")
    await asyncio.sleep(0.05)  # the monitor's first ticks
    start = time.perf_counter()
    time.sleep(0.25)  # blocks the loop, outside any turn
    slept = time.perf_counter() - start
    await asyncio.sleep(0.05)
    rt.instrument_pipeline_stop(session)
    run = otel.one("pipeline.run")
    (stall,) = stalls(run)
    assert abs(stall.attributes["realtime_ai.event_loop.blocked_duration"] - slept) < 0.015, slept
    assert "pipeline.element" not in stall.attributes  # the reader failed: no element, no error
