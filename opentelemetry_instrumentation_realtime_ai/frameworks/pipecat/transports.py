"""Transport connections: Pipecat's WebRTC connection and WebSocket transports.

Both report their life through ``BaseObject._call_event_handler(event_name, ...)``; hooking it
for the connection and transport classes only (not on ``BaseObject``, which every frame
processor calls several times per frame) sees each state change once, for every version.

A connection span also ends when its object is garbage collected or the process exits, and a
WebSocket opened inside a pipeline run ends with the run: Pipecat's WebSocket client cancels
its receive task before ``on_disconnected`` can fire when the pipeline ends it.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

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
    elif event == "app-message":
        connection.message("received")
    elif event in ("track-started", "track-ended") and not connection.closed:
        connection.span.add_event(f"webrtc.{event}")


async def webrtc_event_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    _webrtc_event(instance, args[0] if args else kwargs.get("event_name"))
    return await wrapped(*args, **kwargs)


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
