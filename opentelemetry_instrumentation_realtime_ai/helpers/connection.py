"""Transport connections (the seed's connection.go): one span per connection, from creation to close.

Every state change is an event on that span with the old and new state, and a metric;
messages are counted (an attribute at close and a metric), not traced one by one.
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind

from .. import attributes as attrs
from .. import telemetry
from ..spans import Parent, new_span, record_error


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
