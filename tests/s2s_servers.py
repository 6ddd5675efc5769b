"""Local speech-to-speech providers on 127.0.0.1: the OpenAI Realtime and Gemini Live wire protocols.

Each server runs its own voice detection on the audio it receives (a chunk with any non-zero
sample is speech; SILENCE_BYTES of zeros after speech end it), answers the end of speech or a
request from the client after FIRST_AUDIO_DELAY seconds with AUDIO_CHUNKS chunks of audio, and
cancels the response when the user speaks over it. Everything it received, sent and reported
is kept per response, as the ground truth a test checks the telemetry against.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websockets

FIRST_AUDIO_DELAY = 0.15
AUDIO_CHUNKS = 6
CHUNK_GAP = 0.05
CANCEL_DELAY = 0.1
"""A cancelled response's usage comes this long after the server saw the user speak over it."""


@dataclass
class Response:
    """One model response as the server made it."""

    number: int
    trigger: str  # "speech" (server voice detection) or "client" (the client asked)
    audio_in: int = 0  # bytes of user audio received since the previous response started
    audio_out: int = 0  # bytes of audio sent (decoded)
    transcript: str = ""  # the user's speech this response answers, as transcribed
    cancelled: bool = False
    finished: bool = False
    first_audio_at: float = 0.0  # time.perf_counter() when the first audio went out
    usage: dict = field(default_factory=dict)
    id: str = ""
    item: str = ""


class _VoiceDetection:
    """Speech is any non-zero sample; it ends after ``silence_bytes`` of zeros."""

    def __init__(self, silence_bytes: int):
        self.silence_bytes = silence_bytes
        self.speaking = False
        self.silence = 0

    def feed(self, audio: bytes) -> str | None:
        if audio.count(0) != len(audio):
            self.silence = 0
            if not self.speaking:
                self.speaking = True
                return "started"
        elif self.speaking:
            self.silence += len(audio)
            if self.silence >= self.silence_bytes:
                self.speaking = False
                return "stopped"
        return None


class _Server:
    transcripts = ("What is the weather like today?", "Tell me a joke.", "Stop, say something else.")

    def __init__(self, *, silence_bytes: int, ssl_context: ssl.SSLContext | None = None):
        self._ssl = ssl_context
        self._vad = _VoiceDetection(silence_bytes)
        self.responses: list[Response] = []
        self.pending_audio = 0
        self.heard_speech = 0
        self._task: asyncio.Task | None = None
        self._server = None
        self.port = 0
        self.errors: list[BaseException] = []

    async def __aenter__(self):
        self._server = await websockets.serve(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        if self._task is not None:
            self._task.cancel()
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, ws):
        try:
            await self.serve(ws)
        except websockets.ConnectionClosed:
            pass
        except Exception as error:  # surfaced by the test
            self.errors.append(error)
            raise
        finally:
            if self._task is not None:
                self._task.cancel()

    def _heard(self, audio: bytes) -> str | None:
        self.pending_audio += len(audio)
        return self._vad.feed(audio)

    def _respond(self, ws, trigger: str) -> Response:
        response = Response(len(self.responses) + 1, trigger, audio_in=self.pending_audio)
        self.pending_audio = 0
        n = response.number
        response.usage = {
            "input": 100 + n,
            "output": 50 + n,
            "cached": 10 * n,
            "audio_in": 30 + n,
            "audio_out": 40 + n,
        }
        self.responses.append(response)
        self._task = asyncio.ensure_future(self._run(ws, response, self._task))
        return response

    async def _run(self, ws, response: Response, previous: asyncio.Task | None):
        if previous is not None:  # a response begins after the one before it is done (a cancelled one too)
            await asyncio.shield(previous)
        try:
            await self.started(ws, response)
            await asyncio.sleep(FIRST_AUDIO_DELAY)
            for i in range(AUDIO_CHUNKS):
                audio = bytes([(i % 250) + 1, 0]) * 2400  # 100 ms at 24 kHz, never silent
                if i == 0:
                    response.first_audio_at = time.perf_counter()
                await self.audio(ws, response, audio)
                response.audio_out += len(audio)
                if i == 0:
                    await self.first_audio_sent(ws, response)
                await asyncio.sleep(CHUNK_GAP)
        except asyncio.CancelledError:
            response.cancelled = True
            await asyncio.sleep(CANCEL_DELAY)
        try:
            await self.done(ws, response)
        except websockets.ConnectionClosed:
            return
        response.finished = True

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _transcript(self) -> str:
        self.heard_speech += 1
        return self.transcripts[(self.heard_speech - 1) % len(self.transcripts)]


class OpenAIRealtimeServer(_Server):
    """The OpenAI Realtime API (GA events: ``response.output_audio.delta``), server VAD on."""

    def __init__(self):
        super().__init__(silence_bytes=24000 * 2 * 2 // 10)  # 200 ms at 24 kHz
        self.user_item: str | None = None
        self.pending_transcript = ""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    @staticmethod
    async def send(ws, event_type: str, **fields):
        await ws.send(json.dumps({"type": event_type, "event_id": uuid.uuid4().hex, **fields}))

    async def serve(self, ws):
        await self.send(ws, "session.created", session={})
        async for message in ws:
            event = json.loads(message)
            kind = event["type"]
            if kind == "session.update":
                await self.send(ws, "session.updated", session={})
            elif kind == "conversation.item.create":
                await self.send(ws, "conversation.item.added", item=event["item"])
            elif kind == "response.create":
                self._respond(ws, "client")
            elif kind == "response.cancel":
                self._cancel()
            elif kind == "input_audio_buffer.append":
                detected = self._heard(base64.b64decode(event["audio"]))
                if detected == "started":
                    self.user_item = uuid.uuid4().hex
                    await self.send(
                        ws, "input_audio_buffer.speech_started", audio_start_ms=0, item_id=self.user_item
                    )
                    self._cancel()
                elif detected == "stopped":
                    await self._speech_stopped(ws)

    async def _speech_stopped(self, ws):
        item = self.user_item or uuid.uuid4().hex
        await self.send(ws, "input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=item)
        await self.send(ws, "input_audio_buffer.committed", item_id=item)
        user_item = {"id": item, "type": "message", "role": "user", "status": "completed", "content": []}
        await self.send(ws, "conversation.item.added", item=user_item)
        self.pending_transcript = self._transcript()
        self._respond(ws, "speech")

    async def started(self, ws, response: Response):
        response.item = uuid.uuid4().hex
        response.id = uuid.uuid4().hex
        await self.send(ws, "response.created", response={"id": response.id, "status": "in_progress"})
        item = {"id": response.item, "type": "message", "role": "assistant", "status": "in_progress"}
        await self.send(ws, "conversation.item.added", item=item)
        # The transcript of what the bot says streams ahead of its audio.
        await self.send(ws, "response.output_audio_transcript.delta", **self._ids(response), delta="Sure! ")

    def _ids(self, response: Response) -> dict:
        return {"response_id": response.id, "item_id": response.item, "output_index": 0, "content_index": 0}

    async def audio(self, ws, response: Response, audio: bytes):
        delta = base64.b64encode(audio).decode()
        await self.send(ws, "response.output_audio.delta", **self._ids(response), delta=delta)

    async def first_audio_sent(self, ws, response: Response):
        # The user's transcript finishes while the model already answers (as it does live).
        if response.trigger == "speech" and self.pending_transcript:
            response.transcript, self.pending_transcript = self.pending_transcript, ""
            await self.send(
                ws,
                "conversation.item.input_audio_transcription.completed",
                item_id=self.user_item or "",
                content_index=0,
                transcript=response.transcript,
            )

    async def done(self, ws, response: Response):
        u = response.usage
        usage = {
            "total_tokens": u["input"] + u["output"],
            "input_tokens": u["input"],
            "output_tokens": u["output"],
            "input_token_details": {
                "cached_tokens": u["cached"],
                "text_tokens": u["input"] - u["audio_in"],
                "audio_tokens": u["audio_in"],
                "cached_tokens_details": {"text_tokens": u["cached"], "audio_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": u["output"] - u["audio_out"],
                "audio_tokens": u["audio_out"],
            },
        }
        status = "cancelled" if response.cancelled else "completed"
        await self.send(ws, "response.done", response={"id": response.id, "status": status, "usage": usage})


class GeminiLiveServer(_Server):
    """The Gemini Live API (BidiGenerateContent over TLS): usage comes on the turnComplete message,
    which Pipecat reads after ending the response."""

    def __init__(self, ssl_context: ssl.SSLContext):
        super().__init__(silence_bytes=16000 * 2 * 2 // 10, ssl_context=ssl_context)  # 200 ms at 16 kHz
        self.setup: dict | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def serve(self, ws):
        async for message in ws:
            event = json.loads(message)  # the client writes some keys in snake case, some in camel case
            content = event.get("client_content") or event.get("clientContent")
            realtime_input = event.get("realtime_input") or event.get("realtimeInput")
            if "setup" in event:
                self.setup = event["setup"]
                await ws.send(json.dumps({"setupComplete": {}}))
            elif content is not None:
                if content.get("turnComplete") or content.get("turn_complete"):
                    self._respond(ws, "client")
            elif realtime_input is not None:
                audio = realtime_input.get("audio") or {}
                if not audio.get("data"):
                    continue
                detected = self._heard(base64.b64decode(audio["data"]))
                if detected == "started" and self._task is not None and not self._task.done():
                    self._cancel()
                    await ws.send(json.dumps({"serverContent": {"interrupted": True}}))
                elif detected == "stopped":
                    transcript = self._transcript()
                    input_text = {"inputTranscription": {"text": transcript}}
                    await ws.send(json.dumps({"serverContent": input_text}))
                    self._respond(ws, "speech").transcript = transcript

    async def started(self, ws, response: Response):
        pass  # Gemini says nothing until the model's first output

    async def audio(self, ws, response: Response, audio: bytes):
        part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(audio).decode()}}
        await ws.send(json.dumps({"serverContent": {"modelTurn": {"parts": [part]}}}))

    async def first_audio_sent(self, ws, response: Response):
        await ws.send(json.dumps({"serverContent": {"outputTranscription": {"text": "Sure! "}}}))

    async def done(self, ws, response: Response):
        u = response.usage
        usage = {
            "promptTokenCount": u["input"],
            "responseTokenCount": u["output"],
            "totalTokenCount": u["input"] + u["output"],
            "cachedContentTokenCount": u["cached"],
            "promptTokensDetails": [
                {"modality": "AUDIO", "tokenCount": u["audio_in"]},
                {"modality": "TEXT", "tokenCount": u["input"] - u["audio_in"]},
            ],
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": u["audio_out"]}],
        }
        await ws.send(json.dumps({"serverContent": {"turnComplete": True}, "usageMetadata": usage}))


def self_signed_certificate(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 made now: its file (for SSL_CERT_FILE) and a server context."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context
