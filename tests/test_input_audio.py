"""Microphone health: a real input transport pushing 20 ms chunks on the wall clock, smoothly, in
bursts (chunks held back, then delivered at once) and with a pause; the summary on ``pipeline.run``
against the arrival times the transport itself noted."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

import pytest

bot = pytest.importorskip("bot")

from pipecat.frames.frames import EndFrame, InputAudioRawFrame, StartFrame  # noqa: E402
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.transports.base_input import BaseInputTransport  # noqa: E402
from pipecat.transports.base_transport import TransportParams  # noqa: E402

RATE = 16000
CHUNK_S = 0.02
CHUNK = b"\x01\x00" * int(RATE * CHUNK_S)


class PacedMic(BaseInputTransport):
    """Chunk ``n`` is captured at ``t0 + n * 20 ms`` and pushed then, unless ``plan`` holds it back.

    ``plan`` maps a chunk number to how many chunks before it are held back and pushed with it
    (a stall: ``held`` chunks late, then a burst), or to a negative number: wait that many seconds
    first and restart the clock (the caller stopped sending, then started again).
    """

    def __init__(self, chunks: int, plan: dict[int, float], on_done):
        super().__init__(TransportParams(audio_in_enabled=True, audio_in_sample_rate=RATE))
        self._chunks, self._plan, self._on_done = chunks, plan, on_done
        self.pushed: list[float] = []  # when each chunk was handed to push_audio_frame
        self._task = None

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)
        self._task = self.create_task(self._play(), "paced_mic")

    async def _stop(self):
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None

    async def stop(self, frame):
        await self._stop()
        await super().stop(frame)

    async def cancel(self, frame):
        await self._stop()
        await super().cancel(frame)

    async def _play(self):
        held = {n - k for n, count in self._plan.items() if count > 0 for k in range(1, int(count) + 1)}
        t0 = time.perf_counter()
        for n in range(self._chunks):
            pause = self._plan.get(n, 0)
            if pause < 0:
                await asyncio.sleep(-pause)
                t0 = time.perf_counter() - n * CHUNK_S
            delay = t0 + n * CHUNK_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if n in held:
                continue
            for _ in range(int(pause) + 1 if pause > 0 else 1):  # the held chunks, then this one
                self.pushed.append(time.perf_counter())
                await self.push_audio_frame(InputAudioRawFrame(audio=CHUNK, sample_rate=RATE, num_channels=1))
        await self._on_done()


def expected(pushed: list[float]) -> dict:
    """The documented rule applied to the transport's own push times (gaps over 1 s: a pause)."""
    gaps = [b - a for a, b in itertools.pairwise(pushed) if b - a <= 1.0]
    late = sum(int(g / CHUNK_S + 0.5) - 1 for g in gaps if g >= 1.5 * CHUNK_S)
    return {"chunks": len(pushed), "p50": statistics.median_low(gaps), "max": max(gaps), "late": late}


async def run_mic(chunks: int, plan: dict[int, float]):
    done = asyncio.Event()

    async def on_done():
        done.set()

    mic = PacedMic(chunks, plan, on_done)
    task = bot.PipelineTask(Pipeline([mic]), params=bot.PipelineParams(audio_in_sample_rate=RATE))

    async def end_when_done():
        await done.wait()
        await task.queue_frame(EndFrame())

    ender = asyncio.ensure_future(end_when_done())
    await asyncio.wait_for(bot._run_task(task, bot._Runner(handle_sigint=False)), 30)
    ender.cancel()
    return mic


def summary(span) -> dict:
    a = span.attributes
    return {
        "chunks": a["audio.input.chunks"],
        "p50": a["audio.input.interarrival.p50"],
        "max": a["audio.input.interarrival.max"],
        "late": a["audio.input.late_chunks"],
    }


def assert_matches(got: dict, truth: dict, max_within: float = 0.001) -> None:
    assert got["chunks"] == truth["chunks"]
    assert got["late"] == truth["late"], (got, truth)
    assert got["p50"] == pytest.approx(truth["p50"], abs=0.001)  # to the nearest millisecond
    assert got["max"] == pytest.approx(truth["max"], abs=max_within)  # exact when it was a late chunk's wait


def late_of(gap: float) -> int:
    return int(gap / CHUNK_S + 0.5) - 1 if gap >= 1.5 * CHUNK_S else 0


async def test_bursts_show_as_late_chunks_and_the_longest_wait(instrument):
    otel = instrument()
    # a 200 ms stall (9 chunks held back, pushed with the 10th when it is due), later a 100 ms one
    mic = await run_mic(100, {30: 9, 70: 4})
    truth = expected(mic.pushed)
    run = otel.one("pipeline.run")
    got = summary(run)
    assert_matches(got, truth)
    # what the plan made: the waits before the two bursts (pushes 21 and 66), the chunks they held
    gaps = [b - a for a, b in itertools.pairwise(mic.pushed)]
    stalls = [gaps[20], gaps[65]]
    print(f"\nmade: stalls {[round(g, 4) for g in stalls]} s, 13 held; summary: {got}")
    assert stalls == [pytest.approx(0.200, abs=0.01), pytest.approx(0.100, abs=0.01)]
    assert [late_of(g) for g in stalls] == [9, 4]
    unplanned = sum(late_of(g) for i, g in enumerate(gaps) if i not in (20, 65))  # the machine's own stalls
    assert got["late"] == 13 + unplanned
    assert got["max"] == pytest.approx(0.200, abs=0.01)
    assert got["p50"] == pytest.approx(CHUNK_S, abs=0.003)
    # the metric: one point per wait that made chunks late
    (point,) = otel.points("realtime_ai.audio.input.gap")
    assert point.count == 2 + sum(1 for i, g in enumerate(gaps) if i not in (20, 65) and late_of(g))
    # each wait to the millisecond, as above (the meter and the test read the clock at two points)
    assert point.sum == pytest.approx(sum(g for g in gaps if late_of(g)), abs=1e-3 * point.count)
    assert point.attributes == {"pipeline.name": run.attributes["pipeline.name"].split("#")[0]}


async def test_smooth_input_shows_no_late_chunks(instrument):
    otel = instrument()
    for attempt in range(5):  # the shared machine may stall the paced mic itself: then it was not smooth
        mic = await run_mic(25, {})
        truth = expected(mic.pushed)
        runs = otel.spans("pipeline.run")
        assert len(runs) == attempt + 1
        got = summary(runs[-1])
        assert_matches(got, truth)
        if truth["late"] == 0:
            break
    assert got["late"] == 0 and got["max"] < 1.5 * CHUNK_S
    assert got["p50"] == pytest.approx(CHUNK_S, abs=0.003)
    assert len(otel.points("realtime_ai.audio.input.gap")) == (attempt > 0)  # only a stalled attempt's


async def test_a_pause_in_the_audio_is_not_lateness(instrument):
    otel = instrument()
    mic = await run_mic(40, {20: -1.2})  # the caller sends nothing for 1.2 s, then goes on
    got = summary(otel.one("pipeline.run"))
    assert_matches(got, expected(mic.pushed))
    gaps = [b - a for a, b in itertools.pairwise(mic.pushed)]
    assert gaps[19] > 1.2  # the pause is there, and in no number: not the longest gap, no late chunks
    assert got["chunks"] == 40 and got["max"] < 0.5
    assert got["late"] == sum(late_of(g) for i, g in enumerate(gaps) if i != 19)  # the machine's own stalls


class QuietMic(BaseInputTransport):
    """An input transport that captures nothing itself: the audio comes down the pipeline."""

    def __init__(self):
        super().__init__(TransportParams(audio_in_enabled=True, audio_in_sample_rate=RATE))

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)


async def test_audio_made_ahead_of_time_is_not_late(instrument):
    """Frames queued all at once (as ``run_test`` and replays feed them) arrive back to back: no lateness."""
    if "InputAudioRawFrame" not in BaseInputTransport.process_frame.__code__.co_names:
        pytest.skip("this Pipecat passes audio from upstream along without its input transport taking it in")
    otel = instrument()
    task = bot.PipelineTask(Pipeline([QuietMic()]), params=bot.PipelineParams(audio_in_sample_rate=RATE))
    await task.queue_frames([InputAudioRawFrame(audio=CHUNK, sample_rate=RATE, num_channels=1) for _ in range(30)])
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(bot._run_task(task, bot._Runner(handle_sigint=False)), 30)
    got = summary(otel.one("pipeline.run"))
    assert got["chunks"] == 30 and got["late"] == 0
    assert got["p50"] < CHUNK_S / 2 and got["max"] < 1.5 * CHUNK_S


def test_the_rule_on_given_arrival_times(otel):
    """The helper alone, fed arrival times: what counts as late, a pause, a change of chunk length."""
    from opentelemetry_instrumentation_realtime_ai.helpers.session import Session

    session = Session("mic-rule")
    mic = session.input_audio(RATE * 2)
    assert mic is not None
    at, size = 100.0, len(CHUNK)  # 640 bytes: 20 ms
    arrivals = [at + 0.02 * n for n in range(11)]  # on time
    arrivals += [arrivals[-1] + 0.2] * 10  # a 200 ms stall: 9 late, then the burst
    arrivals += [arrivals[-1] + 0.029, arrivals[-1] + 0.029 + 0.031]  # under 1.5 chunks; then just over
    arrivals += [arrivals[-1] + 1.5]  # a pause: not counted
    for t in arrivals:
        assert mic.heard(t, size)
    assert mic.heard(arrivals[-1] + 0.02, size // 2)  # 10 ms chunks from here on
    assert mic.heard(arrivals[-1] + 0.04, size // 2)  # 20 ms after a 10 ms chunk: one late
    session.end()
    assert not mic.heard(arrivals[-1] + 0.06, size)  # the session is over
    assert session.input_audio(RATE * 2) is None
    attributes = session.span.attributes
    assert attributes["audio.input.chunks"] == len(arrivals) + 2
    assert attributes["audio.input.late_chunks"] == 9 + 1 + 1
    assert attributes["audio.input.interarrival.max"] == pytest.approx(0.2)
    # gaps: 10 + 1 of 20 ms, the stall, 9 of 0, 29 ms, 31 ms, 20 ms: the median is 20 ms
    assert attributes["audio.input.interarrival.p50"] == pytest.approx(0.020)
    (point,) = otel.points("realtime_ai.audio.input.gap")
    assert point.count == 3 and point.sum == pytest.approx(0.2 + 0.031 + 0.02)
