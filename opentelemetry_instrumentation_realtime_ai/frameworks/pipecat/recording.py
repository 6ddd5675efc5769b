"""Pipecat's audio for session recordings: what the input transport received, what the output wrote.

Installed only when recording is on. ``BaseInputTransport.push_audio_frame`` is where every
input transport hands over the caller's audio. On the way out, the base class's media sender
calls the transport's ``write_audio_frame`` (each transport overrides it): from 1.14 through
``MediaSender._internal_write_audio_frame``, before that right after ``MediaSender._handle_frame``,
so those are hooked where they are defined. Each hook stamps the chunk and queues it, nothing more.
"""

from __future__ import annotations

from typing import Any

from ...helpers.session import current_session
from ...recording import BOT, USER, RecordingProcessor
from ..hooks import Hooks, guarded


def instrument(hooks: Hooks, recordings: RecordingProcessor, class_of: Any) -> None:
    def record(channel: int, frame: Any) -> None:
        session = current_session()
        if session is None:
            return
        recorder = recordings.for_span(session.span)
        audio = getattr(frame, "audio", None)
        if recorder is not None and audio:
            recorder.add(channel, audio, frame.sample_rate, frame.num_channels)

    record = guarded(record)

    def heard(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record(USER, args[0] if args else kwargs.get("frame"))
        return wrapped(*args, **kwargs)

    def played(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        frame = args[0] if args else kwargs.get("frame")
        if isinstance(frame, output_audio):
            record(BOT, frame)
        return wrapped(*args, **kwargs)

    output_audio = class_of("pipecat.frames.frames", "OutputAudioRawFrame") or ()
    base_input = class_of("pipecat.transports.base_input", "BaseInputTransport")
    hooks.wrap(base_input, "push_audio_frame", heard, "BaseInputTransport.push_audio_frame")
    base_output = class_of("pipecat.transports.base_output", "BaseOutputTransport")
    sender = getattr(base_output, "MediaSender", None)
    method = (
        "_internal_write_audio_frame" if hasattr(sender, "_internal_write_audio_frame") else "_handle_frame"
    )
    hooks.wrap(sender, method, played, f"BaseOutputTransport.MediaSender.{method}")
