"""Offline, key-less LiveKit Agents voice agent: the application the LiveKit tracing demo observes.

An ``AgentSession`` with real LiveKit classes and stand-ins only for the providers and devices
(``livekit_offline.py``): recorded speech played in real time into LiveKit's bundled Silero VAD,
a scripted STT, LiveKit's real openai LLM plugin talking HTTP/SSE to a local server
(``local_openai.py``), a tone TTS, and a speaker that plays in real time. The first question
makes the model call a function tool. ``--text`` runs the same conversation as typed text (no
audio, about a second). No OpenTelemetry here.

    python examples/livekit_demo/agent.py            # two spoken turns, ~9 s
    python examples/livekit_demo/agent.py --text     # text mode
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from livekit.agents import Agent, AgentSession, function_tool
from livekit.plugins import openai
from local_openai import OpenAIServer, Reply

QUESTIONS = ["What is the weather like in Paris?", "Thank you, that is all."]


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a brief weather assistant.")

    @function_tool
    async def get_weather(self, location: str) -> str:
        """The current weather in a city."""
        await asyncio.sleep(0.05)
        return f"sunny in {location}"


def script(server: OpenAIServer) -> None:
    server.replies = [
        Reply(tool_call=("get_weather", '{"location": "Paris"}')),
        Reply(["It is", " sunny", " in Paris."]),
        Reply(["You're", " welcome."]),
    ]


async def run_agent(*, text: bool = False) -> list[str]:
    """One conversation; returns what the agent said."""
    async with OpenAIServer() as server:
        script(server)
        llm = openai.LLM(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-offline")
        if text:
            session = AgentSession(llm=llm)
            await session.start(WeatherAgent())
            said = []
            try:
                for question in QUESTIONS:
                    result = await session.run(user_input=question)
                    said.append(result.events[-1].item.text_content)
            finally:
                await session.aclose()
            return said
        return await _voice(llm)


async def _voice(llm: openai.LLM) -> list[str]:
    from livekit.agents import inference
    from livekit_offline import ScriptedSTT, SpeakerOutput, SpeechInput, ToneTTS

    mic, speaker = SpeechInput(["weather", "thanks"]), SpeakerOutput()
    session = AgentSession(
        vad=inference.VAD(),
        stt=ScriptedSTT(QUESTIONS),
        llm=llm,
        tts=ToneTTS(),
        turn_handling={
            "turn_detection": "vad",
            "endpointing": {"min_delay": 0.2},
            "preemptive_generation": {"enabled": False},
        },
        aec_warmup_duration=None,
        user_away_timeout=None,
        session_close_transcript_timeout=0.5,
    )
    said: list[str] = []
    session.on(
        "conversation_item_added",
        lambda ev: (
            said.append(ev.item.text_content) if getattr(ev.item, "role", None) == "assistant" else None
        ),
    )
    session.input.audio, session.output.audio = mic, speaker
    await session.start(WeatherAgent())
    try:
        await asyncio.wait_for(mic.done.wait(), 60)
    finally:
        await session.aclose()
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", action="store_true", help="typed text instead of speech")
    args = parser.parse_args(argv)
    for line in asyncio.run(run_agent(text=args.text)):
        print(f"agent: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
