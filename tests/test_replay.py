"""Replay pages: from a real Pipecat session, built at session end and by the CLI from OTLP JSON
lines (the same page), and opened in a real headless Chromium with the network cut off."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import wave

import pytest
from chromium import Browser, binary
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Telemetry
from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor, telemetry
from opentelemetry_instrumentation_realtime_ai.config import Options
from opentelemetry_instrumentation_realtime_ai.helpers.session import Session
from opentelemetry_instrumentation_realtime_ai.otlp_file import OTLPJsonFileSpanExporter, spans_to_dict
from opentelemetry_instrumentation_realtime_ai.replay import build_page, model
from opentelemetry_instrumentation_realtime_ai.replay import spans as otlp_spans

pytest.importorskip("pipecat")


def page_data(path) -> dict:
    text = path.read_text()
    return json.loads(re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', text, re.S).group(1))


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One demo call (frames as fast as Pipecat goes), recorded, replayed and exported to a file."""
    import bot

    out = tmp_path_factory.mktemp("replay")
    sink = Telemetry()
    sink.tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(str(out / "spans.jsonl"))))
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=sink.tracer_provider,
        meter_provider=sink.meter_provider,
        replay_dir=str(out),
        recording_dir=str(out),
    )
    try:
        result = asyncio.run(bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="call/1"))
        sink.tracer_provider.force_flush()
    finally:
        instrumentor.uninstrument()
    assert result.ended_by == "end"
    return out, sink


def test_session_end_page_and_cli_page_are_the_same(session):
    out, _ = session
    page = out / "call_1.html"  # the session id made a safe file name
    assert page.exists() and (out / "call_1.wav").exists()
    cli = out / "cli.html"
    done = subprocess.run(
        [sys.executable, "-m", "opentelemetry_instrumentation_realtime_ai.replay", str(out / "spans.jsonl"),
         "--audio", str(out / "call_1.wav"), "-o", str(cli)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert cli.read_bytes() == page.read_bytes()
    # without --audio the CLI finds the recording through the span's realtime_ai.recording.path
    subprocess.run([sys.executable, "-m", "opentelemetry_instrumentation_realtime_ai.replay", str(out / "spans.jsonl"),
                    "-o", str(out / "cli2.html")], check=True, capture_output=True, timeout=60)
    assert (out / "cli2.html").read_bytes() == page.read_bytes()


def test_page_numbers_are_the_spans(session):
    out, sink = session
    data = page_data(out / "call_1.html")
    run = sink.one("pipeline.run")
    assert data["session"]["id"] == "call/1"
    assert data["session"]["duration"] == pytest.approx((run.end_time - run.start_time) / 1e6, abs=0.001)
    assert data["session"]["recording"] == str(out / "call_1.wav")
    turns = sorted(sink.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [t["number"] for t in data["turns"]] == [t.attributes["turn.number"] for t in turns] == [1, 2, 3]
    assert [t["interrupted"] for t in data["turns"]] == [t.attributes["turn.interrupted"] for t in turns]
    assert [t["interrupted"] for t in data["turns"]] == [False, True, False]
    for shown, span in zip(data["turns"], turns, strict=True):
        assert shown["latency"] == pytest.approx(span.attributes["turn.user_bot_latency"] * 1000, abs=0.001)
        assert shown["start"] == pytest.approx((span.start_time - run.start_time) / 1e6, abs=0.001)
    requests = [s for s in sink.spans() if "gen_ai.operation.name" in s.attributes]
    assert sorted(r["lane"] for r in data["requests"]) == sorted(
        {"speech_to_text": "STT", "chat": "LLM", "text_to_speech": "TTS"}[s.attributes["gen_ai.operation.name"]] for s in requests
    )
    assert all(r["text"] is None for r in data["requests"])  # content capture is off: no words on the page
    with wave.open(str(out / "call_1.wav")) as wav:
        assert data["audio"]["duration"] == pytest.approx(wav.getnframes() / wav.getframerate(), abs=0.001)


def test_stages_and_percentiles(otel, tmp_path):
    """Any turn.latency.<stage> attribute is a stage, in the order the turn got them."""
    stages = [
        {"turn.latency.endpointing": 0.2, "turn.latency.llm": 0.31, "turn.latency.tts": 0.09},
        {"turn.latency.endpointing": 0.25, "turn.latency.llm": 0.5, "turn.latency.tts": 0.1},
        {"turn.latency.endpointing": 0.2, "turn.latency.llm": 1.4, "turn.latency.tts": 0.2},
    ]
    session = Session("voice-bot", "stages")
    for turn_stages in stages:
        session.user_started_speaking()
        session.user_stopped_speaking()
        session.bot_started_speaking()  # sets the measured latency: ours go over it
        session.turn.span.set_attributes({**turn_stages, "turn.user_bot_latency": sum(turn_stages.values())})
        session.bot_stopped_speaking()
    session.end()
    records = list(otlp_spans.from_request(spans_to_dict(otel.spans())))
    data = model.build(records)
    turns = sorted(otel.spans("conversation.turn"), key=lambda s: s.attributes["turn.number"])
    assert [[(s["name"], s["ms"]) for s in t["stages"]] for t in data["turns"]] == [
        [(k.removeprefix("turn.latency."), round(v * 1000, 3)) for k, v in t.attributes.items() if k.startswith("turn.latency.")]
        for t in turns
    ]  # the session's own stages, with this test's values over some of them
    latencies = sorted(sum(s.values()) * 1000 for s in stages)  # 600, 850, 1800
    assert data["latency"]["p50"] == pytest.approx(latencies[1], abs=0.01)
    assert data["latency"]["p95"] == pytest.approx(latencies[1] + 0.9 * (latencies[2] - latencies[1]), abs=0.01)
    build_page(otel.spans(), str(tmp_path / "stages.html"))
    assert page_data(tmp_path / "stages.html")["turns"] == data["turns"]


def test_no_session_is_a_clear_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "opentelemetry_instrumentation_realtime_ai.replay", str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "x.html")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "no pipeline.run span" in done.stderr


async def test_page_in_chromium(session):
    binary()
    out, sink = session
    page = out / "call_1.html"
    data = page_data(page)
    run = sink.one("pipeline.run")
    async with Browser() as browser:
        await browser.open(page)
        assert await browser.js("document.querySelectorAll('#lane-Turns .bar.turn').length") == 3
        assert await browser.js("document.querySelectorAll('#turns .turn-row').length") == 3
        assert await browser.js("[...document.querySelectorAll('#lane-Turns .bar.turn')].map(b => b.classList.contains('interrupted'))") == [False, True, False]
        assert await browser.js("document.querySelectorAll('#lane-STT .bar').length") == len(sink.spans("speech_to_text"))
        assert await browser.js("!!window.replayWave && document.querySelector('#waveform > div').shadowRoot.querySelectorAll('canvas').length > 0")
        duration = await browser.js(
            "new Promise(r => { const a = document.getElementById('replay-audio');"
            " if (a.readyState >= 1) r(a.duration); else a.addEventListener('loadedmetadata', () => r(a.duration)); })"
        )
        assert duration == pytest.approx((run.end_time - run.start_time) / 1e9, abs=0.001)
        for number in (2, 3, 1):
            await browser.click(f'#lane-Turns .bar[data-turn="{number}"]')
            position = await browser.js("document.getElementById('replay-audio').currentTime")
            turn = next(t for t in data["turns"] if t["number"] == number)
            # a first turn's speech can begin a chunk before the run span: the audio starts at 0
            assert position == pytest.approx(max(0.0, turn["start"] / 1000), abs=0.002)
        # the details panel shows the clicked span's attributes
        assert await browser.js("document.querySelector('#details-attributes [data-key=\"turn.number\"]').textContent") == "1"
        await browser.click("#play")
        await asyncio.sleep(0.5)
        assert await browser.js("document.getElementById('replay-audio').paused") is False
        await browser.click("#play")
        assert await browser.js("document.getElementById('replay-audio').paused") is True
    assert {url.rsplit("/", 1)[-1] for url in browser.requests} == {"call_1.html", "call_1.wav"}
    assert all(url.startswith("file://") for url in browser.requests)


async def test_stage_numbers_in_chromium(otel, tmp_path):
    binary()
    session = Session("voice-bot", "stages")
    session.user_started_speaking()
    session.user_stopped_speaking()
    session.bot_started_speaking()
    session.turn.span.set_attributes({"turn.latency.endpointing": 0.2004, "turn.latency.llm": 0.3117, "turn.user_bot_latency": 0.5121})
    session.bot_stopped_speaking()
    session.end()
    build_page(otel.spans(), str(tmp_path / "s.html"))
    async with Browser() as browser:
        await browser.open(tmp_path / "s.html")
        shown = await browser.js("[...document.querySelectorAll('#turns .stage')].map(s => [s.dataset.stage, +s.dataset.ms, s.textContent])")
        (turn,) = otel.spans("conversation.turn")
        stages = {k.removeprefix("turn.latency."): v * 1000 for k, v in turn.attributes.items() if k.startswith("turn.latency.")}
        assert stages["endpointing"] == pytest.approx(200.4) and stages["llm"] == pytest.approx(311.7)
        assert [(name, ms) for name, ms, _ in shown] == [(k, round(v, 3)) for k, v in stages.items()]
        assert ["endpointing", 200.4, "endpointing 200 ms"] in shown and ["llm", 311.7, "llm 312 ms"] in shown
        assert await browser.js("+document.querySelector('#turns .latency').dataset.ms") == 512.1
        assert await browser.js("document.getElementById('audio-section').hidden") is True
    assert [url.rsplit("/", 1)[-1] for url in browser.requests] == ["s.html"]


def test_options_default_off():
    assert (Options().replay_dir, Options().recording_dir) == (None, None)
    telemetry.reset()


def test_trace_per_turn_and_frame_spans_give_the_same_page(tmp_path):
    """Turns in traces of their own still make one page; frame spans are not part of it."""
    import bot

    sink = Telemetry()
    sink.tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(str(tmp_path / "spans.jsonl"))))
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=sink.tracer_provider, meter_provider=sink.meter_provider, replay_dir=str(tmp_path),
        trace_per_turn=True, frame_spans=True,
    )
    try:
        asyncio.run(bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="per-turn"))
    finally:
        instrumentor.uninstrument()
    turns = sink.spans("conversation.turn")
    assert len({t.context.trace_id for t in turns}) == 3 and sink.spans("element.process")
    subprocess.run([sys.executable, "-m", "opentelemetry_instrumentation_realtime_ai.replay", str(tmp_path / "spans.jsonl"),
                    "-o", str(tmp_path / "cli.html")], check=True, capture_output=True, timeout=60)
    assert (tmp_path / "cli.html").read_bytes() == (tmp_path / "per-turn.html").read_bytes()
    data = page_data(tmp_path / "per-turn.html")
    assert [t["number"] for t in data["turns"]] == [1, 2, 3]
    assert {r["turn"] for r in data["requests"]} == {1, 2, 3}
    assert not any(s["name"] == "element.process" for s in data["spans"])


async def test_page_finds_its_recording_relative_to_itself(session, tmp_path, monkeypatch):
    """A page built from one working directory and opened from another, then moved with its
    recording: the audio is found relative to the page, wherever the two are kept together."""
    import shutil

    binary()
    out, sink = session
    call = tmp_path / "call"
    (call / "audio").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    shutil.copy(out / "call_1.wav", call / "audio" / "call_1.wav")
    subprocess.run(
        [sys.executable, "-m", "opentelemetry_instrumentation_realtime_ai.replay", str(out / "spans.jsonl"),
         "--audio", "../call/audio/call_1.wav", "-o", "../call/page.html"],
        check=True, capture_output=True, timeout=60, cwd=tmp_path / "work",
    )
    assert page_data(call / "page.html")["audio"]["src"] == "audio/call_1.wav"
    run = sink.one("pipeline.run")
    moved = tmp_path / "elsewhere" / "kept-together"
    moved.parent.mkdir()
    for page in (call / "page.html", moved / "page.html"):
        if page.parent == moved:
            shutil.move(str(call), str(moved))
        monkeypatch.chdir(tmp_path / "work")  # the browser's working directory is not the page's
        async with Browser() as browser:
            await browser.open(page)
            duration = await browser.js(
                "new Promise(r => { const a = document.getElementById('replay-audio');"
                " if (a.readyState >= 1) r(a.duration); else a.addEventListener('loadedmetadata', () => r(a.duration)); })"
            )
        assert duration == pytest.approx((run.end_time - run.start_time) / 1e9, abs=0.001)
        assert (page.parent / "audio" / "call_1.wav").as_uri() in browser.requests
