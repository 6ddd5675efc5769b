"""One self-contained HTML page per session: styles, scripts (wavesurfer.js vendored) and data inline.

The recording is referenced by a path relative to the page and drawn from peaks computed here,
so the page opens from disk with nothing fetched (its Content-Security-Policy forbids it).
"""

from __future__ import annotations

import json
import os
import re
import wave
from array import array
from importlib import resources
from typing import Any

PEAKS_PER_SECOND = 50
MAX_PEAKS = 20_000
"""Per channel: past it the buckets widen, so a long call's page stays small."""


def _asset(name: str) -> str:
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")


def audio_info(wav_path: str, page_dir: str) -> dict[str, Any]:
    """The recording as the page needs it: a relative ``src``, its duration and per-channel peaks."""
    with wave.open(wav_path, "rb") as wav:
        channels, rate, frames = wav.getnchannels(), wav.getframerate(), wav.getnframes()
        if wav.getsampwidth() != 2:
            raise ValueError(f"{wav_path}: 16-bit PCM expected")
        buckets = max(1, min(MAX_PEAKS, round(frames / rate * PEAKS_PER_SECOND)))
        per_bucket = max(1, -(-frames // buckets))
        peaks: list[list[float]] = [[] for _ in range(channels)]
        while True:
            block = wav.readframes(per_bucket)
            if not block:
                break
            samples = array("h", block)
            for channel in range(channels):
                part = samples[channel::channels]
                peaks[channel].append(round(max(max(part), -min(part)) / 32768, 4) if part else 0.0)
    src = os.path.relpath(os.path.abspath(wav_path), os.path.abspath(page_dir)).replace(os.sep, "/")
    return {"src": src, "duration": round(frames / rate, 3), "peaks": peaks}


def _inline_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render(model: dict[str, Any], audio: dict[str, Any] | None = None) -> str:
    data = dict(model, audio=audio)
    replacements = {
        "{{title}}": _escape(str(model["session"]["id"])),
        "{{css}}": _asset("replay.css"),
        "{{data}}": _inline_json(data),
        "{{wavesurfer}}": _asset("wavesurfer/wavesurfer.min.js").replace("</script", "<\\/script"),
        "{{js}}": _asset("replay.js"),
    }
    # one pass over the template: a value (the data) holding a marker's text stays as it is
    return re.sub(r"\{\{\w+\}\}", lambda match: replacements[match.group(0)], _asset("page.html"))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
