"""Holes in the bot's audio: a TTS that stops mid-reply, heard by an output transport playing in real time."""

from __future__ import annotations

import pytest

bot = pytest.importorskip("bot")
pytest.importorskip("pipecat.transports.base_output").BaseOutputTransport.MediaSender  # noqa: B018

PAUSE = (0.4, 0.5)  # after 0.4 s of the first reply's audio (made in 0.2 s), the TTS stops for 0.5 s


def gaps(span):
    return [e for e in span.events if e.name == "realtime_ai.audio.gap"]


async def test_a_reply_that_stutters_shows_its_hole_and_a_smooth_one_shows_none(instrument):
    otel = instrument()
    async with bot.LocalLLMServer() as server:
        voice = bot.VoiceBot(
            llm_base_url=server.base_url, llm_server=server, turns=2, interrupt_turn=None, tts_pause=PAUSE
        )
        result = await voice.run()
    assert result.ended_by == "end"
    heard = voice.speaker.gaps  # ground truth: what the device had nothing to play for
    pause = max(heard, default=0.0)
    assert 0.15 < pause < PAUSE[1], heard  # the pause, less the audio made ahead

    # Every hole the device heard, and only those: on a loaded machine it can hear a short one of
    # its own (the loop held up by a first request's imports), which the telemetry must show too.
    first, second = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    turns = (first, second)
    assert sum(t.attributes["turn.audio_gaps"] for t in turns) == len(heard)
    assert abs(sum(t.attributes["turn.audio_gap_seconds"] for t in turns) - sum(heard)) < 0.03 * len(heard)
    long_ones = sorted(e.attributes["realtime_ai.audio.gap_duration"] for t in turns for e in gaps(t))
    heard_long = sorted(g for g in heard if g >= 0.1)  # audio_gap_threshold: an event for each of these
    assert len(long_ones) == len(heard_long) and all(abs(a - b) < 0.03 for a, b in zip(long_ones, heard_long, strict=True))
    (event,) = [e for e in gaps(first) if abs(e.attributes["realtime_ai.audio.gap_duration"] - pause) < 0.03]
    assert first.start_time < event.timestamp < first.end_time
    if len(heard) == 1:  # the second reply played without a hole
        assert second.attributes["turn.audio_gaps"] == 0 and second.attributes["turn.audio_gap_seconds"] == 0
        assert not gaps(second)
    (metric,) = otel.points("realtime_ai.audio.gap")
    assert metric.count == len(heard) and abs(metric.sum - sum(heard)) < 0.03 * len(heard)
