"""LiveKit's audio for session recordings: what the agent heard, what its audio output played.

Installed only when recording is on. Every frame the session's audio input yields reaches the
agent through ``AgentActivity.push_audio``. On the way out, LiveKit's sinks (the room's, the
console's, an app's) call the base ``AudioOutput.capture_frame`` for each frame they take (it
counts the playback segments), and so do the wrappers in front of them: only the end of the
chain, the sink, is recorded. A sink takes a reply faster than real time and plays it in turn,
so its frames are queued one after another; it reports an interruption through
``on_playback_finished(interrupted=True)`` once it has dropped the rest, and ``pause`` /
``resume`` hold what it has. Each hook stamps and queues, nothing more.
"""

from __future__ import annotations

from typing import Any

from ...recording import BOT, USER, Recorder, RecordingProcessor
from ..hooks import Hooks, guarded
from . import session as sessions

_RECORDER = "_otel_realtime_ai_recorder"


def instrument(hooks: Hooks, recordings: RecordingProcessor, class_of: Any) -> None:
    def recorder_of(run: sessions.Run | None) -> Recorder | None:
        return recordings.for_span(run.session.span) if run is not None else None

    @guarded
    def heard(activity: Any, frame: Any) -> None:
        recorder = recorder_of(sessions.run_of(getattr(activity, "_session", None)))
        if recorder is not None and frame is not None:
            recorder.add(USER, frame.data, frame.sample_rate, frame.num_channels)

    def push_audio(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        heard(instance, args[0] if args else kwargs.get("frame"))
        return wrapped(*args, **kwargs)

    @guarded
    def played(sink: Any, frame: Any) -> None:
        if sink.next_in_chain is not None or frame is None:
            return  # a wrapper: the sink at the end of its chain records the frame
        recorder = recorder_of(sessions.current())
        if recorder is None:
            return
        recorder.queue(BOT, frame.data, frame.sample_rate, frame.num_channels)
        state = getattr(sink, "__dict__", None)
        if state is not None:
            state[_RECORDER] = recorder  # for the sink's interruptions and pauses

    def capture_frame(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        played(instance, args[0] if args else kwargs.get("frame"))
        return wrapped(*args, **kwargs)

    @guarded
    def control(sink: Any, action: str) -> None:
        recorder = getattr(sink, "__dict__", {}).get(_RECORDER) if sink.next_in_chain is None else None
        if isinstance(recorder, Recorder):
            getattr(recorder, action)(BOT)

    def playback_finished(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if kwargs.get("interrupted"):
            control(instance, "cut")
        return wrapped(*args, **kwargs)

    def pause(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        control(instance, "pause")
        return wrapped(*args, **kwargs)

    def resume(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        control(instance, "resume")
        return wrapped(*args, **kwargs)

    activity = class_of("livekit.agents.voice.agent_activity", "AgentActivity")
    hooks.wrap(activity, "push_audio", push_audio, "AgentActivity.push_audio")
    output = class_of("livekit.agents.voice.io", "AudioOutput")
    hooks.wrap(output, "capture_frame", capture_frame, "AudioOutput.capture_frame")
    hooks.wrap(output, "on_playback_finished", playback_finished, "AudioOutput.on_playback_finished")
    hooks.wrap(output, "pause", pause, "AudioOutput.pause")
    hooks.wrap(output, "resume", resume, "AudioOutput.resume")
