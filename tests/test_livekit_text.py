"""LiveKit Agents in text mode: the real openai plugin against a local OpenAI-compatible server.

The fast cases: sessions, chat requests and their errors, LiveKit's own spans beside ours.
Spans are checked against what the server received and sent.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
import wrapt

pytest.importorskip("livekit.agents")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "livekit_demo"))

from livekit.agents import Agent, AgentSession, APIConnectOptions, function_tool, llm
from livekit.agents import telemetry as lk_telemetry
from livekit.plugins import openai
from local_openai import OpenAIServer, Reply

from opentelemetry_instrumentation_realtime_ai.config import ENV_LIVEKIT_NATIVE_GENAI, ConfigError, Options

CHAT = {"gen_ai.operation.name": "chat"}


def lk_llm(server: OpenAIServer) -> openai.LLM:
    return openai.LLM(model="gpt-4o-mini", base_url=server.base_url, api_key="sk-test")


def genai_spans(otel, operation="chat"):
    return [s for s in otel.spans() if s.attributes.get("gen_ai.operation.name") == operation]


async def text_session(server: OpenAIServer, *inputs: str, **session_options) -> list:
    """One session answering each input in turn; returns the assistant's replies."""
    session = AgentSession(llm=lk_llm(server), **session_options)
    await session.start(Agent(instructions="be brief"))
    replies = []
    try:
        for text in inputs:
            result = await session.run(user_input=text)
            replies.append(result.events[-1].item.text_content)
    finally:
        await session.aclose()
    return replies


@pytest.fixture
def livekit_tracing():
    """LiveKit's own tracer, sent to a test's provider; put back at teardown."""
    previous = lk_telemetry.tracer._tracer_provider

    def route(sink):
        lk_telemetry.set_tracer_provider(sink.tracer_provider)
        return sink

    yield route
    lk_telemetry.tracer.set_provider(previous)


async def test_text_session_chat_span_matches_the_server(instrument):
    otel = instrument()
    async with OpenAIServer(delay=0.2, prompt_tokens=23, completion_tokens=5) as server:
        replies = await text_session(server, "hi")
    assert replies == ["Hello there, friend."]

    run = otel.one("pipeline.run")
    assert run.attributes["realtime_ai.framework"] == "livekit"
    assert run.attributes["realtime_ai.framework.version"].startswith("1.")
    assert run.attributes["pipeline.name"] == "AgentSession"
    chat = otel.one("chat")
    assert chat.name == "chat gpt-4o-mini"
    assert chat.kind.name == "CLIENT"
    assert chat.parent.span_id == run.context.span_id
    assert chat.context.trace_id == run.context.trace_id
    a = chat.attributes
    assert a["gen_ai.provider.name"] == a["llm.provider"] == "openai"
    assert a["gen_ai.request.model"] == server.requests[0]["model"] == "gpt-4o-mini"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (23, 5)
    assert a["gen_ai.response.time_to_first_chunk"] >= server.delay
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["llm.response_size"] == len("Hello there, friend.")
    assert a["session.id"] == run.attributes["session.id"]
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a  # no content by default
    assert chat.status.status_code.name == "UNSET"

    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")}
    assert tokens == {"input": 23, "output": 5}
    (ttfc,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.attributes["gen_ai.provider.name"] == "openai" and ttfc.sum >= server.delay


async def test_each_run_is_one_chat_span_and_the_session_ends(instrument):
    otel = instrument()
    async with OpenAIServer() as server:
        await text_session(server, "one", "two", "three")
    assert len(server.requests) == 3
    assert len(otel.spans("chat")) == 3
    run = otel.one("pipeline.run")
    assert run.end_time is not None
    assert {s.parent.span_id for s in otel.spans("chat")} == {run.context.span_id}
    assert sum(p.value for p in otel.points("realtime_ai.sessions.active")) == 0


async def test_content_capture_is_opt_in(instrument, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    otel = instrument()
    async with OpenAIServer() as server:
        await text_session(server, "what's up")
    a = otel.one("chat").attributes
    assert "what's up" in a["gen_ai.input.messages"]
    assert "Hello there, friend." in a["gen_ai.output.messages"]


async def test_livekit_spans_join_our_trace_and_one_span_counts_the_request(instrument, livekit_tracing):
    otel = livekit_tracing(instrument())
    async with OpenAIServer() as server:
        await text_session(server, "hi")
    names = {s.name for s in otel.spans()}
    assert {"agent_session", "llm_request"} <= names, names  # LiveKit's own spans are kept
    run = otel.one("pipeline.run")
    assert {s.context.trace_id for s in otel.spans()} == {run.context.trace_id}
    assert otel.one("agent_session").parent.span_id == run.context.span_id
    (counted,) = genai_spans(otel)
    assert counted.name == "chat gpt-4o-mini"
    if hasattr(lk_telemetry, "gen_ai"):  # 1.8+; 1.2 puts token counts, never an operation, on its span
        assert "gen_ai.usage.input_tokens" not in otel.one("llm_request").attributes


async def test_livekit_native_genai_attributes_kept_on_request(instrument, livekit_tracing, monkeypatch):
    if not hasattr(lk_telemetry, "gen_ai"):
        pytest.skip("this LiveKit version marks no span as a GenAI inference")
    monkeypatch.setenv(ENV_LIVEKIT_NATIVE_GENAI, "true")
    otel = livekit_tracing(instrument())
    async with OpenAIServer() as server:
        await text_session(server, "hi")
    assert sorted(s.name for s in genai_spans(otel)) == ["chat gpt-4o-mini", "llm_request"]
    assert otel.one("llm_request").attributes["gen_ai.usage.input_tokens"] == server.prompt_tokens


def test_native_option_rejects_bad_values():
    with pytest.raises(ConfigError, match="LIVEKIT_NATIVE_GENAI.*true"):
        Options.resolve({}, {ENV_LIVEKIT_NATIVE_GENAI: "maybe"})
    with pytest.raises(ConfigError, match="livekit_native_genai.*true"):
        Options.resolve({"livekit_native_genai": "maybe"}, {})


async def chat_once(server: OpenAIServer, max_retry: int = 0) -> str:
    """The app streams one completion itself, as a tool or a custom node would."""
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="hi")
    options = APIConnectOptions(max_retry=max_retry, retry_interval=0.01, timeout=5)
    text = ""
    async with lk_llm(server).chat(chat_ctx=ctx, conn_options=options) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
    return text


async def app_error(server: OpenAIServer, **kwargs) -> BaseException:
    with pytest.raises(Exception) as caught:
        await chat_once(server, **kwargs)
    return caught.value


@pytest.mark.parametrize("status", [500, 429])
async def test_provider_error_status(instrument, status):
    async with OpenAIServer() as server:
        server.fail = [status]
        plain = await app_error(server)
    otel = instrument()
    async with OpenAIServer() as server:
        server.fail = [status]
        error = await app_error(server)
    assert type(error) is type(plain) and str(error) == str(plain)
    assert getattr(error, "status_code", None) == status
    chat = otel.one("chat")
    assert chat.status.status_code.name == "ERROR"
    assert chat.attributes["error.type"] == f"{type(error).__module__}.{type(error).__qualname__}"
    assert any(e.name == "exception" for e in chat.events)
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == chat.attributes["error.type"]


async def test_retried_request_is_one_span(instrument):
    otel = instrument()
    async with OpenAIServer() as server:
        server.fail = [429]
        text = await chat_once(server, max_retry=1)
    assert text == "Hello there, friend."
    assert len(server.requests) == 2  # the 429, then the answer
    chat = otel.one("chat")
    assert chat.status.status_code.name == "UNSET"
    assert chat.attributes["gen_ai.usage.output_tokens"] == server.completion_tokens


async def test_stream_cut_midway(instrument):
    async with OpenAIServer() as server:
        server.cut = True
        plain = await app_error(server)
    otel = instrument()
    async with OpenAIServer() as server:
        server.cut = True
        error = await app_error(server)
    assert type(error) is type(plain)
    chat = otel.one("chat")
    assert chat.status.status_code.name == "ERROR"
    assert chat.attributes["error.type"].endswith(type(error).__name__)
    assert chat.attributes["gen_ai.response.time_to_first_chunk"] > 0  # the first words did arrive
    assert "gen_ai.usage.input_tokens" not in chat.attributes


async def test_two_sessions_at_once_are_two_traces(instrument):
    otel = instrument()
    async with OpenAIServer() as server:
        await asyncio.gather(text_session(server, "a", "b"), text_session(server, "c"))
    runs = otel.spans("pipeline.run")
    assert len(runs) == 2
    for run in runs:
        chats = [s for s in otel.spans("chat") if s.context.trace_id == run.context.trace_id]
        assert {s.parent.span_id for s in chats} == {run.context.span_id}
        assert {s.attributes["session.id"] for s in chats} == {run.attributes["session.id"]}
    assert sorted(
        len([s for s in otel.spans("chat") if s.context.trace_id == r.context.trace_id]) for r in runs
    ) == [1, 2]
    assert runs[0].context.trace_id != runs[1].context.trace_id


async def test_session_id_is_the_job_id(instrument):
    testing = pytest.importorskip("livekit.agents.testing")
    if not hasattr(testing, "fake_job_context"):
        pytest.skip("no fake_job_context in this LiveKit version")
    otel = instrument()
    async with OpenAIServer() as server:
        with testing.fake_job_context(job_id="job-42"):
            await text_session(server, "hi")
    assert otel.one("pipeline.run").attributes["session.id"] == "job-42"
    assert otel.one("chat").attributes["session.id"] == "job-42"


async def test_missing_hook_degrades_with_one_warning(instrument, monkeypatch, caplog):
    from livekit.agents.voice.agent_session import AgentSession as Session

    monkeypatch.delattr(Session, "_update_user_state")  # as if this version had no such method
    with caplog.at_level(logging.WARNING):
        otel = instrument()
    warnings = [r for r in caplog.records if "livekit-agents" in r.getMessage()]
    assert len(warnings) == 1 and "AgentSession._update_user_state" in warnings[0].getMessage()
    monkeypatch.undo()
    async with OpenAIServer() as server:
        await text_session(server, "hi")
    assert otel.one("chat").attributes["gen_ai.usage.input_tokens"] == server.prompt_tokens


async def test_llm_outside_a_session_still_gets_a_span(instrument):
    otel = instrument()
    async with OpenAIServer() as server:
        assert await chat_once(server) == "Hello there, friend."
    chat = otel.one("chat")
    assert chat.parent is None and "session.id" not in chat.attributes
    assert not otel.spans("pipeline.run")


class WeatherAgent(Agent):
    def __init__(self, fail: bool = False):
        super().__init__(instructions="answer with the weather tool")
        self.fail = fail
        self.asked: list[str] = []

    @function_tool
    async def get_weather(self, location: str) -> str:
        """The weather in a city."""
        self.asked.append(location)
        await asyncio.sleep(0.05)
        if self.fail:
            raise RuntimeError("weather service down")
        return "sunny"


async def tool_session(server: OpenAIServer, agent: WeatherAgent) -> str:
    server.replies = [Reply(tool_call=("get_weather", '{"location": "Paris"}')), Reply(["It is sunny."])]
    session = AgentSession(llm=lk_llm(server))
    await session.start(agent)
    try:
        result = await session.run(user_input="weather in Paris?")
    finally:
        await session.aclose()
    return result.events[-1].item.text_content


async def test_function_tool_is_one_execute_tool_span(instrument, livekit_tracing):
    otel = livekit_tracing(instrument())
    agent = WeatherAgent()
    async with OpenAIServer() as server:
        reply = await tool_session(server, agent)
    assert reply == "It is sunny." and agent.asked == ["Paris"]
    assert len(server.requests) == 2
    assert server.requests[1]["messages"][-1]["role"] == "tool"  # LiveKit sent the result back
    (tool,) = genai_spans(otel, "execute_tool")
    assert tool.name == "execute_tool get_weather"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_1"  # the id the server gave the call
    assert tool.end_time - tool.start_time >= 0.05e9
    assert tool.status.status_code.name == "UNSET"
    run = otel.one("pipeline.run")
    assert tool.parent.span_id == run.context.span_id
    assert "Paris" not in str(dict(tool.attributes))  # arguments only with content capture
    first_chat = min(otel.spans("chat"), key=lambda s: s.start_time)
    assert first_chat.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert len(genai_spans(otel)) == 2  # two chat requests, each counted once


async def test_failing_tool_span_is_an_error(instrument):
    async with OpenAIServer() as server:
        plain = await tool_session(server, WeatherAgent(fail=True))
        plain_sent = server.requests[1]["messages"][-1]
    otel = instrument()
    async with OpenAIServer() as server:
        reply = await tool_session(server, WeatherAgent(fail=True))
        sent = server.requests[1]["messages"][-1]
    assert reply == plain and sent == plain_sent  # LiveKit told the model the same, instrumented or not
    tool = otel.one("execute_tool")
    assert tool.status.status_code.name == "ERROR"
    assert tool.attributes["error.type"] == "RuntimeError"


def hooked_methods():
    from opentelemetry_instrumentation_realtime_ai.frameworks import livekit as hooks

    return hooks._hooks.installed


async def test_uninstrument_restores_every_original():
    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument()
    installed = list(hooked_methods())
    assert len(installed) >= 10
    hooked = {(cls, name): (cls.__dict__[name], own) for cls, name, own in installed}
    instrumentor.uninstrument()
    for (cls, name), (wrapper, own) in hooked.items():
        assert isinstance(wrapper, wrapt.FunctionWrapper), (cls, name)
        restored = cls.__dict__.get(name)
        # what the class defines is back; what it inherited is inherited again
        assert restored is (wrapper.__wrapped__ if own else None), (cls, name)


async def test_broken_bookkeeping_never_reaches_the_app(instrument, monkeypatch):
    from opentelemetry_instrumentation_realtime_ai.helpers.ai import AIRequest

    def broken(*args, **kwargs):
        raise RuntimeError("telemetry bug")

    async with OpenAIServer() as server:
        plain = await text_session(server, "hi")
    instrument()
    for method in ("chunk", "set_usage", "end"):
        monkeypatch.setattr(AIRequest, method, broken)
    async with OpenAIServer() as server:
        assert await text_session(server, "hi") == plain
        assert await chat_once(server) == "Hello there, friend."
