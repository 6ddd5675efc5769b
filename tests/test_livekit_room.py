"""The LiveKit room connection as a connection span: a connection that fails, and events untouched."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("livekit.agents")

from livekit import rtc


async def failed_connect() -> tuple[BaseException, float]:
    room = rtc.Room()
    start = time.perf_counter()
    with pytest.raises(rtc.ConnectError) as caught:
        await room.connect("ws://127.0.0.1:9", "not-a-token")  # nothing listens on port 9
    return caught.value, time.perf_counter() - start


async def test_failed_room_connection_is_an_error_span(instrument):
    plain, _ = await failed_connect()
    otel = instrument()
    error, _ = await failed_connect()
    assert type(error) is type(plain) and str(error) == str(plain)
    span = otel.one("connection webrtc")
    assert span.kind.name == "CLIENT"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "livekit.rtc.room.ConnectError"
    assert span.attributes["connection.type"] == "webrtc"
    assert span.attributes["connection.state"] == "failed"
    changes = [e.attributes["connection.state"] for e in span.events if e.name == "connection.state_change"]
    assert changes == ["failed"]
    assert sum(p.value for p in otel.points("realtime_ai.connection.active")) == 0


async def test_room_events_reach_the_app_unchanged(instrument):
    instrument()
    room = rtc.Room()
    seen = []
    room.on("connection_state_changed", lambda state: seen.append(("state", state)))
    room.on("disconnected", lambda reason: seen.append(("disconnected", reason)))
    room.emit("connection_state_changed", rtc.ConnectionState.CONN_RECONNECTING)
    room.emit("disconnected", "test")
    assert seen == [("state", rtc.ConnectionState.CONN_RECONNECTING), ("disconnected", "test")]
