"""Transport connections (the seed's connection.go): one span per connection, from creation to close.

Every state change is an event on that span with the old and new state, and a metric;
messages are counted (an attribute at close and a metric), not traced one by one.
"""

from __future__ import annotations

import statistics
from collections import deque

from opentelemetry.trace import Span, SpanKind

from .. import attributes as attrs
from .. import telemetry
from ..spans import Parent, new_span, record_error

_MAX_RTT_SAMPLES = 720
"""RTT samples kept for the median: an hour at the default 5 s; min and max cover the whole call."""


class Connection:
    """The life of one transport connection (WebRTC peer connection, WebSocket, ...)."""

    def __init__(
        self,
        connection_id: str,
        connection_type: str,
        *,
        state: str = "new",
        kind: SpanKind = SpanKind.SERVER,
        parent: Parent = None,
    ):
        self._instruments = telemetry.current().instruments
        self.connection_id = connection_id
        self.connection_type = connection_type
        self.state = state
        self.closed = False
        self._metric_attrs = {attrs.CONNECTION_TYPE: connection_type}
        self._messages = {"received": 0, "sent": 0}
        self._bytes = {"received": 0, "sent": 0}
        self._rtts: deque[float] = deque(maxlen=_MAX_RTT_SAMPLES)
        self._rtt_range: tuple[float, float] | None = None
        self._media: dict[str, list[float]] = {}
        """Per direction: [packets lost, packets in all, highest jitter (s)], as last reported."""
        self.span: Span = new_span(
            attrs.connection_span_name(connection_type),
            attrs.connection_attributes(connection_id, connection_type, state),
            kind=kind,
            parent=parent,
        )
        self._instruments.connections_active.add(1, self._metric_attrs)

    def state_change(self, new_state: str, old_state: str | None = None) -> None:
        """Record a transition; repeated reports of the current state are ignored."""
        old = self.state if old_state is None else old_state
        if new_state == old or self.closed:
            return
        self.state = new_state
        self.span.add_event(
            attrs.EVENT_STATE_CHANGE, {attrs.CONNECTION_OLD_STATE: old, attrs.CONNECTION_STATE: new_state}
        )
        self.span.set_attribute(attrs.CONNECTION_STATE, new_state)
        self._instruments.connection_state_changes.add(
            1, {**self._metric_attrs, attrs.CONNECTION_STATE: new_state}
        )

    def message(self, direction: str, size: int = 0) -> None:
        """Count one message; ``direction`` is ``"received"`` or ``"sent"``."""
        if direction not in self._messages:
            raise ValueError(f"direction={direction!r}; accepted values: received, sent")
        self._messages[direction] += 1
        self._bytes[direction] += size
        self._instruments.connection_messages.add(
            1, {**self._metric_attrs, attrs.CONNECTION_DIRECTION: direction}
        )

    def quality(
        self,
        direction: str,
        *,
        rtt: float | None = None,
        jitter: float | None = None,
        packets_lost: int | None = None,
        packets: int | None = None,
    ) -> None:
        """A sample of media quality in one ``direction`` (``received``: from the peer; ``sent``: to it).

        ``packets_lost`` and ``packets`` are running totals, as RTCP reports them; ``jitter`` in seconds.
        """
        if self.closed or direction not in self._messages:
            return
        metric_attrs = {**self._metric_attrs, attrs.CONNECTION_DIRECTION: direction}
        if rtt is not None:
            self._rtts.append(rtt)
            low, high = self._rtt_range or (rtt, rtt)
            self._rtt_range = (min(low, rtt), max(high, rtt))
            self._instruments.connection_rtt.record(rtt, self._metric_attrs)
        media = self._media.setdefault(direction, [0, 0, 0.0])
        if jitter is not None:
            media[2] = max(media[2], jitter)
            self._instruments.connection_jitter.record(jitter, metric_attrs)
        if packets_lost is not None:
            lost = max(0, packets_lost)
            if lost > media[0]:
                self._instruments.connection_packets_lost.add(lost - media[0], metric_attrs)
            media[0] = max(media[0], lost)
        if packets is not None:
            media[1] = max(media[1], packets)

    def _quality_summary(self) -> dict[str, float | int]:
        summary: dict[str, float | int] = {}
        if self._rtt_range is not None:
            summary[attrs.CONNECTION_RTT_MIN], summary[attrs.CONNECTION_RTT_MAX] = self._rtt_range
            summary[attrs.CONNECTION_RTT_MEDIAN] = statistics.median(self._rtts)
        keys = {
            "received": (
                attrs.CONNECTION_PACKETS_LOST_RECEIVED,
                attrs.CONNECTION_LOSS_RATIO_RECEIVED,
                attrs.CONNECTION_JITTER_MAX_RECEIVED,
            ),
            "sent": (
                attrs.CONNECTION_PACKETS_LOST_SENT,
                attrs.CONNECTION_LOSS_RATIO_SENT,
                attrs.CONNECTION_JITTER_MAX_SENT,
            ),
        }
        for direction, (lost, packets, jitter) in self._media.items():
            lost_key, ratio_key, jitter_key = keys[direction]
            summary[lost_key] = int(lost)
            summary[jitter_key] = jitter
            if packets + lost:
                summary[ratio_key] = lost / (packets + lost)
        return summary

    def error(self, error: BaseException) -> None:
        if not self.closed:
            record_error(self.span, error)

    def close(self, final_state: str = "closed") -> None:
        """Record the final state and message counts, and end the span, once."""
        if self.closed:
            return
        self.state_change(final_state)
        self.closed = True
        self.span.set_attributes(
            {
                attrs.CONNECTION_MESSAGES_RECEIVED: self._messages["received"],
                attrs.CONNECTION_MESSAGES_SENT: self._messages["sent"],
                attrs.CONNECTION_BYTES_RECEIVED: self._bytes["received"],
                attrs.CONNECTION_BYTES_SENT: self._bytes["sent"],
                **self._quality_summary(),
            }
        )
        self.span.end()
        self._instruments.connections_active.add(-1, self._metric_attrs)


# --- the seed's functions, one per Go function ---


def instrument_connection_created(
    connection_id: str, connection_type: str, *, parent: Parent = None
) -> Connection:
    return Connection(connection_id, connection_type, parent=parent)


def instrument_connection_state_change(connection: Connection, old_state: str | None, new_state: str) -> None:
    connection.state_change(new_state, old_state)


def instrument_connection_message(connection: Connection, direction: str, data_size: int = 0) -> None:
    connection.message(direction, data_size)


def instrument_connection_error(connection: Connection, error: BaseException) -> None:
    connection.error(error)


def instrument_connection_closed(connection: Connection) -> None:
    connection.close()
