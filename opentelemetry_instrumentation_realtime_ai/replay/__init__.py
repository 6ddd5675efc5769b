"""Offline replay of a session: one HTML page from its spans (and its recording, if any).

``python -m opentelemetry_instrumentation_realtime_ai.replay SPANS [--audio WAV] -o OUT.html``
builds it from OTLP JSON lines; ``replay_dir`` writes it when each session ends.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..otlp_file import spans_to_dict
from . import model, page, spans


def build_page(
    span_list: Sequence[Any], out_path: str, *, session_id: str | None = None, audio: str | None = None
) -> str:
    """Write the page of one session to ``out_path`` (atomically) and return the path.

    ``span_list``: ``spans.Span`` records, or SDK ``ReadableSpan`` objects, encoded here as the
    ``otlp_file`` exporter encodes them so that both give the same page.
    """
    records = list(span_list)
    if records and not isinstance(records[0], spans.Span):
        records = list(spans.from_request(spans_to_dict(records)))
    data = model.build(records, session_id)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    html = page.render(data, page.audio_info(audio, out_dir) if audio else None)
    temporary = f"{out_path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(html)
    os.replace(temporary, out_path)
    return out_path


__all__ = ["build_page", "model", "page", "spans"]
