"""LiveKit Agents from audio: turns and their latency, STT per utterance, TTS per sentence.

An offline ``AgentSession`` with LiveKit's bundled Silero VAD, recorded speech played in real
time (two utterances, about 9 s), a non-streaming STT (so LiveKit's own VAD-driven adapter
runs), the real openai LLM plugin against a local server, a tone TTS and an output that notes
when each reply's first audio arrived. Turn latencies are checked against those instants.
"""

from __future__ import annotations

import pytest

pytest.importorskip("livekit.agents")
inference = pytest.importorskip("livekit.agents.inference")
if not hasattr(inference, "VAD"):
    pytest.skip("no bundled VAD in this LiveKit version", allow_module_level=True)

from livekit_offline import ScriptedSTT, SpeakerOutput, SpeechInput, ToneTTS  # noqa: E402
from livekit_voice import run_voice_session  # noqa: E402
from local_openai import OpenAIServer  # noqa: E402

TRANSCRIPTS = ["What is the weather like in Paris?", "Thank you, that is all."]
FRAME_BYTES = 24000 // 100 * 2  # one 10 ms frame of the TTS's audio


async def voice_session(server: OpenAIServer):
    mic, speaker = SpeechInput(["weather", "thanks"]), SpeakerOutput()
    stt, tts = ScriptedSTT(TRANSCRIPTS), ToneTTS(delay=0.1)
    await run_voice_session(server, mic, speaker, stt, tts)
    return mic, speaker, stt, tts


async def test_turns_latency_and_requests_from_audio(instrument):
    otel = instrument()
    async with OpenAIServer(delay=0.05) as server:
        mic, speaker, stt, tts = await voice_session(server)
    assert len(server.requests) == 2 and len(speaker.first_audio_at) == 2

    run = otel.one("pipeline.run")
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [t.attributes["turn.number"] for t in turns] == [1, 2]
    assert all(t.parent.span_id == run.context.span_id for t in turns)
    assert not any(t.attributes["turn.interrupted"] for t in turns)
    for turn, ended, first_audio in zip(turns, mic.speech_ended_at, speaker.first_audio_at, strict=True):
        truth = first_audio - ended  # the last frame of speech out -> the first audio of the reply in
        assert turn.attributes["turn.user_bot_latency"] == pytest.approx(truth, abs=0.1)
    assert sum(p.count for p in otel.points("realtime_ai.turn.user_bot_latency")) == 2

    for operation in ("speech_to_text", "chat", "text_to_speech"):
        spans = otel.spans(operation)
        assert len(spans) == 2, operation
        assert {s.parent.span_id for s in spans} == {t.context.span_id for t in turns}, operation

    for span, text, seconds_heard in zip(
        sorted(otel.spans("speech_to_text"), key=lambda s: s.start_time), TRANSCRIPTS, stt.heard, strict=True
    ):
        a = span.attributes
        assert span.name == "speech_to_text scripted"
        assert a["stt.provider"] == a["gen_ai.provider.name"] == "ScriptedSTT"
        assert (a["audio.sample_rate"], a["audio.channels"]) == (16000, 1)
        assert a["stt.text_length"] == len(text)
        assert a["gen_ai.response.time_to_first_chunk"] >= stt.delay  # end of speech -> transcript
        # the audio pushed while the VAD heard the utterance: about the speech (what the STT got
        # also holds LiveKit's 0.5 s of padding before it)
        assert 0.5 * seconds_heard * 32000 < a["audio.data_size"] <= seconds_heard * 32000
        assert "gen_ai.output.text" not in a

    for span, produced in zip(
        sorted(otel.spans("text_to_speech"), key=lambda s: s.start_time), tts.produced, strict=True
    ):
        a = span.attributes
        assert span.name == "text_to_speech tone"
        assert a["audio.sample_rate"] == 24000
        # LiveKit pads the last frame of a synthesis to its 10 ms frame size
        assert produced <= a["audio.data_size"] <= produced + FRAME_BYTES
        assert a["gen_ai.response.time_to_first_chunk"] >= tts.delay
        assert a["tts.text_length"] == len("Hello there, friend.")
    assert sum(p.value for p in otel.points("realtime_ai.sessions.active")) == 0


async def test_barge_in_interrupts_the_turn(instrument):
    """The second utterance starts while the first reply is still playing (a 3 s tone)."""
    otel = instrument()
    async with OpenAIServer() as server:
        mic, speaker = SpeechInput(["weather", "thanks"], gap=1.2), SpeakerOutput()
        await run_voice_session(
            server,
            mic,
            speaker,
            ScriptedSTT(TRANSCRIPTS),
            ToneTTS(seconds=3.0),
            interruption={"mode": "vad", "min_duration": 0.3, "resume_false_interruption": False},
        )
    assert speaker.cleared >= 1  # LiveKit stopped the first reply's playback
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [t.attributes["turn.interrupted"] for t in turns] == [True, False]
    assert sum(p.value for p in otel.points("realtime_ai.turn.interruptions")) == 1
