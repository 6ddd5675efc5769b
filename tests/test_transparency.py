"""Pipecat behaves the same with the instrumentor active: a slice of its own behaviour, run plain and instrumented.

Written against Pipecat's public API: the usage-report path with the base class patched (as
Pipecat's own tests and other instrumentations do), the WebSocket client transport ending its
own connection, a WebRTC connection that is never closed, and the hooks themselves.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import sys
from unittest import mock

import pytest

import opentelemetry_instrumentation_realtime_ai.frameworks.pipecat as pipecat_hooks
from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

providers = pytest.importorskip("providers")
from pipecat.frames.frames import LLMContextFrame  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.processors.frame_processor import FrameProcessor  # noqa: E402
from pipecat.services.openai.llm import OpenAILLMService  # noqa: E402
from pipecat.tests.utils import run_test  # noqa: E402

websockets = pytest.importorskip("websockets")
ws_client = pytest.importorskip("pipecat.transports.websocket.client")
webrtc = pytest.importorskip("pipecat.transports.smallwebrtc.connection")
importlib.import_module("pipecat.transports.websocket.server")  # every transport hooked in the walk below


@pytest.fixture(params=["plain", "instrumented"])
def mode(request, instrument):
    """Each behaviour runs twice: the outcome must be the same."""
    return instrument() if request.param == "instrumented" else None


async def test_usage_reports_reach_a_patched_base_class(mode):
    """A patch of ``FrameProcessor.start_llm_usage_metrics`` reaches the LLM service, as without us."""
    reported = []

    async def record(self, tokens):
        reported.append((type(self).__name__, tokens.prompt_tokens, tokens.completion_tokens))

    async with providers.LocalLLMServer(first_token_delay=0.01, token_delay=0.0) as server:
        llm = OpenAILLMService(api_key="test", base_url=server.base_url, model="local-llm")
        context = LLMContext([{"role": "user", "content": "hello there"}])
        with mock.patch.object(FrameProcessor, "start_llm_usage_metrics", record):
            await run_test(llm, frames_to_send=[LLMContextFrame(context)])
    (request,) = server.requests
    assert reported == [("OpenAILLMService", 2, request.tokens_sent)]
    if mode is not None:
        (chat,) = mode.spans("chat")
        assert "gen_ai.usage.input_tokens" not in chat.attributes  # the test replaced the reporting method


async def test_websocket_client_transport_that_ends_itself_ends_its_span(mode):
    """On an ``EndFrame`` Pipecat cancels the receive task first: ``on_disconnected`` never fires."""
    from pipecat.frames.frames import EndFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineTask

    events: list[str] = []
    accepted: list[object] = []

    async def echo(websocket):
        accepted.append(websocket)
        async for _ in websocket:
            pass

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        transport = ws_client.WebsocketClientTransport(uri=f"ws://127.0.0.1:{port}")

        @transport.event_handler("on_connected")
        async def on_connected(transport, websocket):
            events.append("connected")
            await task.queue_frame(EndFrame())

        @transport.event_handler("on_disconnected")
        async def on_disconnected(transport, websocket):
            events.append("disconnected")

        task = PipelineTask(Pipeline([transport.input(), transport.output()]))
        await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    assert events[0] == "connected"
    if mode is not None:
        # One span per connection the server accepted (before 1.14 the input and the output both dial).
        spans = mode.spans("connection websocket")
        assert len(spans) == len(accepted) >= 1
        assert all(s.end_time is not None and s.attributes["connection.state"] == "closed" for s in spans)
        assert [p.value for p in mode.points("realtime_ai.connection.active")] == [0]


def test_webrtc_connection_never_closed_ends_when_collected(mode):
    connection = webrtc.SmallWebRTCConnection()
    assert isinstance(connection, webrtc.SmallWebRTCConnection)
    del connection
    gc.collect()
    if mode is not None:
        span = mode.one("connection webrtc")
        assert span.end_time is not None
        assert [p.value for p in mode.points("realtime_ai.connection.active")] == [0]


def _pipecat_classes() -> list[type]:
    return [
        value
        for name, module in list(sys.modules.items())
        if name.startswith("pipecat.")
        for value in list(vars(module).values())
        if isinstance(value, type) and value.__module__ == name
    ]


def test_no_class_carries_a_copy_of_a_method_it_inherits(instrument):
    classes = _pipecat_classes()
    before = {cls: dict(vars(cls)) for cls in classes}
    instrument()
    installed = {(cls, method) for cls, method, _ in pipecat_hooks._hooks.installed}
    added = {(cls, name) for cls in classes for name in vars(cls) if name not in before[cls]}
    # All that instrumenting added to a class is one of our hooks, on a method the class inherits.
    assert added <= installed, sorted((c.__name__, n) for c, n in added - installed)
    assert {cls.__name__ for cls, _ in added} >= {"SmallWebRTCConnection", "WebsocketClientTransport"}
    changed = {(cls, n) for cls in classes for n, v in vars(cls).items() if before[cls].get(n, v) is not v}
    assert changed <= installed  # and what it changed is a hook on a method the class defines


async def test_a_later_patch_of_the_defining_class_reaches_every_hooked_class(instrument):
    """For each hook on an inherited method: patch the class that defines it, call through the hooked one."""
    instrument()
    inherited = [(cls, m) for cls, m, own in pipecat_hooks._hooks.installed if not own]
    assert inherited, "expected hooks on inherited methods (the transports' event handler)"
    for cls, method in inherited:
        owner = next(base for base in cls.__mro__[1:] if method in vars(base))
        calls: list[tuple] = []

        async def patched(self, *args, _calls=calls, **kwargs):
            _calls.append(args)

        with mock.patch.object(owner, method, patched):
            instance = cls.__new__(cls)
            result = getattr(instance, method)("on_nothing")
            if inspect.isawaitable(result):
                await result
        assert calls == [("on_nothing",)], f"{cls.__name__}.{method} did not reach {owner.__name__}"


def test_pipeline_plumbing_is_not_pinned(instrument):
    from pipecat.pipeline.pipeline import PipelineSink, PipelineSource

    instrument()
    for cls in (PipelineSource, PipelineSink):
        assert "_FrameProcessor__process_frame" not in vars(cls)


def test_a_hook_that_fails_half_way_leaves_nothing_installed(monkeypatch, caplog):
    from pipecat.services.llm_service import LLMService

    classes = _pipecat_classes()
    before = {cls: dict(vars(cls)) for cls in classes}

    def broken() -> None:
        raise RuntimeError("a hook that breaks half-way")

    monkeypatch.setattr(pipecat_hooks.pipeline, "register_element_metrics", broken)
    instrumentor = RealtimeAIInstrumentor()
    try:
        instrumentor.instrument()
        assert {cls: dict(vars(cls)) for cls in classes} == before  # the hooks before the failure are gone
        assert pipecat_hooks._hooks.installed == []
        assert "nothing is instrumented" in caplog.text
        assert "push_frame" in vars(LLMService)  # Pipecat's own method, as it was
    finally:
        instrumentor.uninstrument()
