"""The room connection: one ``connection webrtc`` span per ``rtc.Room.connect``, to its disconnection.

``Room.connect`` is where the connection starts (and fails, with ``ConnectError``); the room's
own events (``connection_state_changed``, ``disconnected``) go through ``Room.emit``, which the
hook only looks at for those two names.
"""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.trace import SpanKind

from ...helpers.connection import Connection
from ..hooks import guarded
from . import session as sessions

_STATE = "_otel_realtime_ai_connection"
_TYPE = "webrtc"
# livekit.rtc.ConnectionState values
_STATES = {0: "disconnected", 1: "connected", 2: "reconnecting"}
_WATCHED = ("connection_state_changed", "disconnected")


@guarded
def _open(room: Any) -> Connection:
    previous = room.__dict__.get(_STATE)
    if isinstance(previous, Connection):
        previous.close()
    run = sessions.current()
    connection = room.__dict__[_STATE] = Connection(
        uuid.uuid4().hex,
        _TYPE,
        state="connecting",
        kind=SpanKind.CLIENT,
        parent=run.session.context() if run is not None else None,
    )
    return connection


async def connect_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``rtc.Room.connect``."""
    connection = _open(instance)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as error:
        if connection is not None:
            guarded(_failed)(connection, error)
        raise
    if connection is not None:
        guarded(connection.state_change)("connected")
    return result


def _failed(connection: Connection, error: BaseException) -> None:
    connection.error(error)
    connection.close("failed")


def emit_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``rtc.Room.emit``: state changes and the disconnection."""
    if args and args[0] in _WATCHED:
        _event(instance, args)
    return wrapped(*args, **kwargs)


@guarded
def _event(room: Any, args: Any) -> None:
    connection = room.__dict__.get(_STATE)
    if not isinstance(connection, Connection):
        return
    if args[0] == "disconnected":
        room.__dict__.pop(_STATE, None)
        connection.close("disconnected")
    elif len(args) > 1:
        connection.state_change(_STATES.get(args[1], str(args[1])))
