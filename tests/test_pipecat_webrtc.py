"""A real WebRTC session: Pipecat's SmallWebRTCConnection against an aiortc peer over 127.0.0.1."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

pytest.importorskip("aiortc")


async def test_connection_span_follows_the_session(instrument):
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from webrtc_loopback import loopback_peer

    otel = instrument()
    connection = SmallWebRTCConnection()
    async with loopback_peer(connection) as peer:
        await peer.exchange_app_messages()
        await peer.disconnect_server()

    span = otel.one("connection webrtc")
    assert span.kind is SpanKind.SERVER
    assert span.attributes["connection.type"] == "webrtc"
    assert span.attributes["connection.id"] == connection.pc_id
    assert span.attributes["connection.state"] == "closed"
    changes = [
        (e.attributes["connection.old_state"], e.attributes["connection.state"])
        for e in span.events
        if e.name == "connection.state_change"
    ]
    assert changes == [("new", "connecting"), ("connecting", "connected"), ("connected", "closed")]
    assert span.attributes["connection.messages.received"] == 1
    assert span.attributes["connection.messages.sent"] >= 1
    assert span.status.status_code is StatusCode.UNSET
    assert [p.value for p in otel.points("realtime_ai.connection.active")] == [0]
    states = {
        p.attributes["connection.state"]: p.value for p in otel.points("realtime_ai.connection.state_changes")
    }
    assert states == {"connecting": 1, "connected": 1, "closed": 1}


async def test_client_closing_first_still_ends_the_span(instrument):
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from webrtc_loopback import loopback_peer

    otel = instrument()
    connection = SmallWebRTCConnection()
    async with loopback_peer(connection) as peer:
        await peer.close_client()
        await peer.wait_for_event("closed")
    span = otel.one("connection webrtc")
    assert span.attributes["connection.state"] == "closed"


async def test_uninstrumented_connection_emits_nothing(instrument):
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor
    from webrtc_loopback import loopback_peer

    otel = instrument()
    RealtimeAIInstrumentor().uninstrument()
    connection = SmallWebRTCConnection()
    async with loopback_peer(connection) as peer:
        await peer.disconnect_server()
    assert otel.spans() == []
