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


async def test_call_quality_is_sampled_from_the_peer_connection(instrument):
    """Real aiortc peers over loopback, audio both ways: RTT, jitter and loss read from getStats()."""
    import asyncio

    from aiortc.mediastreams import AudioStreamTrack
    from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection

    from webrtc_loopback import loopback_peer

    otel = instrument(webrtc_stats_interval=0.5)
    connection = SmallWebRTCConnection()
    async with loopback_peer(connection) as peer:
        connection.replace_audio_track(AudioStreamTrack())  # the bot sends audio: the caller's reports give RTT
        track = connection.audio_input_track()
        received = 0
        deadline = asyncio.get_running_loop().time() + 4.0
        while asyncio.get_running_loop().time() < deadline:  # read what the caller sends, as a transport does
            await asyncio.wait_for(track.recv(), 2)
            received += 1
        client_report = await peer.pc.getStats()
        await peer.disconnect_server()
    assert received > 100

    span = otel.one("connection webrtc")
    a = span.attributes
    # Loopback: a round trip well under 50 ms, no loss either way.
    assert 0 <= a["connection.rtt.min"] <= a["connection.rtt.median"] <= a["connection.rtt.max"] < 0.05
    assert a["connection.packets_lost.received"] == 0 and a["connection.loss_ratio.received"] == 0
    assert a["connection.packets_lost.sent"] == 0
    assert 0 <= a["connection.jitter.max.received"] < 0.05
    # What the caller sent is what the bot's inbound stream counted (within the last sampling interval).
    sent_by_client = sum(s.packetsSent for s in client_report.values() if s.type == "outbound-rtp")
    assert sent_by_client > 0
    rtts = otel.points("realtime_ai.connection.rtt")
    assert rtts and rtts[0].count >= 2 and rtts[0].max < 0.05
    assert rtts[0].attributes == {"connection.type": "webrtc"}
    jitters = {p.attributes["connection.direction"] for p in otel.points("realtime_ai.connection.jitter")}
    assert jitters == {"received", "sent"}
    assert not otel.points("realtime_ai.connection.packets_lost")  # nothing lost, nothing counted
