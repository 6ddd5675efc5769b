"""LiveKit's audio: how evenly the caller's reached the agent, whether the agent's played without holes.

Every frame the session's audio input yields reaches the agent through ``AgentActivity.push_audio``:
it is timed there for the microphone meter. On the way out, LiveKit's sinks (the room's, the
console's, an app's) call the base ``AudioOutput.capture_frame`` for each frame they take (it
counts the playback segments), and so do the wrappers in front of them: only the end of the
chain, the sink, counts. A sink takes a reply faster than real time and plays it in turn, so a
frame that reaches it after the audio before it has played out leaves a hole; the base class's own
flag says whether a frame starts a new segment (one reply's audio, up to ``flush``), and ``pause``
/ ``resume`` hold the playout. With recording on, the same hooks feed the session's recorder, and
``on_playback_finished(interrupted=True)`` cuts the rest of a reply at the instant the sink dropped it.
Each hook stamps, counts and queues, nothing more.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from ...helpers.output_audio import Playout
from ...recording import BOT, USER, Recorder, RecordingProcessor
from ..hooks import Hooks, guarded
from . import session as sessions

_PLAYOUT = "_otel_realtime_ai_playout"
_RECORDER = "_otel_realtime_ai_recorder"
_CAPTURING = "_AudioOutput__capturing"
"""The base class's flag: set by a segment's first frame, cleared by ``flush``."""


def instrument(hooks: Hooks, recordings: RecordingProcessor | None, class_of: Any) -> None:
    def recorder_of(run: sessions.Run | None) -> Recorder | None:
        if recordings is None or run is None:
            return None
        return recordings.for_span(run.session.span)

    @guarded
    def heard(activity: Any, frame: Any) -> None:
        run = sessions.run_of(getattr(activity, "_session", None))
        if run is None or frame is None:
            return
        size = frame.samples_per_channel * frame.num_channels * 2
        meter = run.input_audio
        if meter is None:
            meter = run.input_audio = run.session.input_audio(frame.sample_rate * frame.num_channels * 2)
        if meter is not None:
            meter.heard(perf_counter(), size)
        recorder = recorder_of(run)
        if recorder is not None:
            recorder.add(USER, frame.data, frame.sample_rate, frame.num_channels)

    def push_audio(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        heard(instance, args[0] if args else kwargs.get("frame"))
        return wrapped(*args, **kwargs)

    @guarded
    def played(sink: Any, frame: Any) -> None:
        if sink.next_in_chain is not None or frame is None:
            return  # a wrapper: the sink at the end of its chain plays the frame
        run = sessions.current()
        state = getattr(sink, "__dict__", None)
        if run is None or state is None:
            return
        capturing = state.get(_CAPTURING)
        if capturing is not None:  # else a LiveKit without the flag: holes are not measured (nor claimed)
            now = perf_counter()
            playout = state.get(_PLAYOUT)
            if not isinstance(playout, Playout):
                playout = state[_PLAYOUT] = Playout()
            if not capturing:
                playout.restart()
            run.session.audio_gaps_measured = True
            hole = playout.queued(now, frame.duration)
            if hole:
                run.session.audio_gap(hole, now - hole)
        recorder = recorder_of(run)
        if recorder is not None:
            recorder.queue(BOT, frame.data, frame.sample_rate, frame.num_channels)
            state[_RECORDER] = recorder  # for the sink's interruptions and pauses

    def capture_frame(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        played(instance, args[0] if args else kwargs.get("frame"))
        return wrapped(*args, **kwargs)

    @guarded
    def control(sink: Any, action: str) -> None:
        if sink.next_in_chain is not None:
            return
        state = getattr(sink, "__dict__", {})
        playout = state.get(_PLAYOUT)
        if isinstance(playout, Playout) and action != "cut":
            getattr(playout, action)(perf_counter())
        recorder = state.get(_RECORDER)
        if isinstance(recorder, Recorder):
            getattr(recorder, action)(BOT)

    def pause(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        control(instance, "pause")
        return wrapped(*args, **kwargs)

    def resume(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        control(instance, "resume")
        return wrapped(*args, **kwargs)

    def playback_finished(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if kwargs.get("interrupted"):
            control(instance, "cut")
        return wrapped(*args, **kwargs)

    activity = class_of("livekit.agents.voice.agent_activity", "AgentActivity")
    hooks.wrap(activity, "push_audio", push_audio, "AgentActivity.push_audio")
    output = class_of("livekit.agents.voice.io", "AudioOutput")
    hooks.wrap(output, "capture_frame", capture_frame, "AudioOutput.capture_frame")
    hooks.wrap(output, "pause", pause, "AudioOutput.pause")
    hooks.wrap(output, "resume", resume, "AudioOutput.resume")
    if recordings is not None:
        hooks.wrap(output, "on_playback_finished", playback_finished, "AudioOutput.on_playback_finished")
