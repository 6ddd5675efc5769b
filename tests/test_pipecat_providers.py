"""Pipecat's real provider classes against local servers that speak their wire protocols: each span
carries what the provider saw (transcript, audio, characters, usage, time to first chunk).

Every case runs twice: with frames made live (queued while the pipeline runs) and made ahead of
time (``pipecat.tests.utils.run_test`` with frames built before the run).
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib.metadata import version

import pytest
from fake_providers import FIRST_CHUNK_DELAY, ChatReply, FakeCartesia, FakeDeepgram, FakeOpenAI
from opentelemetry.trace import SpanKind, StatusCode

F = pytest.importorskip("pipecat.frames.frames")
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.runner import PipelineRunner  # noqa: E402
from pipecat.pipeline.task import PipelineParams, PipelineTask  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.tests.utils import SleepFrame, run_test  # noqa: E402

LATEST = tuple(int(p) for p in version("pipecat-ai").split(".")[:2]) >= (1, 14)
CHUNK = b"\x01\x00" * 320  # 20 ms of 16 kHz mono 16-bit audio
SILENCE = b"\x00\x00" * 320
FEEDS = ["live", "ahead"]


def audio(n: int, chunk: bytes = CHUNK):
    return lambda: [F.InputAudioRawFrame(audio=chunk, sample_rate=16000, num_channels=1) for _ in range(n)]


def frames(*make):
    return lambda: [m() for m in make]


async def feed(how: str, processors: list, steps: list) -> None:
    """Run ``processors`` on ``steps`` (frame factories, or seconds to wait), live or made ahead."""
    if how == "ahead":
        made = []
        for step in steps:
            made.extend([SleepFrame(sleep=step)] if isinstance(step, float) else step())
        await asyncio.wait_for(run_test(Pipeline(processors), frames_to_send=made), 20)
        return
    task = PipelineTask(Pipeline(processors), params=PipelineParams())
    started = asyncio.Event()

    @task.event_handler("on_pipeline_started")
    async def on_started(task, frame):
        started.set()

    runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await asyncio.wait_for(started.wait(), 10)
    for step in steps:
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            await task.queue_frames(step())  # made now, as a transport makes them
    await task.queue_frame(F.EndFrame())
    await asyncio.wait_for(runner, 20)


def duration(span) -> float:
    return (span.end_time - span.start_time) / 1e9


def ttfc(span) -> float:
    return span.attributes["gen_ai.response.time_to_first_chunk"]


# --- speech to text ---


@pytest.mark.parametrize("how", FEEDS)
async def test_deepgram_early_final_gives_one_span_with_the_whole_transcript(instrument, how):
    # Imported before instrumenting, as most apps do: Pipecat's own STT tracing keeps the
    # push_frame it found then, which must still be seen.
    deepgram_stt = pytest.importorskip("pipecat.services.deepgram.stt")
    otel = instrument(capture_content=True)
    said = [("hello bot", "how are you"), ("turn the", "lights on please")]
    utterance = [
        frames(F.VADUserStartedSpeakingFrame),
        audio(25),
        0.2,  # the provider's final result for the first words lands while the user still speaks
        audio(25),
        frames(F.VADUserStoppedSpeakingFrame),
        0.3,  # Pipecat sends Finalize; the rest of the transcript answers it
    ]
    async with FakeDeepgram(said, early_after=20 * len(CHUNK)) as server:
        stt = deepgram_stt.DeepgramSTTService(api_key="test", base_url=server.base_url, sample_rate=16000)
        await feed(how, [stt], utterance + utterance)

    spans = sorted(otel.spans("speech_to_text"), key=lambda s: s.start_time)
    assert len(spans) == len(said) == len(server.received)
    # Before 1.14 the end-of-speech signal (a system frame) can overtake the audio queued ahead of
    # it: Finalize reaches the provider before the last chunks, the early result after the signal.
    in_order = LATEST
    for span, (early, rest), heard in zip(spans, said, server.received, strict=True):
        assert span.kind is SpanKind.CLIENT
        assert span.attributes["gen_ai.provider.name"] == "deepgram"
        transcript = f"{early} {rest}"  # as Pipecat's user aggregator joins them
        assert span.attributes["stt.text_length"] == len(transcript)
        assert span.attributes["gen_ai.output.text"] == transcript
        assert span.attributes["audio.data_size"] == 50 * len(CHUNK)  # the audio between the VAD's signals
        assert ttfc(span) <= duration(span)
        if in_order:
            assert heard == 50 * len(CHUNK)
            # From the end of speech to the provider's answer to Finalize, which it held back.
            assert FIRST_CHUNK_DELAY <= ttfc(span)
    turns = otel.spans("conversation.turn")
    assert {s.parent.span_id for s in spans} <= {t.context.span_id for t in turns}


@pytest.mark.skipif(not LATEST, reason="before 1.14 Pipecat ignores an empty answer to Finalize")
@pytest.mark.parametrize("how", FEEDS)
async def test_deepgram_empty_answer_to_finalize_ends_the_utterance_then(instrument, how):
    deepgram_stt = pytest.importorskip("pipecat.services.deepgram.stt")
    otel = instrument()
    steps = [
        frames(F.VADUserStartedSpeakingFrame),
        audio(40),
        0.2,  # the whole transcript comes before the end of speech
        audio(5),
        frames(F.VADUserStoppedSpeakingFrame),
        0.5,  # Deepgram answers Finalize with an empty result; nothing else comes
    ]
    async with FakeDeepgram([("hello bot how are you", "")], early_after=20 * len(CHUNK)) as server:
        stt = deepgram_stt.DeepgramSTTService(api_key="test", base_url=server.base_url, sample_rate=16000)
        ended_at = time.time_ns()
        await feed(how, [stt], steps)

    (span,) = otel.spans("speech_to_text")
    (run,) = otel.spans("pipeline.run")
    assert span.attributes["stt.text_length"] == len("hello bot how are you")
    assert span.attributes["audio.data_size"] == 45 * len(CHUNK) == server.received[0]
    assert FIRST_CHUNK_DELAY <= ttfc(span) <= duration(span)  # the empty answer is the provider's response
    # It ends with that answer, not half a second later when the session does.
    assert ended_at < span.end_time < run.end_time - 300_000_000


@pytest.mark.parametrize("how", FEEDS)
async def test_segmented_stt_audio_is_the_segment_uploaded(instrument, how):
    openai_stt = pytest.importorskip("pipecat.services.openai.stt")
    otel = instrument()
    steps = [
        audio(10, SILENCE),  # before the VAD's start: kept by the service as lead-in
        frames(F.VADUserStartedSpeakingFrame),
        audio(50),
        frames(F.VADUserStoppedSpeakingFrame),
        audio(25, SILENCE),  # the microphone goes on while the transcript is on its way
        0.4,
    ]
    async with FakeOpenAI(transcripts=["hello bot how are you"]) as server:
        stt = openai_stt.OpenAISTTService(api_key="test", base_url=server.base_url, sample_rate=16000)
        await feed(how, [stt], steps)

    (span,) = otel.spans("speech_to_text")
    (upload,) = server.uploads
    assert span.attributes["audio.data_size"] == len(upload)  # the WAV's PCM, header left out
    assert span.attributes["stt.text_length"] == len("hello bot how are you")
    assert span.attributes["audio.sample_rate"] == 16000
    assert FIRST_CHUNK_DELAY <= ttfc(span) <= duration(span)


# --- LLM ---


@pytest.mark.parametrize("how", FEEDS)
async def test_streaming_llm_usage_and_first_chunk_match_the_server(instrument, how):
    openai_llm = pytest.importorskip("pipecat.services.openai.llm")
    otel = instrument()
    reply = ChatReply(tokens=["Sure", ", the lights", " are on."], usage=(42, 7))
    context = LLMContext([{"role": "user", "content": "lights on"}])
    async with FakeOpenAI([reply]) as server:
        llm = openai_llm.OpenAILLMService(api_key="test", base_url=server.base_url, model="gpt-4o-mini")
        await feed(how, [llm], [lambda: [F.LLMContextFrame(context)], 0.3])

    (span,) = otel.spans("chat")
    (request,) = server.chats
    assert span.attributes["gen_ai.request.model"] == request["model"] == "gpt-4o-mini"
    assert span.attributes["gen_ai.usage.input_tokens"] == 42
    assert span.attributes["gen_ai.usage.output_tokens"] == 7
    assert span.attributes["llm.response_size"] == len("".join(reply.tokens))
    assert request["_first_chunk_after"] <= ttfc(span) <= duration(span)


def _tool_context():
    schemas = pytest.importorskip("pipecat.adapters.schemas.tools_schema")
    function_schema = pytest.importorskip("pipecat.adapters.schemas.function_schema")
    weather = function_schema.FunctionSchema(
        name="get_weather",
        description="The weather in a city",
        properties={"city": {"type": "string"}},
        required=["city"],
    )
    tools = schemas.ToolsSchema(standard_tools=[weather])
    return LLMContext([{"role": "user", "content": "Weather in Paris?"}], tools=tools)


async def _tool_turn(how: str, handler, *, user_turn: bool = True) -> FakeOpenAI:
    openai_llm = pytest.importorskip("pipecat.services.openai.llm")
    aggregators = pytest.importorskip("pipecat.processors.aggregators.llm_response_universal")
    replies = [
        ChatReply(tool=("get_weather", "call_1", '{"city": "Paris"}'), usage=(50, 10)),
        ChatReply(tokens=["It is", " sunny."], usage=(70, 5)),
    ]
    context = _tool_context()
    async with FakeOpenAI(replies) as server:
        llm = openai_llm.OpenAILLMService(api_key="test", base_url=server.base_url, model="gpt-4o-mini")
        llm.register_function("get_weather", handler)
        pair = aggregators.LLMContextAggregatorPair(context)
        signals = [frames(F.VADUserStartedSpeakingFrame), frames(F.VADUserStoppedSpeakingFrame)]
        steps = [*(signals if user_turn else []), lambda: [F.LLMContextFrame(context)], 2.0]
        await feed(how, [llm, pair.assistant()], steps)
    return server


@pytest.mark.parametrize("how", FEEDS)
async def test_tool_call_is_on_its_inference_and_its_run_is_a_span(instrument, how):
    otel = instrument()
    ran: list[tuple[int, int]] = []

    async def get_weather(params):
        start = time.time_ns()
        await asyncio.sleep(0.1)
        await params.result_callback({"sky": "sunny"})
        ran.append((start, time.time_ns()))

    server = await _tool_turn(how, get_weather)

    assert len(ran) == 1
    calling, answering = sorted(otel.spans("chat"), key=lambda s: s.start_time)
    (event,) = [e for e in calling.events if e.name == "gen_ai.tool.call"]
    assert dict(event.attributes) == {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_1"}
    assert server.chats[0]["_first_chunk_after"] <= ttfc(calling) <= duration(calling)
    assert calling.attributes["gen_ai.usage.input_tokens"] == 50
    assert calling.attributes["gen_ai.usage.output_tokens"] == 10

    tool = otel.one("execute_tool")
    assert tool.name == "execute_tool get_weather"
    assert tool.kind is SpanKind.INTERNAL
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_1"
    assert "gen_ai.tool.call.arguments" not in tool.attributes  # content capture is off
    assert tool.status.status_code is StatusCode.UNSET
    (handler_start, handler_end) = ran[0]
    assert tool.start_time <= handler_start and handler_end <= tool.end_time
    assert calling.end_time <= tool.start_time  # Pipecat runs it once the response ended

    # The follow-up inference, with the tool's result, is a request of its own.
    assert len(server.chats) == 2
    assert any(m.get("role") == "tool" for m in server.chats[1]["messages"])
    assert answering.attributes["gen_ai.usage.input_tokens"] == 70
    assert answering.attributes["llm.response_size"] == len("It is sunny.")
    assert not [e for e in answering.events if e.name == "gen_ai.tool.call"]
    assert tool.end_time <= answering.start_time

    turn = otel.one("conversation.turn")
    assert {s.parent.span_id for s in (calling, tool, answering)} == {turn.context.span_id}


async def test_failing_tool_handler_marks_its_span_not_an_inference(instrument):
    otel = instrument(capture_content=True)

    async def get_weather(params):
        raise ValueError("weather service down")

    await _tool_turn("live", get_weather)

    tool = otel.one("execute_tool")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "ValueError"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    chats = otel.spans("chat")
    assert chats and all(s.status.status_code is StatusCode.UNSET for s in chats)
    (event,) = [e for s in chats for e in s.events if e.name == "gen_ai.tool.call"]
    assert json.loads(event.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}


async def test_tool_result_captured_and_run_under_the_session_without_a_turn(instrument):
    otel = instrument(capture_content=True)

    async def get_weather(params):
        await params.result_callback({"sky": "sunny"})

    await _tool_turn("ahead", get_weather, user_turn=False)  # an app-triggered inference, no user turn
    tool = otel.one("execute_tool")
    assert json.loads(tool.attributes["gen_ai.tool.call.result"]) == {"sky": "sunny"}
    assert tool.parent.span_id == otel.one("pipeline.run").context.span_id
    assert not otel.spans("conversation.turn")


# --- text to speech ---


def _speak(*texts: str) -> list:
    steps: list = []
    for text in texts:
        steps += [lambda text=text: [F.TTSSpeakFrame(text)], 0.3]
    return steps


def _check_tts(spans, texts: list[list[str]], sent: list[int]) -> None:
    """One span per audio context, with the characters and audio the server got and sent for it."""
    spans = sorted(spans, key=lambda s: s.start_time)
    assert len(spans) == len(texts) == len(sent)
    for span, context_texts, audio_bytes in zip(spans, texts, sent, strict=True):
        assert span.kind is SpanKind.CLIENT
        assert span.attributes["tts.text_length"] == sum(len(t) for t in context_texts)
        assert span.attributes["audio.data_size"] == audio_bytes
        assert span.attributes["audio.sample_rate"] == 24000
        assert FIRST_CHUNK_DELAY <= ttfc(span) <= duration(span)


@pytest.mark.parametrize("how", FEEDS)
async def test_word_timestamp_tts_counts_the_characters_sent(instrument, how):
    cartesia = pytest.importorskip("pipecat.services.cartesia.tts")
    otel = instrument()
    async with FakeCartesia() as server:
        tts = cartesia.CartesiaTTSService(api_key="test", voice_id="voice-1", url=server.url, sample_rate=24000)
        await feed(how, [tts], _speak("Hello there! How are you doing today?", "Fine, thanks."))

    assert [t for ts in server.texts.values() for t in ts] == ["Hello there! How are you doing today?", "Fine, thanks."]
    _check_tts(otel.spans("text_to_speech"), list(server.texts.values()), list(server.sent.values()))


@pytest.mark.skipif(not LATEST, reason="sentence aggregation needs NLTK data before 1.14 (not offline)")
@pytest.mark.parametrize("how", FEEDS)
async def test_word_timestamp_tts_one_span_per_audio_context(instrument, how):
    cartesia = pytest.importorskip("pipecat.services.cartesia.tts")
    otel = instrument()
    tokens = ["Hello", " there!", " How are", " you doing", " today?"]
    reply = lambda: [F.LLMFullResponseStartFrame(), *map(F.LLMTextFrame, tokens), F.LLMFullResponseEndFrame()]  # noqa: E731
    async with FakeCartesia() as server:
        tts = cartesia.CartesiaTTSService(api_key="test", voice_id="voice-1", url=server.url, sample_rate=24000)
        await feed(how, [tts], [reply, 0.5])

    (context_texts,) = server.texts.values()  # both sentences went into one Cartesia context
    assert len(context_texts) == 2
    _check_tts(otel.spans("text_to_speech"), [context_texts], list(server.sent.values()))


@pytest.mark.parametrize("how", FEEDS)
async def test_http_tts_characters_audio_and_first_chunk(instrument, how):
    openai_tts = pytest.importorskip("pipecat.services.openai.tts")
    otel = instrument()
    async with FakeOpenAI() as server:
        tts = openai_tts.OpenAITTSService(api_key="test", base_url=server.base_url, sample_rate=24000)
        await feed(how, [tts], _speak("Hello there! How are you doing today?", "Fine, thanks."))

    assert server.speech_inputs == ["Hello there! How are you doing today?", "Fine, thanks."]
    _check_tts(otel.spans("text_to_speech"), [[t] for t in server.speech_inputs], server.speech_sent)
