"""Session recordings: the demo call in real time, its WAV checked against what the mic pushed
and what the output transport wrote; a bot killed mid-call; recording off installs nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wrapt

from opentelemetry_instrumentation_realtime_ai.recording import RATE, Recorder

np = pytest.importorskip("numpy")
pytest.importorskip("pipecat")

from recording_check import TOLERANCE_S, channels, runs, sounding  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def timed(monkeypatch):
    """The demo's mic and speaker, noting when each chunk was pushed / written (time.time_ns)."""
    import bot
    import providers

    made = {}

    def stamp(frame):  # when, how many seconds of audio, whether it holds any sound
        return time.time_ns(), len(frame.audio) / 2 / frame.sample_rate, any(frame.audio)

    class TimedMic(providers.ScriptedMicInput):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stamps = made["mic"] = []

        async def push_audio_frame(self, frame):
            self.stamps.append(stamp(frame))
            await super().push_audio_frame(frame)

    class TimedSpeaker(providers.SpeakerOutput):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stamps = made["speaker"] = []

        async def write_audio_frame(self, frame):
            self.stamps.append(stamp(frame))
            return await super().write_audio_frame(frame)

    monkeypatch.setattr(bot, "ScriptedMicInput", TimedMic)
    monkeypatch.setattr(bot, "SpeakerOutput", TimedSpeaker)
    return made


async def test_the_recording_is_the_call_on_the_span_clock(instrument, timed, tmp_path):
    import bot

    otel = instrument(recording_dir=str(tmp_path))
    result = await bot.run_bot(turns=3, interrupt_turn=2, realtime=True, conversation_id="rec-1")
    assert result.ended_by == "end"
    run = otel.one("pipeline.run")
    path = run.attributes["realtime_ai.recording.path"]
    assert path == str(tmp_path / "rec-1.wav")
    from opentelemetry_instrumentation_realtime_ai import telemetry

    assert telemetry.current().recordings.force_flush(5000)
    audio = channels(path)
    assert len(audio) / RATE == pytest.approx((run.end_time - run.start_time) / 1e9, abs=1 / RATE)

    def offset(stamps):
        return [((t - run.start_time) / 1e9, secs, loud) for t, secs, loud in stamps]

    heard = runs(offset(timed["mic"]), gap_s=0.05)
    user = sounding(audio[:, 0])
    assert len(heard) == len(user) == 3
    errors = []
    for (start, end), (got_start, got_end) in zip(heard, user, strict=True):
        errors += [got_start - start, got_end - end]
    played = runs(offset(timed["speaker"]), gap_s=0.1)
    bot_audio = sounding(audio[:, 1], gap_s=0.1)
    assert len(played) == len(bot_audio) == 3
    for (start, end), (got_start, got_end) in zip(played, bot_audio, strict=True):
        errors += [got_start - start, got_end - end]
    print("alignment errors (ms):", [round(e * 1000, 1) for e in errors])
    assert max(abs(e) for e in errors) <= TOLERANCE_S
    # the barge-in: the bot was speaking when the user's third utterance began, and its audio stopped
    # soon after, well short of what the TTS had made for the reply (SineTTS: 30 ms a character)
    barge_in = heard[2][0]
    assert bot_audio[1][0] < barge_in < bot_audio[1][1] < barge_in + 0.5
    texts = result.tts_requests
    reply_2 = texts[texts.index("Reply 2.") : texts.index("Reply 3.")]
    assert bot_audio[1][1] - bot_audio[1][0] < sum(len(t.strip()) for t in reply_2) * 0.03 - 0.5
    assert np.abs(audio[int(bot_audio[1][1] * RATE) + 80 : int(played[2][0] * RATE) - 80, 1]).max() == 0


def test_chunks_keep_the_clock_paced_or_in_a_burst(tmp_path):
    """Paced chunks follow each other (resampled to the file's rate, mixed down per channel); a burst
    (frames made ahead of time, handed over at once) cannot all keep their time: the clock wins."""
    start = time.perf_counter_ns()
    recorder = Recorder(str(tmp_path / "a.wav"), start)
    tone = (np.sin(np.arange(480) / 480 * 2 * np.pi * 5) * 8000).astype("<i2")  # 20 ms at 24 kHz
    stereo = np.full(640, 3000, dtype="<i2")  # 20 ms at 16 kHz, two channels
    stamps = []
    for _ in range(15):
        stamps.append((time.perf_counter_ns() - start) / 1e9)
        recorder.add(0, stereo.tobytes(), 16000, 2)
        recorder.add(1, tone.tobytes(), 24000, 1)
        time.sleep(0.02)
    time.sleep(0.2)
    burst = (time.perf_counter_ns() - start) / 1e9
    for _ in range(50):
        recorder.add(1, tone.tobytes(), 24000, 1)
    recorder.close(start + 2 * 10**9)
    assert recorder.finished.wait(5)
    audio = channels(tmp_path / "a.wav")
    assert len(audio) == 2 * RATE
    ((user_start, user_end),) = sounding(audio[:, 0], gap_s=0.015)
    assert user_start == pytest.approx(stamps[0], abs=0.002)
    assert user_end == pytest.approx(stamps[-1] + 0.02, abs=TOLERANCE_S)
    assert set(np.unique(audio[int(user_start * RATE) : int(user_end * RATE), 0])) <= {0, 3000}
    paced, bursted = sounding(audio[:, 1], gap_s=0.015)
    assert paced[0] == pytest.approx(stamps[0], abs=0.002)
    assert bursted[0] == pytest.approx(burst, abs=0.002) and bursted[1] - bursted[0] <= 0.04
    assert recorder.skipped >= 45 and recorder.dropped == 0


def test_off_installs_no_audio_hook(instrument):
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_output import BaseOutputTransport

    from opentelemetry_instrumentation_realtime_ai.frameworks import pipecat as hooks

    def untouched(hooked):  # the sender's other hook (its first audio out) is not the recording's
        sender = {k: v for k, v in BaseOutputTransport.MediaSender.__dict__.items() if k not in hooked}
        return BaseInputTransport.__dict__["push_audio_frame"], sender

    before = untouched(())
    instrument()
    hooked = {method for _, method, _ in hooks._hooks.installed}
    assert not hooked & {"_internal_write_audio_frame", "_handle_frame"}
    # the caller's audio is timed on arrival (microphone health), by a plain function, not the recorder
    timed = BaseInputTransport.__dict__["push_audio_frame"]
    assert timed.__wrapped__ is before[0] and not isinstance(timed, wrapt.ObjectProxy)
    _, sender = before
    assert untouched(hooked)[1] == {k: v for k, v in sender.items() if k not in hooked}


def test_on_hooks_the_transports_where_they_are_defined(tmp_path):
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_output import BaseOutputTransport

    from conftest import Telemetry
    from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor
    from opentelemetry_instrumentation_realtime_ai.frameworks import pipecat as hooks

    sink = Telemetry()
    original = BaseInputTransport.__dict__["push_audio_frame"]
    sender = dict(BaseOutputTransport.MediaSender.__dict__)
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(tracer_provider=sink.tracer_provider, meter_provider=sink.meter_provider, recording_dir=str(tmp_path))
    try:
        hooked = {(cls, method) for cls, method, own in hooks._hooks.installed if own}
        assert (BaseInputTransport, "push_audio_frame") in hooked
        assert {m for c, m in hooked if c is BaseOutputTransport.MediaSender} & {"_internal_write_audio_frame", "_handle_frame"}
    finally:
        instrumentor.uninstrument()
    assert BaseInputTransport.__dict__["push_audio_frame"] is original
    assert dict(BaseOutputTransport.MediaSender.__dict__) == sender


def test_a_killed_bot_leaves_a_readable_recording(tmp_path):
    env = dict(
        os.environ,
        TRACE_EXPORTER="otlp_file",
        OTEL_INSTRUMENTATION_REALTIME_AI_OTLP_FILE=str(tmp_path / "spans.jsonl"),
        OTEL_INSTRUMENTATION_REALTIME_AI_RECORDING_DIR=str(tmp_path),
        OTEL_INSTRUMENTATION_REALTIME_AI_REPLAY_DIR=str(tmp_path),
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    wav_path = tmp_path / "killed-1.wav"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "tracing_demo" / "main.py"), "--turns", "3", "--conversation-id", "killed-1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not wav_path.exists():
            assert time.monotonic() < deadline and process.poll() is None, "the bot never started recording"
            time.sleep(0.005)
        started = time.monotonic()
        time.sleep(4.0)
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    audio = channels(wav_path)  # the header agrees with the data: wave reads it as it is
    assert os.path.getsize(wav_path) == 44 + audio.nbytes
    kept = len(audio) / RATE
    assert killed - started - 2.0 <= kept <= killed - started + 0.05
    assert sounding(audio[:, 0])  # the first utterance is in it
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["resourceSpans"] for line in lines)  # only whole lines

