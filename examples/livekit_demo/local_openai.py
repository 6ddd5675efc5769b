"""A local stand-in for OpenAI's chat completions API, speaking its wire protocol (HTTP + SSE).

It answers ``GET /v1/models`` and streams ``POST /v1/chat/completions`` with a usage chunk and
``[DONE]``, and records what it received and when it sent the first token, so tests check the
spans against it. ``fail`` makes the next requests answer with an HTTP status, ``cut`` ends a
stream mid-way without ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Reply:
    words: list[str] = field(default_factory=lambda: ["Hello", " there", ",", " friend", "."])
    tool_call: tuple[str, str] | None = None
    """(function name, JSON arguments): answer with a tool call instead of text."""


class OpenAIServer:
    def __init__(self, *, delay: float = 0.05, prompt_tokens: int = 17, completion_tokens: int = 5):
        self.delay = delay
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.replies: list[Reply] = []
        self.fail: list[int] = []
        """HTTP statuses to answer the next chat requests with, one each."""
        self.cut = False
        self.requests: list[dict] = []
        self.first_token_at: list[float] = []
        """perf_counter() when the first content chunk of each stream was written."""
        self.received_at: list[float] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> OpenAIServer:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.received_at.append(time.perf_counter())
        body = await request.json()
        self.requests.append(body)
        if self.fail:
            status = self.fail.pop(0)
            return web.json_response(
                {"error": {"message": f"status {status}", "type": "server_error", "code": None}},
                status=status,
            )
        reply = self.replies.pop(0) if self.replies else Reply()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(self.delay)
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}

        async def send(delta: dict, finish: str | None = None, usage: dict | None = None) -> None:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage is not None:
                chunk = {**base, "choices": [], "usage": usage}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if reply.tool_call is not None:
            name, arguments = reply.tool_call
            self.first_token_at.append(time.perf_counter())
            call = {"index": 0, "id": "call_1", "type": "function"}
            await send(
                {
                    "role": "assistant",
                    "tool_calls": [{**call, "function": {"name": name, "arguments": arguments}}],
                }
            )
            await send({}, "tool_calls")
        else:
            for i, word in enumerate(reply.words):
                if i == 0:
                    self.first_token_at.append(time.perf_counter())
                await send({"role": "assistant", "content": word} if i == 0 else {"content": word})
                if self.cut and i == 1:
                    # the connection drops mid-stream: no finish reason, no [DONE]
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                await asyncio.sleep(0.005)
            await send({}, "stop")
        usage = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        await send({}, usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
