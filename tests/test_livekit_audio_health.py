"""Real-time health on LiveKit: the caller's audio arriving in a burst, a hole in the agent's reply.

The offline ``AgentSession`` of ``test_livekit_audio`` (recorded speech in real time, LiveKit's
VAD, the real openai LLM plugin against a local server), with a microphone that stalls once and
then delivers what it held back at once, and a TTS that stops in the middle of the first reply.
Ground truth: the microphone's own stamps of each frame it handed over, and the holes a device
playing the speaker's frames in real time would have had.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

pytest.importorskip("livekit.agents")

from livekit_offline import ScriptedSTT, SpeakerOutput, SpeechInput, ToneTTS
from livekit_voice import run_voice_session
from local_openai import OpenAIServer

STALL_AT, STALL = 10, 0.2  # the mic holds its 11th frame back for 200 ms, then catches up
PAUSE = (0.45, 1.0)  # the first reply's audio stops after 0.45 s of it, for 1 s
FRAME_S = 0.01


class StallingInput(SpeechInput):
    def __init__(self, utterances: list[str]):
        super().__init__(utterances, gap=3.5)  # room for the first reply and its pause
        self.stamps: list[float] = []
        """time.perf_counter() when each frame was handed to LiveKit."""

    async def __anext__(self):
        if len(self.stamps) == STALL_AT:
            await asyncio.sleep(STALL)  # the audio stops coming; the pacing then sends what is due at once
        frame = await super().__anext__()
        self.stamps.append(time.perf_counter())
        return frame


class PlayingSpeaker(SpeakerOutput):
    def __init__(self):
        super().__init__()
        self.holes: list[list[float]] = []
        """Per reply, how long a device playing its frames in real time had nothing to play, mid-reply."""
        self._until = 0.0

    async def capture_frame(self, frame) -> None:
        now = time.perf_counter()
        if not self._segment_started:
            self.holes.append([])
        elif now - self._until > 0.02:
            self.holes[-1].append(now - self._until)
        self._until = max(self._until, now) + frame.duration
        await super().capture_frame(frame)


def late_chunks(stamps: list[float]) -> tuple[int, float]:
    """Late chunks and the longest wait by the rule the docs state (a wait of 1.5 chunks or more)."""
    waits = [b - a for a, b in itertools.pairwise(stamps)]
    late = sum(round(w / FRAME_S) - 1 for w in waits if 1.5 * FRAME_S <= w <= 1.0)
    return late, max(waits)


def gap_events(span):
    return [e for e in span.events if e.name == "realtime_ai.audio.gap"]


async def test_a_burst_of_the_callers_audio_and_a_hole_in_the_reply(instrument):
    otel = instrument()
    mic, speaker = StallingInput(["weather", "thanks"]), PlayingSpeaker()
    stt = ScriptedSTT(["What is the weather like in Paris?", "Thank you, that is all."])
    async with OpenAIServer(delay=0.05) as server:
        await run_voice_session(server, mic, speaker, stt, ToneTTS(delay=0.1, seconds=0.6, pause=PAUSE))

    run = otel.one("pipeline.run").attributes
    late, longest = late_chunks(mic.stamps)
    assert longest >= STALL - FRAME_S and late >= STALL / FRAME_S - 2, (longest, late)  # the stall, at least
    assert run["audio.input.interarrival.max"] == pytest.approx(longest, abs=0.001)
    assert run["audio.input.interarrival.p50"] == pytest.approx(FRAME_S, abs=0.001)
    assert run["audio.input.late_chunks"] == late
    assert len(mic.stamps) - 50 < run["audio.input.chunks"] <= len(mic.stamps)  # less what followed the close
    (waits,) = otel.points("realtime_ai.audio.input.gap")
    assert waits.count >= 1 and waits.sum >= longest - 0.001

    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert len(turns) == len(speaker.holes) == 2
    first, second = speaker.holes
    hole = max(first)
    # the pause, less what LiveKit had passed on of the audio made before it (1.8 forwards it in
    # 10 ms frames as it comes, 1.2 in 200 ms frames, late)
    assert 0.1 < hole < PAUSE[1] + 0.05
    for turn, heard in zip(turns, speaker.holes, strict=True):
        a = turn.attributes
        stages = {k: v for k, v in a.items() if k.startswith("turn.latency.")}
        assert sum(stages.values()) == pytest.approx(a["turn.user_bot_latency"], abs=0.0005), a
        assert a["turn.audio_gaps"] == len(heard), (a, heard)
        assert a["turn.audio_gap_seconds"] == pytest.approx(sum(heard), abs=0.005 * len(heard))
        long_ones = [e.attributes["realtime_ai.audio.gap_duration"] for e in gap_events(turn)]
        assert long_ones == pytest.approx([h for h in heard if h >= 0.1], abs=0.005)
        assert all(turn.start_time < e.timestamp < turn.end_time for e in gap_events(turn))
    assert second == [] and turns[1].attributes["turn.audio_gaps"] == 0  # a smooth reply shows none
    (metric,) = otel.points("realtime_ai.audio.gap")
    assert metric.count == len(first) and metric.sum == pytest.approx(sum(first), abs=0.005 * len(first))


def test_the_audio_is_hooked_where_it_is_defined_and_recording_off_adds_nothing(instrument):
    from livekit.agents.voice.agent_activity import AgentActivity
    from livekit.agents.voice.io import AudioOutput

    from opentelemetry_instrumentation_realtime_ai.frameworks import livekit as hooks

    instrument()
    hooked = {(cls, method) for cls, method, own in hooks._hooks.installed if own}
    assert (AgentActivity, "push_audio") in hooked
    assert {(AudioOutput, m) for m in ("capture_frame", "pause", "resume")} <= hooked
    assert (AudioOutput, "on_playback_finished") not in hooked  # only a recording cuts on it


async def test_broken_audio_bookkeeping_never_reaches_the_app(instrument, monkeypatch):
    from opentelemetry_instrumentation_realtime_ai.helpers.input_audio import InputAudio
    from opentelemetry_instrumentation_realtime_ai.helpers.output_audio import Playout

    def broken(*args, **kwargs):
        raise RuntimeError("telemetry bug")

    otel = instrument()
    for cls, method in ((InputAudio, "heard"), (Playout, "queued"), (Playout, "restart")):
        monkeypatch.setattr(cls, method, broken)
    mic, speaker = SpeechInput(["weather", "thanks"]), SpeakerOutput()
    stt = ScriptedSTT(["What is the weather like in Paris?", "Thank you, that is all."])
    tts = ToneTTS(delay=0.1)
    async with OpenAIServer(delay=0.05) as server:
        await run_voice_session(server, mic, speaker, stt, tts)
    # the conversation went on as without us: both questions answered, all of each reply played
    # (LiveKit pads a reply's last frames, so the speaker gets a little more than the TTS made)
    assert len(server.requests) == 2 and len(speaker.first_audio_at) == 2
    assert speaker.received >= sum(tts.produced) > 0
    assert len(otel.spans("conversation.turn")) == 2 and otel.one("pipeline.run").end_time is not None
