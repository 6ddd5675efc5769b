"""Real in-process WebRTC loopback harness for ``SmallWebRTCConnection`` tests.

This is a plain helper module (not a test file). It connects a real aiortc
client peer to a real server-side
:class:`pipecat.transports.smallwebrtc.connection.SmallWebRTCConnection` in the
same process and event loop, over UDP on ``127.0.0.1`` only.

Network safety
--------------
* Host candidate gathering is restricted to ``127.0.0.1`` while the harness is
  active (:func:`loopback_only_ice`). aioice's ``get_host_addresses`` skips
  ``127.0.0.1`` on purpose and has no option to keep it, so the module-level
  function is replaced for the duration of the harness and restored afterwards.
* aiortc falls back to ``stun:stun.l.google.com:19302`` when a peer's
  ``RTCConfiguration.iceServers`` is ``None``; the fallback is disabled while the
  harness is active, the client peer is created with ``iceServers=[]``, and a
  connection configured with ICE servers is refused.
* Every candidate in the offer is checked before the offer is handed to the
  server, and every candidate in the answer before it reaches the client, so no
  connectivity check can go anywhere but ``127.0.0.1``.

Usage
-----
::

    connection = SmallWebRTCConnection()

    @connection.event_handler("connected")
    async def on_connected(conn): ...

    async with loopback_peer(connection) as peer:
        # Server connection is connected (``is_connected()``), the ``connected``
        # event was dispatched (the harness recorder ran; handlers registered
        # before the harness were started before it), the data channel is open.
        await peer.exchange_app_messages()
        await peer.disconnect_server()  # await connection.disconnect() + wait "closed"
    # Client peer closed, server peer closed, event handler tasks finished,
    # aioice restored - all within ``cleanup_timeout`` even on failure.

or, for the scripted sequence in one call::

    result = await webrtc_session(connection)
    result.event_names  # e.g. ['track-started', 'connecting', 'connected', ...]

Works with pipecat-ai 0.0.108, 1.2.1 and 1.14 (same ``SmallWebRTCConnection``
API: ``initialize(sdp=, type=)``, ``get_answer()``, ``connect()``,
``disconnect()``, ``send_app_message()``, ``is_connected()``, ``pc``, ``pc_id``;
``track-status`` only exists in 1.14).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

LOOPBACK_ADDRESS = "127.0.0.1"

#: Event names a ``SmallWebRTCConnection`` may register (``track-status``
#: only on newer pipecat). Only the ones registered by the connection are
#: observed.
CONNECTION_EVENTS = (
    "new",
    "connecting",
    "connected",
    "disconnected",
    "closed",
    "failed",
    "app-message",
    "track-started",
    "track-ended",
    "track-status",
)

#: ``connect`` modes for :func:`loopback_peer`.
CONNECT_EARLY = "early"  # connect() right after the answer, before ICE completes
CONNECT_LATE = "late"  # connect() after the peer connection is already connected
CONNECT_NONE = "none"  # never call connect() (e.g. a transport calls it)

_POLL_INTERVAL = 0.005


class WebRTCLoopbackError(AssertionError):
    """Raised when the loopback session cannot be set up or violates a rule."""


# ---------------------------------------------------------------------------
# Loopback-only ICE
# ---------------------------------------------------------------------------

_patch_depth = 0
_saved_get_host_addresses: Callable[..., list[str]] | None = None
_saved_default_ice_servers: Any = None


def _loopback_host_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    return [LOOPBACK_ADDRESS]


def _no_default_ice_servers(cls) -> list:
    return []


@contextlib.contextmanager
def loopback_only_ice():
    """Restrict aioice host candidates to 127.0.0.1 and disable default STUN.

    Re-entrant (reference counted), so nested or concurrent harnesses in one
    process share the patch; the originals are restored when the last one
    exits. Gathering happens in ``setLocalDescription`` (client offer and
    ``connection.initialize``), both of which run inside the harness.
    """
    global _patch_depth, _saved_get_host_addresses, _saved_default_ice_servers
    import aioice.ice
    from aiortc.rtcicetransport import RTCIceGatherer

    if _patch_depth == 0:
        _saved_get_host_addresses = aioice.ice.get_host_addresses
        _saved_default_ice_servers = RTCIceGatherer.__dict__["getDefaultIceServers"]
        aioice.ice.get_host_addresses = _loopback_host_addresses
        RTCIceGatherer.getDefaultIceServers = classmethod(_no_default_ice_servers)
    _patch_depth += 1
    try:
        yield
    finally:
        _patch_depth -= 1
        if _patch_depth == 0:
            aioice.ice.get_host_addresses = _saved_get_host_addresses
            RTCIceGatherer.getDefaultIceServers = _saved_default_ice_servers
            _saved_get_host_addresses = None
            _saved_default_ice_servers = None


_CANDIDATE_RE = re.compile(
    r"^a=candidate:(?P<foundation>\S+) (?P<component>\d+) (?P<transport>\S+) "
    r"(?P<priority>\d+) (?P<host>\S+) (?P<port>\d+) typ (?P<type>\S+)",
    re.MULTILINE,
)
_CONNECTION_LINE_RE = re.compile(r"^c=IN IP[46] (?P<host>\S+)", re.MULTILINE)


@dataclass(frozen=True)
class SdpCandidate:
    host: str
    port: int
    type: str
    transport: str
    component: int


def sdp_candidates(sdp: str) -> list[SdpCandidate]:
    """Parse the ``a=candidate`` lines of an SDP."""
    return [
        SdpCandidate(
            host=m["host"],
            port=int(m["port"]),
            type=m["type"],
            transport=m["transport"].lower(),
            component=int(m["component"]),
        )
        for m in _CANDIDATE_RE.finditer(sdp)
    ]


def assert_loopback_only(sdp: str, what: str = "SDP") -> list[SdpCandidate]:
    """Fail unless the SDP has candidates and all of them are 127.0.0.1 hosts."""
    candidates = sdp_candidates(sdp)
    if not candidates:
        raise WebRTCLoopbackError(f"{what}: no ICE candidates in SDP")
    bad = [c for c in candidates if c.host != LOOPBACK_ADDRESS or c.type != "host"]
    bad_c_lines = [h for h in _CONNECTION_LINE_RE.findall(sdp) if h not in (LOOPBACK_ADDRESS, "0.0.0.0")]
    if bad or bad_c_lines:
        raise WebRTCLoopbackError(
            f"{what}: non-loopback candidates {bad} / c= lines {bad_c_lines}; refusing to continue"
        )
    return candidates


# ---------------------------------------------------------------------------
# Peer
# ---------------------------------------------------------------------------


@dataclass
class ObservedEvent:
    """One ``SmallWebRTCConnection`` event, as seen by a recorder handler."""

    name: str
    t: float  # seconds since the harness started
    args: tuple = ()


def _elapsed_since(t0: float) -> float:
    return time.monotonic() - t0


@dataclass
class LoopbackPeer:
    """State of one loopback session; yielded by :func:`loopback_peer`."""

    connection: Any
    timeout: float
    pc: Any = None  # client aiortc RTCPeerConnection
    channel: Any = None  # client RTCDataChannel (None if data_channel=False)
    audio_track: Any = None  # client outgoing audio track
    offer_sdp: str = ""
    answer: dict | None = None  # connection.get_answer()
    offer_candidates: list[SdpCandidate] = field(default_factory=list)
    answer_candidates: list[SdpCandidate] = field(default_factory=list)
    events: list[ObservedEvent] = field(default_factory=list)
    client_messages: list[Any] = field(default_factory=list)
    #: (t, "connection.initialize") ... : the SmallWebRTCConnection calls made by
    #: the harness, in order.
    calls: list[tuple[float, str]] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _recording: bool = False  # True while recorder handlers are installed and active
    _stage: str = "created"

    # -- bookkeeping --------------------------------------------------------

    def elapsed(self) -> float:
        return _elapsed_since(self.t0)

    def _notify(self) -> None:
        self._changed.set()

    def _call(self, name: str) -> None:
        self.calls.append((round(self.elapsed(), 4), name))

    @property
    def event_names(self) -> list[str]:
        return [e.name for e in self.events]

    @property
    def pc_id(self) -> str | None:
        return self.answer["pc_id"] if self.answer else None

    def events_named(self, name: str) -> list[ObservedEvent]:
        return [e for e in self.events if e.name == name]

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float | None = None, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` (and wake on recorded events) until true or timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WebRTCLoopbackError(
                    f"timed out waiting for {what}; events so far: {self.event_names}, "
                    f"server pc={_state(self.connection.pc)}, client pc={_state(self.pc)}"
                )
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(_POLL_INTERVAL, remaining))

    async def wait_for_event(
        self, name: str, *, count: int = 1, timeout: float | None = None
    ) -> ObservedEvent:
        """Wait until the recorder saw ``name`` at least ``count`` times."""
        await self.wait_until(
            lambda: len(self.events_named(name)) >= count, timeout=timeout, what=f"event {name!r} x{count}"
        )
        return self.events_named(name)[count - 1]

    async def wait_connected(self, *, timeout: float | None = None, require_event: bool = True) -> None:
        """Wait until the server connection reports connected.

        ``is_connected()`` (requires ``connect()`` to have been invoked), plus
        the ``connected`` event handlers have run when events are observed.
        """
        await self.wait_until(self.connection.is_connected, timeout=timeout, what="connection.is_connected()")
        if require_event and self._recording:
            await self.wait_for_event("connected", timeout=timeout)

    # -- app messages -------------------------------------------------------

    def send_to_server(self, message: Any) -> None:
        """Send one app message client -> server over the data channel (JSON)."""
        if self.channel is None or self.channel.readyState != "open":
            raise WebRTCLoopbackError("client data channel is not open")
        self.channel.send(message if isinstance(message, str) else json.dumps(message))

    async def wait_for_client_message(
        self, predicate: Callable[[Any], bool] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Wait for a message received by the client (decoded JSON when possible)."""

        def find():
            return next((m for m in self.client_messages if predicate is None or predicate(m)), None)

        await self.wait_until(
            lambda: find() is not None, timeout=timeout, what="message on the client data channel"
        )
        return find()

    async def exchange_app_messages(
        self, client_message: Any = None, server_message: Any = None, *, timeout: float | None = None
    ) -> tuple[Any, Any]:
        """Send one message client -> server and one server -> client; wait for both.

        The server side is observed through the ``app-message`` event (needs
        ``observe_events=True``) and sent with ``connection.send_app_message``.
        Returns ``(message the server got, message the client got)``.
        """
        client_message = client_message or {"type": "loopback-client", "n": 1}
        server_message = server_message or {"type": "loopback-server", "n": 1}
        before = len(self.events_named("app-message"))
        self.send_to_server(client_message)
        event = await self.wait_for_event("app-message", count=before + 1, timeout=timeout)
        self._call("connection.send_app_message")
        self.connection.send_app_message(server_message)
        got = await self.wait_for_client_message(lambda m: m == server_message, timeout=timeout)
        return event.args[0] if event.args else None, got

    # -- media ----------------------------------------------------------------

    async def receive_server_audio(self, frames: int = 1, *, timeout: float | None = None) -> list[Any]:
        """Read ``frames`` decoded audio frames the server received from the client.

        Uses ``connection.audio_input_track()`` (as ``SmallWebRTCTransport``
        does on connect). Side effect: the wrapped track is now in the
        connection's track map, so ``_close()`` stops it and ``track-ended``
        is emitted on disconnect (it is not emitted otherwise).
        """
        self._call("connection.audio_input_track")
        track = self.connection.audio_input_track()
        if track is None:
            raise WebRTCLoopbackError("connection has no audio input track")
        budget = self.timeout if timeout is None else timeout
        return [await asyncio.wait_for(track.recv(), budget) for _ in range(frames)]

    # -- teardown helpers ---------------------------------------------------

    async def disconnect_server(self, *, timeout: float | None = None, wait_closed: bool = True) -> None:
        """``await connection.disconnect()``, then (optionally) wait for ``closed``.

        aiortc emits ``connectionstatechange`` from ``pc.close()`` but pyee runs
        the async listener as a task, so pipecat's ``closed`` event is
        dispatched *after* ``disconnect()`` returns.
        """
        self._call("connection.disconnect")
        await asyncio.wait_for(self.connection.disconnect(), self.timeout if timeout is None else timeout)
        if wait_closed and self._recording:
            await self.wait_for_event("closed", timeout=timeout)

    async def close_client(self, *, timeout: float | None = None) -> None:
        """Close the client peer (idempotent)."""
        if self.pc is not None:
            await asyncio.wait_for(self.pc.close(), self.timeout if timeout is None else timeout)
        if self.audio_track is not None:
            self.audio_track.stop()


def _state(pc: Any) -> str:
    return getattr(pc, "connectionState", "?") if pc is not None else "-"


def _configured_ice_servers(connection: Any) -> list:
    cfg = getattr(getattr(connection, "pc", None), "_RTCPeerConnection__configuration", None)
    if cfg is not None and cfg.iceServers:
        return list(cfg.iceServers)
    return list(getattr(connection, "ice_servers", None) or [])


def _install_recorders(peer: LoopbackPeer) -> None:
    handlers = getattr(peer.connection, "_event_handlers", {})
    for name in CONNECTION_EVENTS:
        if name not in handlers:
            continue

        def make(event_name: str):
            async def _record(_conn, *args):
                if peer._recording:
                    peer.events.append(ObservedEvent(event_name, round(peer.elapsed(), 4), args))
                    peer._notify()

            _record.__name__ = f"_loopback_record_{event_name.replace('-', '_')}"
            return _record

        peer.connection.add_event_handler(name, make(name))


def _make_silence_track():
    from aiortc.mediastreams import AudioStreamTrack

    return AudioStreamTrack()  # 20 ms frames of silence, s16 mono 48 kHz


async def _setup(
    peer: LoopbackPeer,
    *,
    audio: bool,
    audio_track: Any,
    data_channel: bool,
    data_channel_label: str,
    connect: str,
    observe_events: bool,
) -> None:
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCPeerConnection,
        RTCSessionDescription,
    )

    connection = peer.connection
    servers = _configured_ice_servers(connection)
    if servers:
        raise WebRTCLoopbackError(f"connection has ICE servers {servers}; only loopback allowed")

    if observe_events:
        _install_recorders(peer)
        peer._recording = True

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    peer.pc = pc

    @pc.on("connectionstatechange")
    def _on_client_state():
        peer._notify()

    if audio:
        peer.audio_track = audio_track or _make_silence_track()
        pc.addTransceiver(peer.audio_track, direction="sendrecv")
    if data_channel:
        channel = pc.createDataChannel(data_channel_label)
        peer.channel = channel

        @channel.on("open")
        def _on_open():
            peer._notify()

        @channel.on("message")
        def _on_message(message):
            try:
                message = json.loads(message)
            except (TypeError, ValueError):
                pass
            peer.client_messages.append(message)
            peer._notify()

    peer._stage = "client offer"
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)  # gathers candidates (127.0.0.1 only)
    peer.offer_sdp = pc.localDescription.sdp
    peer.offer_candidates = assert_loopback_only(peer.offer_sdp, "client offer")

    peer._stage = "connection.initialize"
    peer._call("connection.initialize")
    await asyncio.wait_for(connection.initialize(sdp=peer.offer_sdp, type="offer"), peer.timeout)
    peer._call("connection.get_answer")
    answer = connection.get_answer()
    if not answer:
        raise WebRTCLoopbackError("connection.get_answer() returned no answer")
    peer.answer = answer
    peer.answer_candidates = assert_loopback_only(answer["sdp"], "server answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    if connect == CONNECT_EARLY:
        peer._stage = "connection.connect"
        peer._call("connection.connect")
        await connection.connect()

    peer._stage = "ICE/DTLS connection"
    await peer.wait_until(
        lambda: connection.pc.connectionState == "connected" and pc.connectionState == "connected",
        what="both peer connections 'connected'",
    )
    if data_channel:
        peer._stage = "data channel open"
        await peer.wait_until(
            lambda: (
                peer.channel.readyState == "open" and getattr(connection, "_data_channel", None) is not None
            ),
            what="data channel open on both sides",
        )

    if connect == CONNECT_LATE:
        peer._stage = "connection.connect"
        peer._call("connection.connect")
        await connection.connect()
    if connect != CONNECT_NONE:
        peer._stage = "connected"
        await peer.wait_connected()
    peer._stage = "ready"


async def _teardown(peer: LoopbackPeer, *, deadline: float) -> list[str]:
    """Close both sides and drain event handler tasks; returns problems seen."""
    problems: list[str] = []
    connection = peer.connection

    def remaining() -> float:
        return max(0.05, deadline - time.monotonic())

    server_pc = getattr(connection, "pc", None)
    if server_pc is not None and server_pc.connectionState != "closed":
        peer._call("connection.disconnect (harness teardown)")
        try:
            await asyncio.wait_for(connection.disconnect(), remaining())
        except Exception as e:
            problems.append(f"connection.disconnect(): {e!r}")
    try:
        await peer.close_client(timeout=remaining())
    except Exception as e:
        problems.append(f"client pc.close(): {e!r}")

    # The server pc may have been closed by aiortc itself (remote DTLS close)
    # without pipecat's _close(); stop its timers so no task outlives the test.
    for name in ("_cancel_monitoring_connecting_state", "_cancel_data_channel_timeout"):
        with contextlib.suppress(Exception):
            getattr(connection, name)()
    # SmallWebRTCTrack.recv() starts an idle-watcher task that only _close()
    # cancels (through track.stop()).
    for track in list((getattr(connection, "_track_map", None) or {}).values()):
        idle = getattr(track, "_idle_task", None)
        if idle is not None and not idle.done():
            idle.cancel()
    # pc.close() is idempotent and, if a close is already in flight (e.g.
    # aiortc's own close task after the remote peer left, which flips
    # connectionState to "closed" before it finishes), waits for it.
    if server_pc is not None:
        try:
            await asyncio.wait_for(server_pc.close(), remaining())
        except Exception as e:
            problems.append(f"server pc.close(): {e!r}")

    # "closed" is dispatched from a pyee task after pc.close() returns.
    if peer._recording and server_pc is not None and "closed" in getattr(connection, "_event_handlers", {}):
        with contextlib.suppress(WebRTCLoopbackError):
            await peer.wait_for_event("closed", timeout=min(remaining(), 2.0))

    current = asyncio.current_task()
    tasks = [t for _, t in list(getattr(connection, "_event_tasks", ())) if t is not current]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=remaining())
        for t in pending:
            t.cancel()
        if pending:
            problems.append(f"{len(pending)} event handler task(s) cancelled at teardown")
    return problems


@contextlib.asynccontextmanager
async def loopback_peer(
    connection: Any,
    *,
    timeout: float = 10.0,
    cleanup_timeout: float = 5.0,
    audio: bool = True,
    audio_track: Any = None,
    data_channel: bool = True,
    data_channel_label: str = "chat",
    connect: str | bool = CONNECT_EARLY,
    observe_events: bool = True,
) -> AsyncIterator[LoopbackPeer]:
    """Connect an in-process aiortc client peer to ``connection`` over 127.0.0.1.

    Sequence: client offer (sendrecv audio transceiver + data channel) ->
    ``await connection.initialize(sdp=..., type="offer")`` ->
    ``connection.get_answer()`` -> client ``setRemoteDescription`` ->
    ``await connection.connect()`` (``connect="early"``; ``"late"`` calls it
    once the peer connection is connected; ``"none"``/``False`` never) ->
    wait (bounded by ``timeout``) for both pcs connected, the data channel open
    and ``connection.is_connected()`` plus the ``connected`` event.

    With ``observe_events`` a recording handler is added for every registered
    connection event (``peer.events``); the caller's own handlers are untouched.

    On exit (also on error/cancel), within ``cleanup_timeout``: if the server
    pc is not closed yet, ``await connection.disconnect()``; close the client
    pc; wait for the ``closed`` event and the connection's event handler tasks;
    restore aioice/aiortc.
    """
    if connect is True:
        connect = CONNECT_EARLY
    elif connect is False or connect is None:
        connect = CONNECT_NONE
    if connect not in (CONNECT_EARLY, CONNECT_LATE, CONNECT_NONE):
        raise ValueError(f"bad connect mode {connect!r}")

    peer = LoopbackPeer(connection=connection, timeout=timeout)
    with loopback_only_ice():
        try:
            try:
                await asyncio.wait_for(
                    _setup(
                        peer,
                        audio=audio,
                        audio_track=audio_track,
                        data_channel=data_channel,
                        data_channel_label=data_channel_label,
                        connect=connect,
                        observe_events=observe_events,
                    ),
                    timeout + 1.0,
                )
            except asyncio.TimeoutError as e:
                raise WebRTCLoopbackError(
                    f"setup timed out during {peer._stage} (timeout={timeout}s); "
                    f"events so far: {peer.event_names}"
                ) from e
            yield peer
        finally:
            deadline = time.monotonic() + cleanup_timeout
            problems = await asyncio.shield(_teardown(peer, deadline=deadline))
            peer._recording = False
            peer.teardown_problems = problems  # type: ignore[attr-defined]


@dataclass
class SessionResult:
    """Outcome of :func:`webrtc_session`."""

    pc_id: str | None
    events: list[ObservedEvent]
    calls: list[tuple[float, str]]
    server_received: Any
    client_received: Any
    client_messages: list[Any]
    offer_candidates: list[SdpCandidate]
    answer_candidates: list[SdpCandidate]
    connected_at: float
    disconnect_returned_at: float | None
    duration: float
    events_at_disconnect_return: list[str]

    @property
    def event_names(self) -> list[str]:
        return [e.name for e in self.events]


async def webrtc_session(
    connection: Any,
    *,
    timeout: float = 10.0,
    exchange_messages: bool = True,
    disconnect: bool = True,
    hold: float = 0.0,
    **kwargs: Any,
) -> SessionResult:
    """Run a complete scripted session against ``connection``.

    connect -> (optional) one app message each way -> ``hold`` seconds ->
    ``await connection.disconnect()`` -> wait for ``closed`` -> close client.
    Extra keyword arguments go to :func:`loopback_peer`.
    """
    server_got = client_got = None
    disconnect_at = None
    at_return: list[str] = []
    async with loopback_peer(connection, timeout=timeout, **kwargs) as peer:
        connected_at = peer.elapsed()
        if exchange_messages:
            server_got, client_got = await peer.exchange_app_messages()
        if hold:
            await asyncio.sleep(hold)
        if disconnect:
            await peer.disconnect_server(wait_closed=False)
            disconnect_at = peer.elapsed()
            at_return = list(peer.event_names)
            if peer._recording:
                await peer.wait_for_event("closed")
    return SessionResult(
        pc_id=peer.pc_id,
        events=list(peer.events),
        calls=list(peer.calls),
        server_received=server_got,
        client_received=client_got,
        client_messages=list(peer.client_messages),
        offer_candidates=peer.offer_candidates,
        answer_candidates=peer.answer_candidates,
        connected_at=connected_at,
        disconnect_returned_at=disconnect_at,
        duration=peer.elapsed(),
        events_at_disconnect_return=at_return,
    )
