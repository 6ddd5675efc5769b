"""Log lines written inside a span carry its trace and span ids, through logging and through loguru."""

from __future__ import annotations

import logging

import pytest
from loguru import logger

import opentelemetry_instrumentation_realtime_ai as rt


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_standard_logging_records_carry_ids(instrument):
    instrument()
    handler = Capture()
    log = logging.getLogger("app.voice")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with rt.start_span("op"):
            log.info("inside")
            ids = rt.trace_id(), rt.span_id()
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = handler.records
    assert (inside.otelTraceID, inside.otelSpanID) == ids
    assert outside.otelTraceID == "0"


def test_loguru_records_carry_ids_and_keep_the_apps_patcher(instrument):
    logger.configure(patcher=lambda record: record["extra"].update(app="voice"))
    lines = []
    sink = logger.add(lines.append, format="{extra[trace_id]}/{extra[span_id]}/{extra[app]} {message}")
    try:
        instrument()
        with rt.start_span("op"):
            logger.info("inside")
            ids = rt.trace_id(), rt.span_id()
        logger.info("outside")
    finally:
        logger.remove(sink)
    assert lines[0].strip() == f"{ids[0]}/{ids[1]}/voice inside"
    assert lines[1].strip() == "//voice outside"
    rt.RealtimeAIInstrumentor().uninstrument()
    lines.clear()
    sink = logger.add(lines.append, format="{extra[app]} {message}")
    logger.info("after")
    logger.remove(sink)
    assert lines == ["voice after\n"]
    logger.configure(patcher=None)


def test_loguru_export_to_the_logs_pipeline(instrument):
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    set_logger_provider(provider)
    instrument(export_logs=True)
    with rt.start_span("op"):
        logger.warning("exported line")
        trace_id = rt.trace_id()
    records = [r.log_record for r in exporter.get_finished_logs()]
    exported = [r for r in records if r.body == "exported line"]
    assert len(exported) == 1
    assert f"{exported[0].trace_id:032x}" == trace_id


def test_log_correlation_can_be_turned_off(instrument):
    instrument(log_correlation=False)
    handler = Capture()
    log = logging.getLogger("app.quiet")
    log.addHandler(handler)
    try:
        with rt.start_span("op"):
            log.warning("x")
    finally:
        log.removeHandler(handler)
    assert not hasattr(handler.records[0], "otelTraceID")


@pytest.fixture(autouse=True)
def _no_leftover_patcher():
    yield
    logger.configure(patcher=None)


async def test_pipecat_log_lines_carry_their_sessions_trace(instrument):
    bot = pytest.importorskip("bot")
    otel = instrument()
    lines = []
    sink = logger.add(lambda m: lines.append(m.record), level="DEBUG")
    try:
        await bot.run_bot(turns=1, interrupt_turn=None, realtime=False, conversation_id="logged")
    finally:
        logger.remove(sink)
    run = otel.one("pipeline.run")
    trace_id = f"{run.context.trace_id:032x}"
    traced = [r for r in lines if r["extra"].get("trace_id") == trace_id]
    assert len(traced) > 5  # Pipecat's own lines, written inside its processors, lead to the session
    llm_span_ids = {f"{s.context.span_id:016x}" for s in otel.spans("chat")}
    assert any(r["extra"]["span_id"] in llm_span_ids for r in traced)  # and to the LLM request when inside one


def test_uninstrument_leaves_loguru_as_it_found_it(instrument):
    core = logger._core
    saved = core.patcher
    core.patcher = None  # an app that never set a patcher
    try:
        for _ in range(3):  # cycles must not chain patchers
            instrument()
            assert core.patcher is not None
            rt.RealtimeAIInstrumentor().uninstrument()
            assert core.patcher is None
        instrument()
        ours = core.patcher
        instrument_calls = []
        logger.configure(patcher=lambda record: instrument_calls.append(record))  # the app sets its own later
        rt.RealtimeAIInstrumentor().uninstrument()
        assert core.patcher is not ours and core.patcher is not None  # the app's stays
    finally:
        core.patcher = saved
