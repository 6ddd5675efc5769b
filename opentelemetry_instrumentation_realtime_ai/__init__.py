"""OpenTelemetry instrumentation for real-time voice and multimodal AI pipelines.

Three ways to use it: ``opentelemetry-instrument python app.py`` (zero code),
``RealtimeAIInstrumentor().instrument()``, or ``initialize()`` plus the helpers below for
code the automatic instrumentation cannot see.
"""

from .config import Config, ConfigError
from .helpers.ai import (
    AIRequest,
    ToolCall,
    instrument_audio_processing,
    instrument_llm_request,
    instrument_llm_response,
    instrument_stt_request,
    instrument_stt_response,
    instrument_tool_call,
    instrument_tts_request,
    instrument_tts_response,
    instrument_video_processing,
    record_tool_call,
)
from .helpers.connection import (
    Connection,
    instrument_connection_closed,
    instrument_connection_created,
    instrument_connection_error,
    instrument_connection_message,
    instrument_connection_state_change,
)
from .helpers.pipeline import (
    instrument_element_process,
    instrument_element_start,
    instrument_element_stop,
    instrument_pipeline_pull,
    instrument_pipeline_push,
    instrument_pipeline_start,
    instrument_pipeline_stop,
)
from .helpers.session import Session, current_session
from .instrumentor import RealtimeAIInstrumentor
from .spans import (
    add_event,
    get_tracer,
    log_with_trace,
    record_error,
    set_attributes,
    span_id,
    start_span,
    trace_id,
    with_span,
)
from .tracing import initialize, shutdown
from .version import __version__

__all__ = [
    "AIRequest",
    "Config",
    "ConfigError",
    "Connection",
    "RealtimeAIInstrumentor",
    "Session",
    "ToolCall",
    "__version__",
    "add_event",
    "current_session",
    "get_tracer",
    "initialize",
    "instrument_audio_processing",
    "instrument_connection_closed",
    "instrument_connection_created",
    "instrument_connection_error",
    "instrument_connection_message",
    "instrument_connection_state_change",
    "instrument_element_process",
    "instrument_element_start",
    "instrument_element_stop",
    "instrument_llm_request",
    "instrument_llm_response",
    "instrument_pipeline_pull",
    "instrument_pipeline_push",
    "instrument_pipeline_start",
    "instrument_pipeline_stop",
    "instrument_stt_request",
    "instrument_stt_response",
    "instrument_tool_call",
    "instrument_tts_request",
    "instrument_tts_response",
    "instrument_video_processing",
    "log_with_trace",
    "record_error",
    "record_tool_call",
    "set_attributes",
    "shutdown",
    "span_id",
    "start_span",
    "trace_id",
    "with_span",
]
