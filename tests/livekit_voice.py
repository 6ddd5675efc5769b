"""An offline LiveKit voice session for the tests, on either supported LiveKit version.

The demo's stand-ins (recorded speech paced in real time, a scripted STT, a tone TTS, a speaker
that plays in real time) and the real openai LLM plugin against a local server. The VAD is a
real one: LiveKit's bundled ``inference.VAD`` (1.8), else the Silero plugin (1.2).
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from livekit.agents import Agent, AgentSession, inference
from livekit.plugins import openai
from local_openai import OpenAIServer


def vad():
    if hasattr(inference, "VAD"):
        return inference.VAD()
    return pytest.importorskip("livekit.plugins.silero").VAD.load()


def _options(turn_handling: dict) -> dict:
    """AgentSession's turn settings: grouped in ``turn_handling`` (1.8), separate before."""
    if "turn_handling" in inspect.signature(AgentSession).parameters:
        return {
            "turn_handling": {
                "turn_detection": "vad",
                "endpointing": {"min_delay": 0.2},
                "preemptive_generation": {"enabled": False},
                **turn_handling,
            },
            "aec_warmup_duration": None,
            "session_close_transcript_timeout": 0.5,
        }
    interruption = turn_handling.get("interruption", {})
    return {
        "turn_detection": "vad",
        "min_endpointing_delay": 0.2,
        "preemptive_generation": False,
        "min_interruption_duration": interruption.get("min_duration", 0.5),
        "resume_false_interruption": interruption.get("resume_false_interruption", True),
    }


async def run_voice_session(server: OpenAIServer, mic, speaker, stt, tts, **turn_handling) -> None:
    """An offline AgentSession from the mic to the speaker, until the mic's script is done."""
    session = AgentSession(
        vad=vad(),
        stt=stt,
        llm=openai.LLM(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test"),
        tts=tts,
        user_away_timeout=None,
        **_options(turn_handling),
    )
    session.input.audio, session.output.audio = mic, speaker
    await session.start(Agent(instructions="be brief"))
    try:
        await asyncio.wait_for(mic.done.wait(), 30)
    finally:
        await session.aclose()
