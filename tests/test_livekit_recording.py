"""LiveKit session recordings: a real AgentSession in real time (recorded speech, a real VAD, a
barge-in), its WAV checked against the frames the mic yielded and the output took; its replay page."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("livekit.agents")
np = pytest.importorskip("numpy")

from chromium import Browser, binary  # noqa: E402
from livekit_offline import ScriptedSTT, SpeakerOutput, SpeechInput, ToneTTS  # noqa: E402
from livekit_voice import run_voice_session  # noqa: E402
from local_openai import OpenAIServer  # noqa: E402
from recording_check import TOLERANCE_S, channels, runs, sounding  # noqa: E402

from conftest import Telemetry  # noqa: E402
from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor  # noqa: E402
from opentelemetry_instrumentation_realtime_ai.recording import BOT, RATE, Recorder  # noqa: E402

LEVEL = 100  # what counts as sound, in the file and in the frames alike


class TimedMic(SpeechInput):
    """The demo's mic, noting when each frame was handed to LiveKit and where its sound is."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps: list[tuple[int, float, bool]] = []

    async def __anext__(self):
        frame = await super().__anext__()
        samples = np.frombuffer(bytes(frame.data), dtype="<i2").astype(np.int32)
        loud = np.flatnonzero(np.abs(samples) > LEVEL)
        now = time.time_ns()
        if len(loud):  # the sound within the frame, to the sample
            self.stamps.append((now + int(loud[0] / frame.sample_rate * 1e9), (loud[-1] + 1 - loud[0]) / frame.sample_rate, True))
        return frame


class TimedSpeaker(SpeakerOutput):
    """The demo's speaker (it plays each reply from its first frame on), noting when frames came
    and when LiveKit cleared it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.frames: list[tuple[int, float]] = []
        self.cleared_at: list[int] = []

    async def capture_frame(self, frame):
        self.frames.append((time.time_ns(), frame.duration))
        await super().capture_frame(frame)

    def clear_buffer(self):
        self.cleared_at.append(time.time_ns())
        super().clear_buffer()


def played(speaker, session_end):
    """Ground truth: each reply from its first frame, back to back, to its end or the clear that cut it."""
    replies: list[list[int]] = []
    for t, secs in speaker.frames:
        cleared = replies and any(replies[-1][0] < c <= t for c in speaker.cleared_at)
        if replies and t <= replies[-1][1] and not cleared:
            replies[-1][1] += int(secs * 1e9)
        else:
            replies.append([t, t + int(secs * 1e9)])
    for reply in replies:
        cuts = [c for c in speaker.cleared_at if reply[0] < c < reply[1]] + [session_end]
        reply[1] = min([reply[1], *cuts])
    return replies


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    """One real-time LiveKit call with a barge-in, recorded and replayed."""
    out = tmp_path_factory.mktemp("livekit-recording")
    sink = Telemetry()
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=sink.tracer_provider,
        meter_provider=sink.meter_provider,
        recording_dir=str(out),
        replay_dir=str(out),
    )
    mic, speaker = TimedMic(["weather", "thanks"], gap=1.2), TimedSpeaker()

    async def session():
        async with OpenAIServer() as server:
            await run_voice_session(
                server,
                mic,
                speaker,
                ScriptedSTT(["What is the weather like in Paris?", "Thank you, that is all."]),
                ToneTTS(seconds=3.0),
                interruption={"mode": "vad", "min_duration": 0.3, "resume_false_interruption": False},
            )

    try:
        asyncio.run(session())
        sink.tracer_provider.force_flush()  # the recording, then the page, are complete
    finally:
        instrumentor.uninstrument()
    return out, sink, mic, speaker


def test_the_recording_is_the_call_on_the_span_clock(call):
    out, otel, mic, speaker = call
    run = otel.one("pipeline.run")
    path = run.attributes["realtime_ai.recording.path"]
    assert path.startswith(str(out)) and path.endswith(".wav")
    audio = channels(path)
    assert len(audio) / RATE == pytest.approx((run.end_time - run.start_time) / 1e9, abs=1 / RATE)

    def offset(t):
        return (t - run.start_time) / 1e9

    errors = []
    heard = runs([(offset(t), secs, loud) for t, secs, loud in mic.stamps], gap_s=0.3)
    user = sounding(audio[:, 0], gap_s=0.3, level=LEVEL)
    assert len(heard) == len(user) == 2
    for (start, end), (got_start, got_end) in zip(heard, user, strict=True):
        errors += [got_start - start, got_end - end]

    replies = played(speaker, run.end_time)
    bot = sounding(audio[:, 1], gap_s=0.1, level=LEVEL)
    assert len(replies) == len(bot) >= 2
    for (start, end), (got_start, got_end) in zip(replies, bot, strict=True):
        errors += [got_start - offset(start), got_end - offset(end)]
    print("alignment errors (ms):", [round(e * 1000, 1) for e in errors])
    assert max(abs(e) for e in errors) <= TOLERANCE_S
    # the barge-in: the first reply (a 3 s tone) stopped when LiveKit cleared the output,
    # soon after the user's second utterance began
    assert speaker.cleared_at and bot[0][1] - bot[0][0] < 2.5
    assert heard[1][0] < bot[0][1] < heard[1][0] + 1.0


def test_the_replay_page_at_the_sessions_end(call):
    out, otel, _, _ = call
    run = otel.one("pipeline.run")
    (page,) = out.glob("*.html")
    assert page.stem == Path(run.attributes["realtime_ai.recording.path"]).stem
    text = page.read_text()
    data = json.loads(re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', text, re.S).group(1))
    assert data["session"]["duration"] == pytest.approx((run.end_time - run.start_time) / 1e6, abs=0.001)
    assert data["session"]["framework"] == "livekit"
    assert data["audio"]["src"] == Path(run.attributes["realtime_ai.recording.path"]).name
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [t["number"] for t in data["turns"]] == [t.attributes["turn.number"] for t in turns] == [1, 2]
    assert [t["interrupted"] for t in data["turns"]] == [t.attributes["turn.interrupted"] for t in turns]
    assert [t["interrupted"] for t in data["turns"]] == [True, False]
    for shown, span in zip(data["turns"], turns, strict=True):
        assert shown["latency"] == pytest.approx(span.attributes["turn.user_bot_latency"] * 1000, abs=0.001)
    lanes = {"speech_to_text": "STT", "chat": "LLM", "text_to_speech": "TTS"}
    requests = [s for s in otel.spans() if s.attributes.get("gen_ai.operation.name") in lanes]
    assert sorted(r["lane"] for r in data["requests"]) == sorted(lanes[s.attributes["gen_ai.operation.name"]] for s in requests)


async def test_the_replay_page_in_chromium(call):
    binary()
    out, otel, _, _ = call
    run = otel.one("pipeline.run")
    (page,) = out.glob("*.html")
    async with Browser() as browser:
        await browser.open(page)
        assert await browser.js("[...document.querySelectorAll('#lane-Turns .bar.turn')].map(b => b.classList.contains('interrupted'))") == [True, False]
        duration = await browser.js(
            "new Promise(r => { const a = document.getElementById('replay-audio');"
            " if (a.readyState >= 1) r(a.duration); else a.addEventListener('loadedmetadata', () => r(a.duration)); })"
        )
    assert duration == pytest.approx((run.end_time - run.start_time) / 1e9, abs=0.001)
    assert {url.rsplit("/", 1)[-1] for url in browser.requests} == {page.name, page.stem + ".wav"}


def test_on_hooks_the_audio_where_it_is_defined(instrument, tmp_path):
    from livekit.agents.voice.agent_activity import AgentActivity
    from livekit.agents.voice.io import AudioOutput

    from opentelemetry_instrumentation_realtime_ai.frameworks import livekit as hooks

    instrument(recording_dir=str(tmp_path))
    hooked = {(cls, method) for cls, method, own in hooks._hooks.installed if own}
    assert (AgentActivity, "push_audio") in hooked
    assert {(AudioOutput, m) for m in ("capture_frame", "on_playback_finished", "pause", "resume")} <= hooked


def test_a_sinks_playout_queued_paused_resumed_and_cut(tmp_path):
    """What a sink takes faster than real time plays in turn; a pause holds it, a cut drops the rest."""
    start = time.perf_counter_ns()
    recorder = Recorder(str(tmp_path / "a.wav"), start)
    tone = (np.full(480, 4000)).astype("<i2").tobytes()  # 20 ms at 24 kHz

    def now():
        return (time.perf_counter_ns() - start) / 1e9

    first = now()
    for _ in range(25):  # 0.5 s of a reply at once
        recorder.queue(BOT, tone, 24000, 1)
    time.sleep(0.2)
    paused = now()
    recorder.pause(BOT)
    time.sleep(0.3)
    resumed = now()
    recorder.resume(BOT)  # 0.3 s of the reply left
    time.sleep(0.5)
    second = now()
    for _ in range(25):
        recorder.queue(BOT, tone, 24000, 1)
    time.sleep(0.1)
    cut = now()
    recorder.cut(BOT)
    recorder.close(start + int(1.5e9))
    assert recorder.finished.wait(5)
    bot = sounding(channels(tmp_path / "a.wav")[:, 1], gap_s=0.015)
    expected = [(first, paused), (resumed, resumed + 0.5 - (paused - first)), (second, cut)]
    assert len(bot) == 3
    for (start_s, end_s), (got_start, got_end) in zip(expected, bot, strict=True):
        assert got_start == pytest.approx(start_s, abs=0.003)
        assert got_end == pytest.approx(end_s, abs=0.003)
