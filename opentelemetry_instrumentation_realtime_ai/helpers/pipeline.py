"""Pipeline and element helpers (the seed's pipeline.go), for in-house frameworks.

Span names are fixed (``element.process``, not ``element.<name>.process``); the element and
pipeline names go into attributes, and ``message.type`` is a readable string.
"""

from __future__ import annotations

import enum
from typing import Any

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from .. import attributes as attrs
from ..spans import Parent, new_span
from .session import Session


def message_type(message: Any) -> str:
    """A readable, bounded type: the message's own ``type`` (string or enum) or its class name."""
    kind = getattr(message, "type", None)
    if isinstance(kind, enum.Enum):
        return str(kind.name).lower()
    if isinstance(kind, str):
        return kind
    return type(message).__name__


def message_attributes(message: Any) -> dict[str, AttributeValue]:
    """``message.type`` plus the audio or video attributes a message carries (duck-typed)."""
    result: dict[str, AttributeValue] = {attrs.MESSAGE_TYPE: message_type(message)}
    audio = getattr(message, "audio", None)
    if isinstance(audio, (bytes, bytearray, memoryview)):
        result.update(
            attrs.audio_attributes(
                sample_rate=getattr(message, "sample_rate", None),
                channels=getattr(message, "num_channels", None) or getattr(message, "channels", None),
                media_type=getattr(message, "media_type", None),
                codec=getattr(message, "codec", None),
                data_size=len(audio),
            )
        )
        return result
    image = getattr(message, "image", None)
    if image is None:
        image = getattr(message, "video", None)
    if isinstance(image, (bytes, bytearray, memoryview)):
        size = getattr(message, "size", None)
        width, height = size if isinstance(size, tuple) and len(size) == 2 else (None, None)
        result.update(
            attrs.video_attributes(
                width=getattr(message, "width", width),
                height=getattr(message, "height", height),
                media_type=getattr(message, "media_type", None),
                codec=getattr(message, "codec", None) or getattr(message, "format", None),
                data_size=len(image),
            )
        )
    return result


def instrument_pipeline_start(
    pipeline_name: str, *, session_id: str | None = None, framework: str | None = None, parent: Parent = None
) -> Session:
    """Start a ``pipeline.run`` span; the returned ``Session`` tracks turns and is ended by ``instrument_pipeline_stop``."""
    return Session(pipeline_name, session_id, framework=framework, parent=parent)


def instrument_pipeline_stop(session: Session, error: BaseException | None = None) -> None:
    session.span.add_event(attrs.EVENT_PIPELINE_STOP)
    session.end(error)


def _element_span(name: str, element_name: str, pipeline_name: str | None, parent: Parent) -> Span:
    return new_span(name, attrs.pipeline_attributes(pipeline_name, element_name), parent=parent)  # type: ignore[arg-type]


def instrument_element_start(
    element_name: str, *, pipeline_name: str | None = None, parent: Parent = None
) -> Span:
    return _element_span(attrs.SPAN_ELEMENT_START, element_name, pipeline_name, parent)


def instrument_element_stop(
    element_name: str, *, pipeline_name: str | None = None, parent: Parent = None
) -> Span:
    return _element_span(attrs.SPAN_ELEMENT_STOP, element_name, pipeline_name, parent)


def instrument_element_process(
    element_name: str,
    message: Any,
    *,
    pipeline_name: str | None = None,
    session_id: str | None = None,
    parent: Parent = None,
) -> Span:
    """An ``element.process`` span with the message's type and audio or video attributes."""
    span_attrs = attrs.pipeline_attributes(pipeline_name, element_name)  # type: ignore[arg-type]
    span_attrs.update(message_attributes(message))
    if session_id:
        span_attrs[attrs.SESSION_ID] = session_id
    return new_span(attrs.SPAN_ELEMENT_PROCESS, span_attrs, parent=parent)


def instrument_pipeline_push(pipeline_name: str, message: Any, *, parent: Parent = None) -> Span:
    span_attrs = attrs.pipeline_attributes(pipeline_name)
    span_attrs.update(message_attributes(message))
    return new_span(attrs.SPAN_PIPELINE_PUSH, span_attrs, parent=parent)


def instrument_pipeline_pull(pipeline_name: str, *, parent: Parent = None) -> Span:
    return new_span(attrs.SPAN_PIPELINE_PULL, attrs.pipeline_attributes(pipeline_name), parent=parent)
