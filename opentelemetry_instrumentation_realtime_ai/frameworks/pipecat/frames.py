"""Which Pipecat frames mean something to the telemetry, decided once per frame class.

Frame classes come and go between Pipecat versions (``StartInterruptionFrame`` became
``InterruptionFrame`` in 1.0, ``OpenAILLMContextFrame`` became ``LLMContextFrame``), so they
are looked up by name and a missing one is simply not matched.
"""

from __future__ import annotations

from pipecat.frames import frames as _frames

NONE = 0
AUDIO_IN = 1
USER_STARTED = 2
USER_STOPPED = 3
BOT_STARTED = 4
BOT_STOPPED = 5
INTERRUPTION = 6
LLM_REQUEST = 7
END = 8
LLM_RESPONSE_START = 9
LLM_TEXT = 10
LLM_RESPONSE_END = 11
FUNCTION_CALL = 12
ERROR = 13
TRANSCRIPTION = 14
TTS_STARTED = 15
TTS_AUDIO = 16
TTS_STOPPED = 17
TTS_TEXT = 18
AUDIO_OUT = 19
SERVICE_METADATA = 20  # an LLM service saying at start whether it is speech-to-speech (1.x)
FUNCTION_RESULT = 21

AUDIO = frozenset({AUDIO_IN, TTS_AUDIO, AUDIO_OUT})
"""Raw audio: the bulk of the frames."""
SIGNALS = frozenset({USER_STARTED, USER_STOPPED, BOT_STARTED, BOT_STOPPED})


def _classes(*names: str) -> tuple[type, ...]:
    return tuple(cls for name in names if isinstance(cls := getattr(_frames, name, None), type))


def _context_frame_classes() -> tuple[type, ...]:
    found = list(_classes("LLMContextFrame", "LLMMessagesFrame"))
    try:  # the pre-1.0 context frame lives in the aggregator module
        from pipecat.processors.aggregators.openai_llm_context import OpenAILLMContextFrame

        found.append(OpenAILLMContextFrame)
    except ImportError:
        pass
    return tuple(found)


# Most specific first: TTSAudioRawFrame is an audio frame, TTSTextFrame a text frame.
_RULES: tuple[tuple[tuple[type, ...], int], ...] = (
    (_classes("TTSAudioRawFrame"), TTS_AUDIO),
    (_classes("InputAudioRawFrame"), AUDIO_IN),
    (_classes("AudioRawFrame"), AUDIO_OUT),
    (_classes("UserStartedSpeakingFrame", "VADUserStartedSpeakingFrame"), USER_STARTED),
    (_classes("UserStoppedSpeakingFrame", "VADUserStoppedSpeakingFrame"), USER_STOPPED),
    (_classes("BotStartedSpeakingFrame"), BOT_STARTED),
    (_classes("BotStoppedSpeakingFrame"), BOT_STOPPED),
    (_classes("InterruptionFrame", "StartInterruptionFrame"), INTERRUPTION),
    (_context_frame_classes(), LLM_REQUEST),
    (_classes("EndFrame", "CancelFrame"), END),
    (_classes("LLMFullResponseStartFrame"), LLM_RESPONSE_START),
    (_classes("LLMFullResponseEndFrame"), LLM_RESPONSE_END),
    (_classes("TTSTextFrame"), TTS_TEXT),
    (_classes("LLMTextFrame"), LLM_TEXT),
    (_classes("FunctionCallInProgressFrame"), FUNCTION_CALL),
    (_classes("FunctionCallResultFrame"), FUNCTION_RESULT),
    (_classes("ErrorFrame"), ERROR),
    (_classes("TranscriptionFrame"), TRANSCRIPTION),
    (_classes("TTSStartedFrame"), TTS_STARTED),
    (_classes("TTSStoppedFrame"), TTS_STOPPED),
    (_classes("LLMServiceMetadataFrame"), SERVICE_METADATA),
)

VAD_SIGNAL_CLASSES = _classes("VADUserStartedSpeakingFrame", "VADUserStoppedSpeakingFrame")
"""The VAD's raw decisions; the other user signals say where the turn starts and is declared over."""

KINDS: dict[type, int] = {}
"""Each frame class seen so far and its kind: a plain dict, which the hot paths subscript."""


def kind_of(frame_class: type) -> int:
    """The frame's kind, cached per class so the per-frame cost is one dict lookup."""
    kind = KINDS.get(frame_class)
    if kind is None:
        kind = next((k for classes, k in _RULES if classes and issubclass(frame_class, classes)), NONE)
        KINDS[frame_class] = kind
    return kind
