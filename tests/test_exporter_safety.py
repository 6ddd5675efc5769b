"""An unreachable collector never holds the app at exit nor floods its log."""

from __future__ import annotations

import logging
import socket
import threading
import time

from test_setup import run

from opentelemetry_instrumentation_realtime_ai.exporter_safety import ExportErrorFilter, bounded_shutdown


class StuckProvider:
    def __init__(self):
        self.release = threading.Event()

    def shutdown(self):
        self.release.wait(30)


def test_bounded_shutdown_gives_up_at_the_deadline():
    stuck = StuckProvider()
    start = time.monotonic()
    assert bounded_shutdown([stuck], 0.3) is False
    assert time.monotonic() - start < 1.0
    stuck.release.set()
    assert bounded_shutdown([object()], 1.0) is True  # nothing to shut down is fine


def test_export_errors_pass_once_then_once_per_interval():
    log_filter = ExportErrorFilter(interval_s=0.2)

    def record(msg, level=logging.ERROR):
        return logging.LogRecord("opentelemetry.exporter", level, __file__, 1, msg, None, None)

    assert log_filter.filter(record("Failed to export")) is True
    assert [log_filter.filter(record("Failed to export")) for _ in range(5)] == [False] * 5
    assert log_filter.filter(record("debug detail", logging.DEBUG)) is True
    time.sleep(0.25)
    later = record("Failed to export")
    assert log_filter.filter(later) is True
    assert "5 similar export errors suppressed" in later.getMessage()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_initialize_with_collector_down_exits_promptly_and_logs_once():
    code = """
        import opentelemetry_instrumentation_realtime_ai as rt
        rt.initialize()
        for _ in range(3):
            with rt.start_span("work"):
                pass
        print("app done")
        rt.shutdown(timeout_millis=2000)
        print("shut down")
    """
    env = {"TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": f"127.0.0.1:{closed_port()}"}
    start = time.monotonic()
    result = run(code, env=env)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["app done", "shut down"]
    assert elapsed < 15, elapsed
    failures = [line for line in result.stderr.splitlines() if "export" in line.lower()]
    assert 1 <= len(failures) <= 3, result.stderr


def test_instrument_without_frameworks_still_serves_the_helpers(instrument):
    import opentelemetry_instrumentation_realtime_ai as rt

    otel = instrument(frameworks="")
    rt.instrument_llm_request("openai", "gpt-4o").end()
    assert otel.one("chat gpt-4o").attributes["gen_ai.provider.name"] == "openai"
