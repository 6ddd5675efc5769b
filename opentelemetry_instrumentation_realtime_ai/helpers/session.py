"""A session (one pipeline run) and its conversation turns, fed by speaking signals.

Frameworks report who started or stopped speaking; this module decides where turns begin
and end, whether the user interrupted, and the user-to-bot latency. It gives every child
span an explicit parent, because frameworks run each element in its own asyncio task where
the current OpenTelemetry context is stale.
"""

from __future__ import annotations

import contextvars
import time
import uuid

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span
from opentelemetry.util.types import AttributeValue

from .. import attributes as attrs
from .. import telemetry
from ..spans import Parent, new_span, parent_context, record_error
from .ai import AIRequest
from .input_audio import InputAudio, summary

_current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "otel_realtime_ai_session", default=None
)


def current_session() -> Session | None:
    """The session the calling code runs in (set by the framework hooks for the length of a run).

    Inside a Pipecat element, ``start_span("my.step", parent=current_session().context())`` puts
    your own span under the turn it serves, where the stale current context would not.
    """
    return _current_session.get()


def set_current_session(session: Session | None) -> contextvars.Token[Session | None]:
    return _current_session.set(session)


def reset_current_session(token: contextvars.Token[Session | None]) -> None:
    _current_session.reset(token)


MAX_PIPELINE_NAMES = 100
"""Distinct ``pipeline.name`` values on metrics; past it, ``_other``: a name per call must not mint series."""
_pipeline_names: set[str] = set()


def bounded_pipeline_name(name: str) -> str:
    if name in _pipeline_names:
        return name
    if len(_pipeline_names) >= MAX_PIPELINE_NAMES:
        return "_other"
    _pipeline_names.add(name)
    return name


MAX_INPUTS = 4
"""Input transports whose audio a session times (a pipeline has one; a few mixers or test rigs more)."""
MAX_REPLY_REQUESTS = 32
"""Requests remembered per reply for its latency breakdown; a reply with more keeps its first ones."""


def _epoch_ns(at: float) -> int:
    """A ``time.perf_counter()`` reading as the epoch nanoseconds a span's start time takes."""
    return time.time_ns() - int((time.perf_counter() - at) * 1e9)


class Turn:
    """One user→bot exchange: from the start of the user's speech to the end of the bot's reply."""

    def __init__(self, session: Session, number: int, started_at: float | None = None):
        self.number = number
        self.bot_started = False
        self.interrupted = False
        self.audio_gaps = 0
        self.audio_gap_seconds = 0.0
        self.reply: AIRequest | None = None
        """The last LLM request started after the user stopped: a reply even if it is never heard."""
        turn_attrs: dict[str, AttributeValue] = {
            attrs.TURN_NUMBER: number,
            attrs.SESSION_ID: session.session_id,
        }
        if session.trace_per_turn:
            # A root span of its own trace, linked to the session so a backend can join them.
            parent: Parent = otel_context.Context()
            links = [Link(session.span.get_span_context())]
        else:
            parent, links = session.span, None
        self.span = session._telemetry.tracer.start_span(
            attrs.SPAN_TURN,
            context=parent_context(parent),
            attributes=turn_attrs,
            links=links,
            start_time=None if started_at is None else _epoch_ns(started_at),
        )
        self.context = trace.set_span_in_context(self.span)

    def answered(self, busy: bool) -> bool:
        """The bot spoke, or its reply was produced and never heard (a text-only bot, a muted output)."""
        return self.bot_started or (self.reply is not None and self.reply.ended and not busy)


class Session:
    """One pipeline run: the ``pipeline.run`` span, its turns, and the AI requests open in it.

    Times are ``time.perf_counter()`` seconds. Frameworks with a VAD report its raw decisions
    (``voice_started`` / ``voice_stopped``, with when the speech itself started or ended) and the
    turn-level signals (``user_started_speaking`` / ``user_stopped_speaking``: the turn declared
    over); a framework with one pair of signals reports only the latter.
    """

    def __init__(
        self,
        pipeline_name: str,
        session_id: str | None = None,
        *,
        framework: str | None = None,
        framework_version: str | None = None,
        metric_name: str | None = None,
        parent: Parent = None,
    ):
        self._telemetry = telemetry.current()
        self.session_id = session_id or str(uuid.uuid4())
        self.pipeline_name = pipeline_name
        self.metric_name = bounded_pipeline_name(metric_name or pipeline_name)
        """The bounded form of the pipeline name used on metrics (no instance numbers)."""
        self.framework = framework or "custom"
        self.trace_per_turn = self._telemetry.options.trace_per_turn
        span_attrs = {
            attrs.PIPELINE_NAME: pipeline_name,
            attrs.SESSION_ID: self.session_id,
            attrs.GEN_AI_CONVERSATION_ID: self.session_id,
            attrs.FRAMEWORK: self.framework,
            attrs.FRAMEWORK_VERSION: framework_version,
        }
        self.span: Span = new_span(attrs.SPAN_PIPELINE_RUN, attrs._clean(span_attrs), parent=parent)
        self._context = trace.set_span_in_context(self.span)
        self.turn: Turn | None = None
        self.turn_count = 0
        self.audio_gaps_measured = False
        """The framework watches the bot's audio for holes (else a turn does not claim it had none)."""
        self.user_speaking = False
        self.bot_speaking = False
        self.voice_active = False
        self._voice_in_turn = False
        """The VAD reported speech since the user's turn was last declared over."""
        self.user_speech_ended_at: float | None = None
        """When the user's latest speech ended (``time.perf_counter()`` seconds): its last voiced
        audio where the VAD tells, else the stop signal; None while the user speaks."""
        self._speech_end_source = ""
        self._vad_stopped_at: float | None = None
        self._turn_ended_at: float | None = None
        self._tool_calls: list[float] = []
        self._reply: list[AIRequest] = []
        """LLM and TTS requests started since the user last started speaking: the reply's stages."""
        self._requests: list[AIRequest] = []
        self._inputs: list[InputAudio] = []
        self.ended = False
        self._telemetry.instruments.sessions_active.add(1, {attrs.FRAMEWORK: self.framework})
        self._telemetry.loops.watch(self)

    # --- parents for child spans ---

    def context(self) -> otel_context.Context:
        """The context child spans belong in: the open turn, else the session."""
        turn = self.turn
        return turn.context if turn is not None else self._context

    def track(self, request: AIRequest) -> AIRequest:
        """Remember an open request so the turn waits for it and the session's end closes it."""
        self._requests = [r for r in self._requests if not r.ended]
        self._requests.append(request)
        if request.operation != attrs.OPERATION_SPEECH_TO_TEXT and len(self._reply) < MAX_REPLY_REQUESTS:
            self._reply.append(request)
        turn = self.turn
        if (
            turn is not None
            and request.operation == attrs.OPERATION_CHAT
            and not (self.user_speaking or self.voice_active)
        ):
            turn.reply = request
        return request

    def _busy(self) -> bool:
        """The bot's reply is still being produced (an LLM or TTS request is open)."""
        return any(not r.completed and r.operation != attrs.OPERATION_SPEECH_TO_TEXT for r in self._requests)

    # --- speaking signals ---

    def voice_started(self, speech_started_at: float | None = None) -> None:
        """The VAD heard the user start; ``speech_started_at`` is when the speech itself began."""
        if self.voice_active:
            return
        self.voice_active = self._voice_in_turn = True
        self._speech_started(speech_started_at)

    def voice_stopped(self, speech_ended_at: float | None = None, source: str = "signal") -> None:
        """The VAD decided the user stopped; ``speech_ended_at`` is the speech's last voiced audio."""
        if not self.voice_active:
            return
        self.voice_active = False
        now = time.perf_counter()
        self._vad_stopped_at = now
        self.user_speech_ended_at = min(now, speech_ended_at) if speech_ended_at is not None else now
        self._speech_end_source = source if speech_ended_at is not None else "signal"

    def user_started_speaking(self, speech_started_at: float | None = None) -> None:
        """The user's turn started (a turn-level signal, or the only one the framework has)."""
        if self.user_speaking:
            return
        self.user_speaking = True
        if not self._voice_in_turn:  # else the VAD has marked this speech (its start may come later)
            self._speech_started(speech_started_at)

    def user_stopped_speaking(self) -> None:
        """The user's turn was declared over (for a framework without a VAD signal: speech ended)."""
        if not (self.user_speaking or self._voice_in_turn):
            return
        self.user_speaking = self._voice_in_turn = False
        now = time.perf_counter()
        if self.voice_active:  # the turn ended without the VAD's stop: this is the end of speech
            self.voice_active = False
            self.user_speech_ended_at = None
        if self.user_speech_ended_at is None:
            self.user_speech_ended_at = now
            self._speech_end_source = "signal"
        self._turn_ended_at = now

    def tool_called(self) -> None:
        """An inference returned a tool call: until the next inference starts, tools run."""
        if len(self._tool_calls) < MAX_REPLY_REQUESTS:
            self._tool_calls.append(time.perf_counter())

    def _speech_started(self, speech_started_at: float | None) -> None:
        self.user_speech_ended_at = None
        self._vad_stopped_at = self._turn_ended_at = None
        self._reply = []
        self._tool_calls = []
        turn = self.turn
        busy = self._busy()
        if turn is not None and not turn.answered(busy):
            return  # the user paused and went on: still the same turn
        if turn is not None:
            if self.bot_speaking or busy:
                turn.interrupted = True
            self._end_turn()
        self._start_turn(speech_started_at)

    def bot_started_speaking(self, audio_out_at: float | None = None) -> None:
        """The bot started speaking; ``audio_out_at`` is when its first audio was written out."""
        if self.bot_speaking:
            return
        self.bot_speaking = True
        turn = self.turn
        if turn is None or turn.bot_started:
            return
        turn.bot_started = True
        if self.user_speech_ended_at is not None:
            self._record_latency(turn, audio_out_at if audio_out_at is not None else time.perf_counter())

    def bot_stopped_speaking(self) -> None:
        if not self.bot_speaking:
            return
        self.bot_speaking = False
        if self.turn is not None and self.turn.bot_started and not self._busy() and not self.user_speaking:
            self._end_turn()

    # --- the latency and its stages ---

    def _stage_marks(self, out_at: float) -> tuple[list[tuple[str, float | None]], float]:
        """The stages' end times in order (None: not on this path) and the time tools took."""
        llm = [r for r in self._reply if r.operation == attrs.OPERATION_CHAT and r.started_at <= out_at]
        spoken = llm[-1] if llm else None  # the inference whose output is heard first
        tools = 0.0
        for called in self._tool_calls:
            follow_up = next((r.started_at for r in llm if r.started_at >= called), None)
            if follow_up is not None and spoken is not None and follow_up <= spoken.started_at:
                tools += follow_up - called
        llm_at = spoken.first_chunk_at if spoken is not None else None
        # The TTS request whose audio came first after that token (one opened earlier, at the
        # response's start, still counts: its aggregation stage is then empty).
        heard_after = llm_at if llm_at is not None else self.user_speech_ended_at or 0.0
        tts = next(
            (
                r
                for r in self._reply
                if r.operation == attrs.OPERATION_TEXT_TO_SPEECH
                and (first := r.first_chunk_at) is not None
                and heard_after <= first <= out_at
            ),
            None,
        )
        marks = [
            (attrs.STAGE_ENDPOINTING, self._vad_stopped_at),
            (attrs.STAGE_TURN_DETECTION, self._turn_ended_at),
            (attrs.STAGE_LLM, llm_at),
            (attrs.STAGE_AGGREGATION, tts.started_at if tts is not None else None),
            (attrs.STAGE_TTS, tts.first_chunk_at if tts is not None else None),
            (attrs.STAGE_OUTPUT, out_at),
        ]
        return marks, tools

    def _record_latency(self, turn: Turn, out_at: float) -> None:
        ended_at = self.user_speech_ended_at
        assert ended_at is not None
        out_at = max(out_at, ended_at)
        latency = out_at - ended_at
        marks, tools = self._stage_marks(out_at)
        stages: dict[str, float] = {}
        previous = ended_at
        for stage, at in marks:
            if at is None:
                continue
            at = min(max(at, previous), out_at)  # consecutive: each ends no earlier than the last
            stages[stage] = at - previous
            previous = at
        if tools and attrs.STAGE_LLM in stages:
            tools = min(tools, stages[attrs.STAGE_LLM])
            stages[attrs.STAGE_LLM] -= tools
            stages[attrs.STAGE_TOOLS] = tools
            stages = {stage: stages[stage] for stage in attrs.TURN_STAGES if stage in stages}
        span_attrs: dict[str, AttributeValue] = {
            attrs.TURN_USER_BOT_LATENCY: latency,
            attrs.TURN_SPEECH_END_SOURCE: self._speech_end_source,
        }
        span_attrs.update({attrs.TURN_LATENCY_PREFIX + stage: secs for stage, secs in stages.items()})
        turn.span.set_attributes(span_attrs)
        instruments = self._telemetry.instruments
        metric_attrs = {attrs.PIPELINE_NAME: self.metric_name}
        instruments.turn_latency.record(latency, metric_attrs, context=turn.context)
        for stage, secs in stages.items():
            instruments.turn_stage_latency.record(
                secs, {**metric_attrs, attrs.TURN_LATENCY_STAGE: stage}, context=turn.context
            )

    # --- turn lifecycle ---

    def _start_turn(self, started_at: float | None = None) -> None:
        self.turn_count += 1
        self.turn = Turn(self, self.turn_count, started_at)

    def _end_turn(self) -> None:
        turn, self.turn = self.turn, None
        if turn is None:
            return
        metric_attrs = {attrs.PIPELINE_NAME: self.metric_name}
        turn.span.set_attribute(attrs.TURN_INTERRUPTED, turn.interrupted)
        if turn.bot_started and self.audio_gaps_measured:
            turn.span.set_attributes(
                {attrs.TURN_AUDIO_GAPS: turn.audio_gaps, attrs.TURN_AUDIO_GAP_SECONDS: turn.audio_gap_seconds}
            )
        if turn.interrupted:
            self._telemetry.instruments.interruptions.add(1, metric_attrs)
        self._telemetry.instruments.turns.add(1, metric_attrs)
        turn.span.end()

    def end(self, error: BaseException | None = None) -> None:
        """End open requests, the open turn and the session, once."""
        if self.ended:
            return
        self.ended = True
        for request in self._requests:
            request.end(error=error, interrupted=error is None)
        self._requests = []
        self._end_turn()
        if error is not None:
            record_error(self.span, error)
        self.span.set_attribute(attrs.SESSION_TURNS, self.turn_count)
        self._summarize_input_audio()
        self.span.end()
        self._telemetry.instruments.sessions_active.add(-1, {attrs.FRAMEWORK: self.framework})
        self._telemetry.loops.unwatch(self)

    def audio_gap(self, seconds: float, at: float | None = None) -> None:
        """The bot's audio ran dry mid-reply for ``seconds`` (from ``at``, a ``time.perf_counter()``
        reading, when the audio already written had finished playing)."""
        turn = self.turn
        if turn is None or not turn.bot_started:
            return
        turn.audio_gaps += 1
        turn.audio_gap_seconds += seconds
        self._telemetry.instruments.audio_gap.record(
            seconds, {attrs.PIPELINE_NAME: self.metric_name}, context=turn.context
        )
        if seconds >= self._telemetry.options.audio_gap_threshold:
            when = None if at is None else _epoch_ns(at)
            turn.span.add_event(attrs.EVENT_AUDIO_GAP, {attrs.AUDIO_GAP_DURATION: seconds}, timestamp=when)

    def input_audio(self, bytes_per_second: float) -> InputAudio | None:
        """A meter for the chunks of one input of the caller's 16-bit PCM audio (``bytes_per_second``
        of it): the framework tells it of each chunk's arrival (see ``InputAudio.heard``); the
        session sums its inputs on ``pipeline.run`` when it ends. None once the session is over."""
        if self.ended or len(self._inputs) >= MAX_INPUTS or bytes_per_second <= 0:
            return None
        meter = InputAudio(bytes_per_second, self._input_gap)
        self._inputs.append(meter)
        return meter

    def _input_gap(self, seconds: float) -> None:
        """The caller's audio stopped arriving for ``seconds``, long enough for a chunk to be late."""
        self._telemetry.instruments.audio_input_gap.record(
            seconds, {attrs.PIPELINE_NAME: self.metric_name}, context=self.context()
        )

    def _summarize_input_audio(self) -> None:
        if not self._inputs:
            return
        for meter in self._inputs:
            meter.close()
        chunks, median, longest, late = summary(self._inputs)
        self.span.set_attributes(
            attrs._clean(
                {
                    attrs.AUDIO_INPUT_CHUNKS: chunks,
                    attrs.AUDIO_INPUT_INTERARRIVAL_P50: median,
                    attrs.AUDIO_INPUT_INTERARRIVAL_MAX: longest,
                    attrs.AUDIO_INPUT_LATE_CHUNKS: late,
                }
            )
        )

    def loop_blocked(self, event: dict[str, AttributeValue]) -> None:
        """The event loop running this session was blocked: an event on the open turn, else the session."""
        turn = self.turn
        (turn.span if turn is not None else self.span).add_event(attrs.EVENT_LOOP_BLOCKED, event)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.end(exc)
