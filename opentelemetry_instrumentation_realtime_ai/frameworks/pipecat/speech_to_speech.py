"""Speech-to-speech services (OpenAI Realtime, Gemini Live, Nova Sonic...): one request per model response.

Such a service holds one long connection; the user's audio streams in and the model answers
when the provider's voice detection (or the app) decides. The context frames the aggregators
send it only keep its conversation in sync, so they are not requests: a request is what the
service brackets with ``LLMFullResponseStartFrame`` / ``LLMFullResponseEndFrame``.

Per response:
- audio in: bytes of user audio (``InputAudioRawFrame.audio``, as it reached the service, before
  any resampling) received after the previous response started and before this one started;
- audio out: bytes of ``TTSAudioRawFrame.audio`` the service pushed until the response ended
  or was interrupted;
- time to first chunk: to the first audio (the first text in a text-only response), from the end
  of the user's speech when the user spoke since the previous response (the provider started the
  response on its own), else from the last context frame the service received, else from the
  response's start;
- usage: whenever the provider reports it; one that reports after the response (Gemini Live)
  keeps the span open, with the response's end time, until the usage, the next response or
  the end of the session.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ... import attributes as attrs
from . import frames as fk

if TYPE_CHECKING:
    from ...helpers.ai import AIRequest
    from ...helpers.session import Turn
    from .services import ServiceState

RECEIVES = frozenset({fk.AUDIO_IN, fk.TRANSCRIPTION})
"""Kinds a speech-to-speech service acts on beyond an LLM's, received..."""
PUSHES = frozenset({fk.TTS_AUDIO, fk.TRANSCRIPTION})
"""...and pushed."""


class SpeechToSpeech:
    """The responses of one speech-to-speech service in one session (its ``ServiceState`` holds the open one)."""

    __slots__ = (
        "_passing",
        "audio_heard",
        "first_text_at",
        "heard_text",
        "input_at",
        "last_start",
        "previous_start",
        "state",
        "transcript",
        "turn",
    )

    def __init__(self, state: ServiceState):
        self.state = state
        self.audio_heard = 0
        """Bytes of user audio received since the last response started (the frame hook adds most)."""
        self.transcript = 0
        """Characters of the user's transcript not yet given to a response."""
        self.heard_text = 0
        """Characters of the user's transcript given to the open response."""
        self.input_at: float | None = None
        self.last_start = self.previous_start = float("-inf")
        self.first_text_at: float | None = None
        self.turn: Turn | None = None
        self._passing: int | None = None

    def heard(self, frame: Any) -> None:
        """The user's audio reaching the service (the chunks the frame hook does not add up itself)."""
        try:
            self.audio_heard += len(frame.audio)
        except Exception:  # telemetry must never break the app
            pass

    def received(self, kind: int, frame: Any) -> None:
        if kind == fk.AUDIO_IN:
            self.heard(frame)
        elif kind == fk.LLM_REQUEST:
            self.input_at = time.perf_counter()  # may make the model answer (the first context does)
        elif kind == fk.TRANSCRIPTION:
            self._passing = frame.id  # another element's transcript passing through, not the provider's
        elif kind == fk.INTERRUPTION:
            self._complete(interrupted=True)
        elif kind == fk.END:
            self._complete()
            self.state.finish()

    def pushed(self, kind: int, frame: Any) -> bool:
        """Act on a pushed frame; False leaves it to the plain LLM handling (tool calls)."""
        request = self.state.request
        responding = request if request is not None and not request.completed else None
        if kind == fk.LLM_RESPONSE_START:
            if responding is None:  # else a second start in one response (OpenAI: response.create, its item)
                self._start()
        elif kind == fk.TTS_AUDIO:
            if responding is not None:
                if responding.time_to_first_chunk is None:
                    self._since(responding, time.perf_counter())
                responding.chunk(len(frame.audio))
        elif kind == fk.LLM_TEXT:
            if responding is not None:
                if self.first_text_at is None:
                    self.first_text_at = time.perf_counter()
                responding.add_text(frame.text)
        elif kind == fk.LLM_RESPONSE_END:
            self._complete()
        elif kind == fk.TRANSCRIPTION:
            if frame.id != self._passing:
                self._heard_transcript(len(frame.text or ""))
        else:
            return False
        return True

    def _start(self) -> None:
        state = self.state
        self.previous_start, self.last_start = self.last_start, time.perf_counter()
        self.first_text_at, self.heard_text, self.turn = None, 0, state.session.turn
        request = state.start()  # ends the previous response's span if it still waits for usage
        request.set_attributes({attrs.AUDIO_INPUT_SIZE: self.audio_heard})
        self.audio_heard = 0
        if self.transcript:
            transcript, self.transcript = self.transcript, 0
            self._heard_transcript(transcript)

    def _since(self, request: AIRequest, first_output: float) -> None:
        """What the response answers, read at its first output (the provider may start a response
        before the pipeline has seen the end of the user's speech): an input since the previous
        response, before this output."""
        session, previous = self.state.session, self.previous_start
        speech_ended = session.user_speech_ended_at
        if speech_ended is not None and previous < speech_ended <= first_output:  # None while the user speaks
            request.sent(speech_ended)
        elif self.input_at is not None and previous < self.input_at <= first_output:
            request.sent(self.input_at)

    def _heard_transcript(self, length: int) -> None:
        """The user's transcript goes to the response whose span is open, unless the user has begun
        a new turn since it started (then it is the next response's input)."""
        request = self.state.request
        if request is None or request.ended or self.state.session.turn is not self.turn:
            self.transcript += length
            return
        self.heard_text += length
        request.set_attributes({attrs.LLM_INPUT_TRANSCRIPT_LENGTH: self.heard_text})

    def _complete(self, **end: Any) -> None:
        request = self.state.request
        if request is None or request.completed:
            return
        if request.time_to_first_chunk is None and self.first_text_at is not None:
            self._since(request, self.first_text_at)
            request.first_chunk(self.first_text_at)  # a text-only response
        request.set_attributes({attrs.AUDIO_OUTPUT_SIZE: request.response_size})
        request.complete(**end)
        if request.ended:
            self.state.request = None
