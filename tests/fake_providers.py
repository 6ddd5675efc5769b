"""Local stand-ins for AI providers, speaking each one's wire protocol on 127.0.0.1.

Pipecat's real provider classes are pointed at them (``base_url`` / ``url``); each server
records what it received and sent, the ground truth the tests check the telemetry against.
- ``FakeOpenAI`` (aiohttp): ``/v1/chat/completions`` (SSE, text or tool calls, usage last),
  ``/v1/audio/transcriptions`` (multipart WAV in, JSON out), ``/v1/audio/speech`` (PCM out).
- ``FakeDeepgram`` (websockets): ``/v1/listen``; a final result after ``early_after`` bytes of
  audio, the rest of the transcript in answer to ``Finalize`` (``from_finalize``).
- ``FakeCartesia`` (websockets): ``/tts/websocket``; per transcript message, audio chunks and
  word timestamps; ``done`` when a context is closed (``continue: false``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import wave
from dataclasses import dataclass, field

from aiohttp import web

try:
    from websockets.asyncio.server import serve as ws_serve
except ImportError:  # websockets < 13
    from websockets.server import serve as ws_serve  # type: ignore[no-redef]

FIRST_CHUNK_DELAY = 0.05
"""Seconds each server waits before its first response byte: time to first chunk is at least this."""


class _Http:
    def __init__(self):
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self):
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


@dataclass
class ChatReply:
    """One scripted completion: text tokens, or one tool call; usage is sent after it."""

    tokens: list[str] = field(default_factory=list)
    tool: tuple[str, str, str] | None = None  # name, call id, JSON arguments
    usage: tuple[int, int] = (0, 0)


class FakeOpenAI(_Http):
    def __init__(self, replies: list[ChatReply] | None = None, transcripts: list[str] | None = None):
        super().__init__()
        self.replies = list(replies or [])
        self.chats: list[dict] = []
        """Each chat request's body and, under ``_first_chunk_after``, seconds to its first chunk."""
        self.transcripts = list(transcripts or [])
        self.uploads: list[bytes] = []
        """The PCM of each WAV uploaded for transcription (header removed)."""
        self.speech_inputs: list[str] = []
        self.speech_sent: list[int] = []
        """PCM bytes sent back per speech request."""
        self.app.router.add_post("/v1/chat/completions", self._chat)
        self.app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self.app.router.add_post("/v1/audio/speech", self._speech)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        received = time.perf_counter()
        body = await request.json()
        reply = self.replies.pop(0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(FIRST_CHUNK_DELAY)
        body["_first_chunk_after"] = time.perf_counter() - received
        self.chats.append(body)

        async def send(choices: list, usage: dict | None = None) -> None:
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0}
            chunk.update(model=body["model"], choices=choices)
            if usage is not None:
                chunk["usage"] = usage
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        for token in reply.tokens:
            await send([{"index": 0, "delta": {"role": "assistant", "content": token}, "finish_reason": None}])
        if reply.tool is not None:
            name, call_id, arguments = reply.tool
            head = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            await send([{"index": 0, "delta": {"role": "assistant", "tool_calls": [head]}, "finish_reason": None}])
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                await send([{"index": 0, "delta": delta, "finish_reason": None}])
        reason = "tool_calls" if reply.tool is not None else "stop"
        await send([{"index": 0, "delta": {}, "finish_reason": reason}])
        prompt, completion = reply.usage
        await send([], {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        with wave.open(io.BytesIO(upload.file.read()), "rb") as wav:
            self.uploads.append(wav.readframes(wav.getnframes()))
        await asyncio.sleep(FIRST_CHUNK_DELAY)
        text = self.transcripts.pop(0)
        return web.json_response({"text": text, "language": "english", "duration": 1.0, "segments": []})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.speech_inputs.append(body["input"])
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await response.prepare(request)
        await asyncio.sleep(FIRST_CHUNK_DELAY)
        pcm = pcm_for(body["input"])
        for start in range(0, len(pcm), 4800):
            await response.write(pcm[start : start + 4800])
        self.speech_sent.append(len(pcm))
        await response.write_eof()
        return response


def pcm_for(text: str) -> bytes:
    """Deterministic "speech": 20 ms of 24 kHz mono PCM per character."""
    return b"\x10\x00" * 480 * len(text)


class _WebSocket:
    async def __aenter__(self):
        self.server = await ws_serve(self._handle, "127.0.0.1", 0)
        self.port = next(iter(self.server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()


def _results(text: str, *, from_finalize: bool = False) -> str:
    alternative = {"transcript": text, "confidence": 0.99, "words": []}
    return json.dumps(
        {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": 1.0,
            "start": 0.0,
            "is_final": True,
            "speech_final": from_finalize,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [alternative]},
            "metadata": {
                "request_id": "req-1",
                "model_uuid": "uuid-1",
                "model_info": {"name": "nova-3", "version": "1", "arch": "nova"},
            },
        }
    )


class FakeDeepgram(_WebSocket):
    def __init__(self, utterances: list[tuple[str, str]], early_after: int):
        self.utterances = list(utterances)
        """(final result sent mid-utterance, result sent in answer to Finalize) per utterance."""
        self.early_after = early_after
        self.received: list[int] = []
        """Audio bytes received before each Finalize."""
        self.finalize_answered: list[float] = []

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, ws) -> None:
        heard = 0
        early_sent = False
        async for message in ws:
            if isinstance(message, bytes):
                heard += len(message)
                if heard >= self.early_after and not early_sent and self.utterances:
                    early_sent = True
                    await ws.send(_results(self.utterances[0][0]))
                continue
            kind = json.loads(message).get("type")
            if kind == "Finalize" and self.utterances:
                self.received.append(heard)
                heard, early_sent = 0, False
                _, rest = self.utterances.pop(0)
                await asyncio.sleep(FIRST_CHUNK_DELAY)
                await ws.send(_results(rest, from_finalize=True))
            elif kind == "CloseStream":
                await ws.close()
                return


class FakeCartesia(_WebSocket):
    def __init__(self):
        self.texts: dict[str, list[str]] = {}
        """Transcripts received per context id, in order (the closing empty one left out)."""
        self.sent: dict[str, int] = {}
        """PCM bytes sent per context id."""

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/tts/websocket"

    async def _handle(self, ws) -> None:
        async for message in ws:
            msg = json.loads(message)
            context_id = msg.get("context_id", "")
            text = msg.get("transcript", "")
            if text:
                self.texts.setdefault(context_id, []).append(text)
                await asyncio.sleep(FIRST_CHUNK_DELAY)
                words = text.split()
                timestamps = {"words": words, "start": [0.1 * i for i in range(len(words))]}
                timestamps["end"] = [0.1 * (i + 1) for i in range(len(words))]
                await ws.send(json.dumps({"type": "timestamps", "context_id": context_id, "word_timestamps": timestamps}))
                pcm = pcm_for(text)
                for start in range(0, len(pcm), 4800):
                    data = base64.b64encode(pcm[start : start + 4800]).decode()
                    await ws.send(json.dumps({"type": "chunk", "context_id": context_id, "data": data, "done": False}))
                self.sent[context_id] = self.sent.get(context_id, 0) + len(pcm)
            if msg.get("continue") is False:
                await ws.send(json.dumps({"type": "done", "context_id": context_id, "done": True}))
