"""A real WebSocket session: Pipecat's WebSocket server transport and a websockets client on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pytest
from opentelemetry.trace import SpanKind

websockets = pytest.importorskip("websockets")
server = pytest.importorskip("pipecat.transports.websocket.server")
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.runner import PipelineRunner  # noqa: E402
from pipecat.pipeline.task import PipelineTask  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_websocket_client_connect_and_disconnect(instrument):
    otel = instrument()
    port = free_port()
    transport = server.WebsocketServerTransport(params=server.WebsocketServerParams(), host="127.0.0.1", port=port)
    disconnected = asyncio.Event()

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(transport, websocket):
        disconnected.set()

    task = PipelineTask(Pipeline([transport.input(), transport.output()]))
    running = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    try:
        for _ in range(100):  # the server starts with the pipeline
            try:
                client = await websockets.connect(f"ws://127.0.0.1:{port}")
                break
            except OSError:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        await client.close()
        await asyncio.wait_for(disconnected.wait(), 5)
    finally:
        await task.cancel()
        await asyncio.wait_for(running, 10)

    span = otel.one("connection websocket")
    assert span.kind is SpanKind.SERVER
    assert span.attributes["connection.type"] == "websocket"
    assert isinstance(span.attributes["connection.id"], str)
    changes = [e.attributes["connection.state"] for e in span.events if e.name == "connection.state_change"]
    assert changes == ["connected", "closed"]
    assert [p.value for p in otel.points("realtime_ai.connection.active")] == [0]
