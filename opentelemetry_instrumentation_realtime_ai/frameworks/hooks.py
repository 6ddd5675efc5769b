"""Wrapping framework methods with wrapt, and undoing it exactly.

A method may be inherited rather than defined on the class we wrap it on (wrapping
``LLMService.push_frame`` to see only what LLM services push); unwrapping then deletes the
wrapper instead of pinning a copy of the inherited function on the class.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

_log = logging.getLogger(__name__)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run telemetry code so that no exception of ours reaches the app; log it at debug level."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:  # telemetry must never break the app
            _log.debug("realtime-ai instrumentation error in %s", fn.__qualname__, exc_info=True)
            return None

    return run


class Hooks:
    """The wrappers one framework installed, so that they can all be removed."""

    def __init__(self) -> None:
        self._installed: list[tuple[type, str, bool]] = []
        self.missing: list[str] = []

    def wrap(self, cls: type | None, method: str, wrapper: Callable[..., Any], label: str = "") -> None:
        """Wrap ``cls.method``; a class or method this framework version lacks is noted, not fatal."""
        if cls is None or not hasattr(cls, method):
            self.missing.append(label or f"{getattr(cls, '__name__', '?')}.{method}")
            return
        own = method in cls.__dict__
        wrapt.wrap_function_wrapper(cls, method, wrapper)
        self._installed.append((cls, method, own))

    def unwrap_all(self) -> None:
        for cls, method, own in reversed(self._installed):
            if own:
                unwrap(cls, method)
            elif isinstance(cls.__dict__.get(method), wrapt.FunctionWrapper):
                delattr(cls, method)
        self._installed.clear()
        self.missing.clear()
