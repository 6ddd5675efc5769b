"""Transport connections: Pipecat's WebRTC connection and WebSocket transports.

Both report their life through ``BaseObject._call_event_handler(event_name, ...)``; hooking it
for the connection and transport classes only (not on ``BaseObject``, which every frame
processor calls several times per frame) sees each state change once, for every version.

A connection span also ends when its object is garbage collected or the process exits, and a
WebSocket opened inside a pipeline run ends with the run: Pipecat's WebSocket client cancels
its receive task before ``on_disconnected`` can fire when the pipeline ends it.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from typing import Any

from ... import telemetry
from ...helpers.connection import Connection
from ..hooks import guarded
from .pipeline import CURRENT

_STATE = "_otel_realtime_ai_connection"
_WEBRTC_STATES = frozenset({"new", "connecting", "connected", "disconnected", "closed", "failed"})
_FINAL_STATES = frozenset({"closed", "failed"})
_WEBSOCKET_EVENTS = {
    "on_client_connected": "connected",
    "on_connected": "connected",
    "on_client_disconnected": "closed",
    "on_disconnected": "closed",
    "on_session_timeout": "timeout",
}


def _connection(instance: Any) -> Connection | None:
    held = instance.__dict__.get(_STATE)
    return held[0] if held else None


def _close_held(held: list[Connection]) -> None:
    if held:
        guarded(held.pop().close)()


def _hold(instance: Any, connection: Connection) -> None:
    """Keep the connection on its object; its span ends, at the latest, when the object goes."""
    held = instance.__dict__.get(_STATE)
    if held is None:
        # The finalizer holds only this list: the object's own dict refers back to the object.
        held = instance.__dict__[_STATE] = []
        weakref.finalize(instance, _close_held, held)
    held[:] = [connection]
    run = CURRENT.get()
    if run is not None:
        run.connections.append(connection)


@guarded
def _webrtc_created(instance: Any) -> None:
    connection_id = getattr(instance, "pc_id", None) or f"{type(instance).__name__}-{uuid.uuid4().hex}"
    _hold(instance, Connection(str(connection_id), "webrtc"))


def webrtc_init_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    _webrtc_created(instance)
    return result


@guarded
def _webrtc_event(instance: Any, event: str) -> None:
    connection = _connection(instance)
    if connection is None:
        return
    if event in _FINAL_STATES:
        connection.close(event)
    elif event in _WEBRTC_STATES:
        connection.state_change(event)
        if event == "connected":
            _sample_quality(instance, connection)
    elif event == "app-message":
        connection.message("received")
    elif event in ("track-started", "track-ended") and not connection.closed:
        connection.span.add_event(f"webrtc.{event}")


async def webrtc_event_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    _webrtc_event(instance, args[0] if args else kwargs.get("event_name"))
    return await wrapped(*args, **kwargs)


def _sample_quality(instance: Any, connection: Connection) -> None:
    """While connected, read aiortc's ``getStats()`` every ``webrtc_stats_interval`` on the connection's loop."""
    interval = telemetry.current().options.webrtc_stats_interval
    task = asyncio.get_running_loop().create_task(_sampling(instance, connection, interval))
    _SAMPLERS.add(task)  # a task nothing references may be collected before it ends
    task.add_done_callback(_SAMPLERS.discard)


_SAMPLERS: set[asyncio.Task[None]] = set()


async def _sampling(instance: Any, connection: Connection, interval: float) -> None:
    while not connection.closed:
        await asyncio.sleep(interval)
        pc = instance.__dict__.get("_pc")
        if connection.closed or pc is None or getattr(pc, "connectionState", "") != "connected":
            continue
        try:
            report = await pc.getStats()
            _read_stats(connection, pc, report)
        except Exception:  # telemetry must never break the app; a closing connection may fail here
            continue


def _read_stats(connection: Connection, pc: Any, report: Any) -> None:
    """aiortc's report: ``inbound-rtp`` is what the peer sends us, ``remote-inbound-rtp`` the peer's view
    of what we send (with the round-trip time from its receiver reports). Jitter comes in RTP clock units."""
    clock_rates = {
        t.kind: t._codecs[0].clockRate for t in pc.getTransceivers() if getattr(t, "_codecs", None)
    }
    for stats in report.values():
        kind = getattr(stats, "kind", None)
        if kind != "audio" or stats.type not in ("inbound-rtp", "remote-inbound-rtp"):
            continue
        clock_rate = clock_rates.get(kind) or 48000
        direction = "received" if stats.type == "inbound-rtp" else "sent"
        connection.quality(
            direction,
            rtt=getattr(stats, "roundTripTime", None),
            jitter=stats.jitter / clock_rate,
            packets_lost=stats.packetsLost,
            packets=stats.packetsReceived,
        )


@guarded
def _webrtc_sent(instance: Any) -> None:
    connection = _connection(instance)
    if connection is not None and not connection.closed:
        connection.message("sent")


def webrtc_send_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    _webrtc_sent(instance)
    return result


async def webrtc_close_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``_close()`` ends the connection even when no "closed" event follows (no peer connection yet)."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        connection = _connection(instance)
        if connection is not None:
            guarded(connection.close)()


@guarded
def _websocket_event(instance: Any, event: str) -> None:
    state = _WEBSOCKET_EVENTS.get(event)
    if state is None:
        return
    connection = _connection(instance)
    if state == "connected":
        if connection is not None:
            connection.close()
        connection = Connection(uuid.uuid4().hex, "websocket", state="connecting")
        _hold(instance, connection)
        connection.state_change("connected")
    elif connection is not None:
        if state == "closed":
            _close_held(instance.__dict__[_STATE])
        else:
            connection.state_change(state)


async def websocket_event_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if args:
        _websocket_event(instance, args[0])
    return await wrapped(*args, **kwargs)
