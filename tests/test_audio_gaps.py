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
    assert len(heard) == 1 and 0.15 < heard[0] < PAUSE[1], heard  # the pause, less the audio made ahead

    first, second = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert first.attributes["turn.audio_gaps"] == 1
    assert abs(first.attributes["turn.audio_gap_seconds"] - heard[0]) < 0.03
    (event,) = gaps(first)
    assert abs(event.attributes["realtime_ai.audio.gap_duration"] - heard[0]) < 0.03
    assert first.start_time < event.timestamp < first.end_time
    # The second reply played without a hole.
    assert second.attributes["turn.audio_gaps"] == 0 and second.attributes["turn.audio_gap_seconds"] == 0
    assert not gaps(second)
    (metric,) = otel.points("realtime_ai.audio.gap")
    assert metric.count == 1 and abs(metric.sum - heard[0]) < 0.03
