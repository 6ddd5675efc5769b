"""The telemetry vocabulary: every attribute key, span name and metric name the package emits.

Dashboards and alerts are built on these names, so they live here and nowhere else.
Span names never carry ids or free text; names of pipelines and elements go into attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

# --- pipeline (the seed's attributes.go) ---
PIPELINE_NAME = "pipeline.name"
PIPELINE_ELEMENT = "pipeline.element"
SESSION_ID = "session.id"
MESSAGE_TYPE = "message.type"

# --- audio / video ---
AUDIO_SAMPLE_RATE = "audio.sample_rate"
AUDIO_CHANNELS = "audio.channels"
AUDIO_MEDIA_TYPE = "audio.media_type"
AUDIO_CODEC = "audio.codec"
AUDIO_DATA_SIZE = "audio.data_size"
AUDIO_OPERATION = "audio.operation"
AUDIO_INPUT_SIZE = "audio.input_size"
AUDIO_OUTPUT_SIZE = "audio.output_size"
VIDEO_WIDTH = "video.width"
VIDEO_HEIGHT = "video.height"
VIDEO_MEDIA_TYPE = "video.media_type"
VIDEO_CODEC = "video.codec"
VIDEO_DATA_SIZE = "video.data_size"
VIDEO_OPERATION = "video.operation"
VIDEO_INPUT_SIZE = "video.input_size"
VIDEO_OUTPUT_SIZE = "video.output_size"

# --- connection ---
CONNECTION_ID = "connection.id"
CONNECTION_TYPE = "connection.type"
CONNECTION_STATE = "connection.state"
CONNECTION_OLD_STATE = "connection.old_state"
CONNECTION_DIRECTION = "connection.direction"
CONNECTION_MESSAGES_RECEIVED = "connection.messages.received"
CONNECTION_MESSAGES_SENT = "connection.messages.sent"
CONNECTION_BYTES_RECEIVED = "connection.bytes.received"
CONNECTION_BYTES_SENT = "connection.bytes.sent"
# call quality, at close: round-trip time over the call, and per direction the packets lost and their share
CONNECTION_RTT_MIN = "connection.rtt.min"
CONNECTION_RTT_MEDIAN = "connection.rtt.median"
CONNECTION_RTT_MAX = "connection.rtt.max"
CONNECTION_PACKETS_LOST_RECEIVED = "connection.packets_lost.received"
CONNECTION_PACKETS_LOST_SENT = "connection.packets_lost.sent"
CONNECTION_LOSS_RATIO_RECEIVED = "connection.loss_ratio.received"
CONNECTION_LOSS_RATIO_SENT = "connection.loss_ratio.sent"
CONNECTION_JITTER_MAX_RECEIVED = "connection.jitter.max.received"
CONNECTION_JITTER_MAX_SENT = "connection.jitter.max.sent"

# --- AI services: the seed's keys ---
LLM_PROVIDER = "llm.provider"
LLM_MODEL = "llm.model"
LLM_RESPONSE_TYPE = "llm.response_type"
LLM_RESPONSE_SIZE = "llm.response_size"
STT_PROVIDER = "stt.provider"
STT_TEXT_LENGTH = "stt.text_length"
TTS_PROVIDER = "tts.provider"
TTS_VOICE = "tts.voice"
TTS_TEXT_LENGTH = "tts.text_length"
LLM_INPUT_TRANSCRIPT_LENGTH = "llm.input_transcript_length"
"""Speech-to-speech: characters of the provider's transcript of the user's audio that a response took in."""

# --- AI services: OpenTelemetry GenAI semantic conventions (Development status) ---
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
"""Input tokens served from the provider's cache (part of ``gen_ai.usage.input_tokens``)."""
GEN_AI_USAGE_AUDIO_INPUT_TOKENS = "gen_ai.usage.audio.input_tokens"
"""Input tokens that were audio (part of ``gen_ai.usage.input_tokens``); named after the cache_read key."""
GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS = "gen_ai.usage.audio.output_tokens"
"""Output tokens that were audio (part of ``gen_ai.usage.output_tokens``)."""
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
"""A tool call's arguments, as JSON (content capture only)."""
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
"""What a tool handler returned, as JSON (content capture only)."""
GEN_AI_INPUT_TEXT = "gen_ai.input.text"
"""Text sent to speech synthesis (content capture only)."""
GEN_AI_OUTPUT_TEXT = "gen_ai.output.text"
"""A transcript (content capture only)."""
GEN_AI_TOOL_TYPE = "gen_ai.tool.type"

OPERATION_CHAT = "chat"
OPERATION_SPEECH_TO_TEXT = "speech_to_text"
OPERATION_TEXT_TO_SPEECH = "text_to_speech"
OPERATION_EXECUTE_TOOL = "execute_tool"

# --- turns and framework ---
TURN_NUMBER = "turn.number"
TURN_INTERRUPTED = "turn.interrupted"
TURN_USER_BOT_LATENCY = "turn.user_bot_latency"
TURN_LATENCY_PREFIX = "turn.latency."
"""``turn.latency.<stage>``: consecutive stages of the user-to-bot latency, in seconds, summing to it."""
STAGE_ENDPOINTING = "endpointing"
"""End of the user's speech -> the VAD declaring it stopped (its stop_secs and its own lag)."""
STAGE_TURN_DETECTION = "turn_detection"
"""-> the user's turn declared over (smart-turn verdict, transcript wait, silence timeout)."""
STAGE_LLM = "llm"
"""-> the first token of the inference whose reply is spoken (tool runs excluded)."""
STAGE_TOOLS = "tools"
"""Tool calls on the path: a call returned -> the follow-up inference started."""
STAGE_AGGREGATION = "aggregation"
"""-> the first text handed to the TTS (sentence aggregation)."""
STAGE_TTS = "tts"
"""-> the TTS's first audio."""
STAGE_OUTPUT = "output"
"""-> the first bot audio written by the output transport."""
TURN_STAGES = (
    STAGE_ENDPOINTING,
    STAGE_TURN_DETECTION,
    STAGE_LLM,
    STAGE_TOOLS,
    STAGE_AGGREGATION,
    STAGE_TTS,
    STAGE_OUTPUT,
)
TURN_LATENCY_STAGE = "turn.latency.stage"
"""On the stage metric: one of ``TURN_STAGES``."""
TURN_SPEECH_END_SOURCE = "turn.user_speech_end.source"
"""How the end of the user's speech was found: ``vad`` (the VAD's last voiced window), ``stop_secs``
(the VAD's stop decision minus its stop_secs) or ``signal`` (the user-stopped signal itself)."""
SESSION_TURNS = "conversation.turns"
FRAMEWORK = "realtime_ai.framework"
FRAMEWORK_VERSION = "realtime_ai.framework.version"
INTERRUPTED = "realtime_ai.interrupted"
"""On an AI span: the request was cut short because the user interrupted the bot."""

# --- replay and recording ---
RECORDING_PATH = "realtime_ai.recording.path"
"""On ``pipeline.run``: the session's stereo WAV (left the user, right the bot), when recording is on."""

# --- errors ---
ERROR_TYPE = "error.type"
ERROR_MESSAGE = "error.message"

# --- span names (fixed: never an id or free text) ---
SPAN_PIPELINE_RUN = "pipeline.run"
SPAN_TURN = "conversation.turn"
SPAN_ELEMENT_PROCESS = "element.process"
SPAN_ELEMENT_START = "element.start"
SPAN_ELEMENT_STOP = "element.stop"
SPAN_PIPELINE_PUSH = "pipeline.push"
SPAN_PIPELINE_PULL = "pipeline.pull"
SPAN_AUDIO_PROCESS = "audio.process"
SPAN_VIDEO_PROCESS = "video.process"

# --- span events ---
EVENT_STATE_CHANGE = "connection.state_change"
EVENT_PIPELINE_STOP = "pipeline.stop"
EVENT_TOOL_CALL = "gen_ai.tool.call"
EVENT_LOOP_BLOCKED = "realtime_ai.event_loop.blocked"
"""On the open turn (else the session): the event loop running it was blocked past the threshold."""
EVENT_LOOP_BLOCKED_DURATION = "realtime_ai.event_loop.blocked_duration"
EVENT_AUDIO_GAP = "realtime_ai.audio.gap"
"""On the turn: the bot's audio ran dry mid-reply for at least the threshold (the caller heard a hole)."""
AUDIO_GAP_DURATION = "realtime_ai.audio.gap_duration"
TURN_AUDIO_GAPS = "turn.audio_gaps"
"""Underruns of the bot's audio in the turn (0 for a reply that played smoothly)."""
TURN_AUDIO_GAP_SECONDS = "turn.audio_gap_seconds"
# the caller's audio as the input transport received it, summed over the session on pipeline.run
AUDIO_INPUT_CHUNKS = "audio.input.chunks"
"""Audio chunks the input transport received."""
AUDIO_INPUT_INTERARRIVAL_P50 = "audio.input.interarrival.p50"
"""Median time between consecutive chunks, in seconds: about one chunk's duration when audio flows evenly."""
AUDIO_INPUT_INTERARRIVAL_MAX = "audio.input.interarrival.max"
"""Longest time between consecutive chunks, in seconds (gaps over 1 s, the audio having stopped, excluded)."""
AUDIO_INPUT_LATE_CHUNKS = "audio.input.late_chunks"
"""Chunks' worth of audio that arrived late: a gap ``g >= 1.5 d`` after a chunk of ``d`` seconds counts
``round(g / d) - 1``."""


def ai_span_name(operation: str, model: str | None) -> str:
    """GenAI convention: ``"{operation} {model}"``; the model is a bounded name, not free text."""
    return f"{operation} {model}" if model else operation


def tool_span_name(tool_name: str) -> str:
    """GenAI convention: ``"execute_tool {gen_ai.tool.name}"``; a tool's name is a bounded, registered name."""
    return f"{OPERATION_EXECUTE_TOOL} {tool_name}"


def connection_span_name(connection_type: str) -> str:
    return f"connection {connection_type}"


# --- metric names and units ---
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TURN_LATENCY = "realtime_ai.turn.user_bot_latency"
METRIC_TURN_STAGE_LATENCY = "realtime_ai.turn.latency"
METRIC_TURNS = "realtime_ai.turns"
METRIC_INTERRUPTIONS = "realtime_ai.turn.interruptions"
METRIC_ELEMENT_TIME = "realtime_ai.element.processing.time"
METRIC_FRAMES = "realtime_ai.frames"
METRIC_CONNECTIONS_ACTIVE = "realtime_ai.connection.active"
METRIC_CONNECTION_STATE_CHANGES = "realtime_ai.connection.state_changes"
METRIC_CONNECTION_MESSAGES = "realtime_ai.connection.messages"
METRIC_SESSIONS_ACTIVE = "realtime_ai.sessions.active"
METRIC_EVENT_LOOP_LAG = "realtime_ai.event_loop.lag"
METRIC_AUDIO_GAP = "realtime_ai.audio.gap"
METRIC_AUDIO_INPUT_GAP = "realtime_ai.audio.input.gap"
METRIC_CONNECTION_RTT = "realtime_ai.connection.rtt"
METRIC_CONNECTION_JITTER = "realtime_ai.connection.jitter"
METRIC_CONNECTION_PACKETS_LOST = "realtime_ai.connection.packets_lost"


def _clean(attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Drop unset values so builders can be called with whatever is known."""
    return {key: value for key, value in attributes.items() if value is not None}


def pipeline_attributes(pipeline_name: str, element_name: str | None = None) -> dict[str, AttributeValue]:
    return _clean({PIPELINE_NAME: pipeline_name, PIPELINE_ELEMENT: element_name})


def session_attributes(session_id: str, message_type: str | None = None) -> dict[str, AttributeValue]:
    return _clean({SESSION_ID: session_id, MESSAGE_TYPE: message_type})


def audio_attributes(
    sample_rate: int | None = None,
    channels: int | None = None,
    media_type: str | None = None,
    codec: str | None = None,
    data_size: int | None = None,
) -> dict[str, AttributeValue]:
    return _clean(
        {
            AUDIO_SAMPLE_RATE: sample_rate,
            AUDIO_CHANNELS: channels,
            AUDIO_MEDIA_TYPE: media_type,
            AUDIO_CODEC: codec,
            AUDIO_DATA_SIZE: data_size,
        }
    )


def video_attributes(
    width: int | None = None,
    height: int | None = None,
    media_type: str | None = None,
    codec: str | None = None,
    data_size: int | None = None,
) -> dict[str, AttributeValue]:
    return _clean(
        {
            VIDEO_WIDTH: width,
            VIDEO_HEIGHT: height,
            VIDEO_MEDIA_TYPE: media_type,
            VIDEO_CODEC: codec,
            VIDEO_DATA_SIZE: data_size,
        }
    )


def connection_attributes(
    connection_id: str, connection_type: str, state: str | None = None
) -> dict[str, AttributeValue]:
    return _clean({CONNECTION_ID: connection_id, CONNECTION_TYPE: connection_type, CONNECTION_STATE: state})


def llm_attributes(provider: str, model: str | None = None) -> dict[str, AttributeValue]:
    """Both the seed's ``llm.*`` keys and the GenAI convention's, so either kind of query works."""
    return _clean(
        {
            GEN_AI_OPERATION_NAME: OPERATION_CHAT,
            GEN_AI_PROVIDER_NAME: provider,
            GEN_AI_REQUEST_MODEL: model,
            LLM_PROVIDER: provider,
            LLM_MODEL: model,
        }
    )


def stt_attributes(provider: str, model: str | None = None) -> dict[str, AttributeValue]:
    return _clean(
        {
            GEN_AI_OPERATION_NAME: OPERATION_SPEECH_TO_TEXT,
            GEN_AI_PROVIDER_NAME: provider,
            GEN_AI_REQUEST_MODEL: model,
            STT_PROVIDER: provider,
        }
    )


def tts_attributes(
    provider: str, voice: str | None = None, model: str | None = None
) -> dict[str, AttributeValue]:
    return _clean(
        {
            GEN_AI_OPERATION_NAME: OPERATION_TEXT_TO_SPEECH,
            GEN_AI_PROVIDER_NAME: provider,
            GEN_AI_REQUEST_MODEL: model,
            TTS_PROVIDER: provider,
            TTS_VOICE: voice,
        }
    )


def error_type(error: BaseException) -> str:
    """The exception's qualified class name: a bounded value, safe on metrics."""
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def error_attributes(error: BaseException) -> dict[str, AttributeValue]:
    return {ERROR_TYPE: error_type(error), ERROR_MESSAGE: str(error)}
