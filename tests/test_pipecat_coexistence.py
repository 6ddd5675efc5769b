"""Our spans stay correct next to Pipecat's own tracing and openinference-instrumentation-pipecat."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from conftest import Telemetry
from opentelemetry_instrumentation_realtime_ai import RealtimeAIInstrumentor

bot = pytest.importorskip("bot")


_SINK = Telemetry()


@pytest.fixture
def global_provider():
    """Peers trace through the global provider: make it the test's SDK provider (once per process)."""
    trace.set_tracer_provider(_SINK.tracer_provider)
    if trace.get_tracer_provider() is not _SINK.tracer_provider:
        pytest.skip("another test already set the global tracer provider")
    _SINK.exporter.clear()
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(tracer_provider=_SINK.tracer_provider, meter_provider=_SINK.meter_provider)
    yield _SINK
    instrumentor.uninstrument()


def assert_our_tree(otel, session_id, turns=2):
    run = next(s for s in otel.spans("pipeline.run") if s.attributes["session.id"] == session_id)
    ours = [s for s in otel.spans("conversation.turn") if s.attributes.get("session.id") == session_id]
    assert len(ours) == turns
    assert all(t.parent.span_id == run.context.span_id for t in ours)
    chats = [s for s in otel.spans("chat") if s.attributes.get("session.id") == session_id]
    assert len(chats) == turns
    assert {c.parent.span_id for c in chats} == {t.context.span_id for t in ours}


async def test_with_pipecats_own_tracing(global_provider):
    otel = global_provider
    result = await bot.run_bot(
        turns=2, interrupt_turn=None, realtime=False, conversation_id="both", task_kwargs={"enable_tracing": True}
    )
    assert result.ended_by == "end" and result.errors == []
    assert_our_tree(otel, "both")
    names = {s.name for s in otel.spans()}
    assert names & {"conversation", "turn", "llm", "stt", "tts"}, names  # Pipecat's spans exist too


async def test_with_openinference_instrumentation(global_provider):
    pipecat_instrumentation = pytest.importorskip("openinference.instrumentation.pipecat")
    otel = global_provider
    peer = pipecat_instrumentation.PipecatInstrumentor()
    peer.instrument(tracer_provider=otel.tracer_provider)
    try:
        result = await bot.run_bot(turns=2, interrupt_turn=None, realtime=False, conversation_id="oi")
    finally:
        peer.uninstrument()
    assert result.ended_by == "end" and result.errors == []
    assert_our_tree(otel, "oi")
    assert any(s.name.startswith("pipecat.") for s in otel.spans()), {s.name for s in otel.spans()}
