"""A real headless Chromium driven over the DevTools protocol, with the network cut off.

Pages are opened from disk; every request the page makes is recorded, so a test can assert
that nothing but the page's own files was asked for.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    # no network at all: every host resolves to nothing, and there is no proxy to reach
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
)


def binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium (apt-get install -y chromium)")
    return found


def screenshot(page: str, out: str, width: int = 1400, height: int = 900) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [binary(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--virtual-time-budget=3000", f"--screenshot={out}", Path(page).resolve().as_uri()],
            check=True, capture_output=True, timeout=60,
        )


class Browser:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._session = ""

    async def __aenter__(self) -> Browser:
        import websockets

        try:
            port, path = await self._start()
        except RuntimeError:
            # a headless Chromium now and then dies while starting on a loaded machine; one more try
            port, path = await self._start()
        self._ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)
        self._session = attached["sessionId"]
        await self.send("Network.enable")
        await self.send("Page.enable")
        return self

    async def _start(self) -> list[str]:
        """Chromium writes its port once it listens; a loaded CI machine can take tens of seconds to start it."""
        self._profile = tempfile.mkdtemp(prefix="chromium-")
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [binary(), *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0", "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while loop.time() < deadline:
            if port_file.exists():
                lines = port_file.read_text().splitlines()
                if len(lines) >= 2:
                    return lines[:2]
            if self._process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        exited = self._process.poll()  # None: still running after 60 s, not listening
        self._log.seek(0)
        tail = self._log.read()[-2000:].decode(errors="replace")
        self._stop()
        state = "still running after 60 s" if exited is None else f"exit {exited}"
        raise RuntimeError(f"chromium gave no DevTools port ({state}):\n{tail}")

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        self._stop()

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._pending:
                future = self._pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(RuntimeError(message["error"]))
                else:
                    future.set_result(message.get("result", {}))
            elif message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            else:
                self._events.append(message)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> Any:
        number = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        await self._ws.send(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def open(self, page: str | os.PathLike[str]) -> None:
        self._events.clear()
        await self.send("Page.navigate", {"url": Path(page).resolve().as_uri()})
        for _ in range(200):
            if any(e.get("method") == "Page.loadEventFired" for e in self._events):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{page} did not load")

    async def js(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element (scrolled into view first)."""
        box = await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center', inline: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1},
            )
