"""Speech-to-speech on LiveKit: a ``RealtimeModel`` subclass driving an offline ``AgentSession``.

The stand-in model answers each ``generate_reply`` the way provider plugins do: a
``generation_created`` event with text and audio streams, then ``metrics_collected`` with
the response's token counts. Each response must be one ``chat`` span carrying them.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("livekit.agents")

from livekit import rtc
from livekit.agents import Agent, AgentSession, llm, utils
from livekit.agents.llm import realtime

metrics_module = pytest.importorskip("livekit.agents.metrics")


class EchoRealtimeModel(realtime.RealtimeModel):
    def __init__(self, *, delay: float = 0.08):
        super().__init__(
            capabilities=realtime.RealtimeCapabilities(
                message_truncation=False,
                turn_detection=False,
                user_transcription=False,
                auto_tool_reply_generation=False,
                audio_output=True,
                manual_function_calls=False,
            )
        )
        self.delay = delay
        self.reported: list[tuple[int, int]] = []

    @property
    def model(self) -> str:
        return "echo-realtime"

    def session(self, **kwargs) -> EchoSession:
        return EchoSession(self)

    async def aclose(self) -> None:
        pass


class EchoSession(realtime.RealtimeSession):
    def __init__(self, model: EchoRealtimeModel):
        super().__init__(model)
        self._model = model
        self._chat_ctx = llm.ChatContext.empty()
        self._tools = llm.ToolContext.empty()
        self.responses = 0

    @property
    def chat_ctx(self):
        return self._chat_ctx.copy()

    @property
    def tools(self):
        return self._tools.copy()

    async def update_instructions(self, instructions: str) -> None:
        pass

    async def update_chat_ctx(self, chat_ctx) -> None:
        self._chat_ctx = chat_ctx.copy()

    async def update_tools(self, tools) -> None:
        pass

    def update_options(self, *, tool_choice=None) -> None:
        pass

    def push_audio(self, frame) -> None:
        pass

    def push_video(self, frame) -> None:
        pass

    def generate_reply(self, **kwargs):
        self.responses += 1
        response_id = f"resp_{self.responses}"
        text_ch, audio_ch = utils.aio.Chan[str](), utils.aio.Chan[rtc.AudioFrame]()
        message_ch, function_ch = utils.aio.Chan(), utils.aio.Chan()
        modalities: asyncio.Future = asyncio.get_running_loop().create_future()
        modalities.set_result(["text", "audio"])
        message_ch.send_nowait(
            realtime.MessageGeneration(f"msg_{self.responses}", text_ch, audio_ch, modalities)
        )
        message_ch.close()
        function_ch.close()
        event = realtime.GenerationCreatedEvent(
            message_ch, function_ch, user_initiated=True, response_id=response_id
        )
        self.emit("generation_created", event)
        asyncio.get_running_loop().create_task(self._respond(response_id, text_ch, audio_ch))
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        done.set_result(event)
        return done

    async def _respond(self, response_id, text_ch, audio_ch) -> None:
        await asyncio.sleep(self._model.delay)
        text_ch.send_nowait("Bonjour!")
        audio_ch.send_nowait(rtc.AudioFrame(bytes(4800), 24000, 1, 2400))
        text_ch.close()
        audio_ch.close()
        tokens = (40 + self.responses, 12)
        self._model.reported.append(tokens)
        self.emit(
            "metrics_collected",
            metrics_module.RealtimeModelMetrics.model_construct(  # the fields of 1.2 and 1.8 alike
                request_id=response_id,
                timestamp=0.0,
                ttft=self._model.delay,
                cancelled=False,
                duration=self._model.delay,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                total_tokens=sum(tokens),
                input_token_details=metrics_module.RealtimeModelMetrics.InputTokenDetails.model_construct(
                    audio_tokens=30
                ),
                output_token_details=metrics_module.RealtimeModelMetrics.OutputTokenDetails.model_construct(
                    audio_tokens=10
                ),
            ),
        )

    def commit_audio(self) -> None:
        pass

    def clear_audio(self) -> None:
        pass

    def interrupt(self) -> None:
        pass

    def truncate(self, **kwargs) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def test_each_realtime_response_is_one_chat_span(instrument):
    otel = instrument()
    model = EchoRealtimeModel()
    session = AgentSession(llm=model)
    await session.start(Agent(instructions="echo"))
    try:
        for text in ("hello", "again"):
            await session.run(user_input=text)
    finally:
        await session.aclose()
    assert len(model.reported) == 2
    run = otel.one("pipeline.run")
    chats = sorted(otel.spans("chat"), key=lambda s: s.start_time)
    assert [s.name for s in chats] == ["chat echo-realtime"] * 2
    for span, (input_tokens, output_tokens) in zip(chats, model.reported, strict=True):
        a = span.attributes
        assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (
            input_tokens,
            output_tokens,
        )
        assert a["gen_ai.response.time_to_first_chunk"] == pytest.approx(model.delay)
        assert a["gen_ai.provider.name"] == "EchoRealtimeModel"
        assert span.parent.span_id == run.context.span_id
        assert span.end_time - span.start_time >= model.delay * 1e9


async def test_livekit_realtime_inference_span_is_not_counted(instrument):
    from livekit.agents import telemetry as lk_telemetry

    otel = instrument()
    previous = lk_telemetry.tracer._tracer_provider
    lk_telemetry.set_tracer_provider(otel.tracer_provider)
    try:
        session = AgentSession(llm=EchoRealtimeModel())
        await session.start(Agent(instructions="echo"))
        try:
            await session.run(user_input="hello")
        finally:
            await session.aclose()
    finally:
        lk_telemetry.tracer.set_provider(previous)
    inference = {"chat", "generate_content"}
    counted = [s.name for s in otel.spans() if s.attributes.get("gen_ai.operation.name") in inference]
    assert counted == ["chat echo-realtime"]
    assert len(otel.spans()) > 3  # LiveKit's own spans are there too
