"""Reading a session recording back: its two channels, and where each has sound."""

from __future__ import annotations

import wave

import numpy as np

from opentelemetry_instrumentation_realtime_ai.recording import RATE

TOLERANCE_S = 0.020


def channels(path):
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)


def sounding(samples, gap_s=0.06, level=100):
    """(start, end) in seconds of the stretches with sound, gaps shorter than ``gap_s`` bridged."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > level)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > gap_s * RATE)
    starts = np.concatenate(([loud[0]], loud[breaks + 1]))
    ends = np.concatenate((loud[breaks], [loud[-1]])) + 1
    return [(s / RATE, e / RATE) for s, e in zip(starts, ends, strict=True)]


def runs(stamps, gap_s):
    """Ground truth: (start, end) of back-to-back chunks ``(t, seconds, sounding)``."""
    found: list[list[float]] = []
    for t, secs, loud in stamps:
        if not loud:
            continue
        if found and t <= found[-1][1] + gap_s:
            found[-1][1] = max(found[-1][1], t + secs)
        else:
            found.append([t, t + secs])
    return [tuple(r) for r in found]
