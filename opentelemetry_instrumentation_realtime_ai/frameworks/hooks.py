"""Wrapping framework methods (with wrapt, or a plain function on the per-frame path), and undoing it exactly.

A method may be inherited rather than defined on the class we hook (``_call_event_handler``
on a transport class, defined on Pipecat's ``BaseObject``, which every frame processor calls
several times per frame). The hook then calls the inherited method through ``super()`` at
each call instead of holding the function it found: a later patch of the defining class (by
the app, a test, another instrumentation) still takes effect, and no class ever carries a
copy of a method it inherits. Unwrapping deletes what we put on the class.
"""

from __future__ import annotations

import functools
import inspect
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


def inherited(cls: type, method: str) -> Callable[..., Any]:
    """A stand-in for ``cls.method`` that calls what ``cls`` inherits for it at each call."""
    found = getattr(cls, method)
    if inspect.iscoroutinefunction(found):

        async def call_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await getattr(super(cls, self), method)(*args, **kwargs)

        return functools.wraps(found)(call_async)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(super(cls, self), method)(*args, **kwargs)

    return functools.wraps(found)(call)


class Hooks:
    """The wrappers one framework installed, so that they can all be removed."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self.missing: list[str] = []
        self.installed: list[tuple[type, str, bool]] = []
        """(class, method, whether the class defines it itself) for every hook in place."""

    def _found(self, cls: type | None, method: str, label: str) -> bool:
        if cls is None or not hasattr(cls, method):  # this framework version lacks it: noted, not fatal
            self.missing.append(label or f"{getattr(cls, '__name__', '?')}.{method}")
            return False
        return True

    def wrap(self, cls: type | None, method: str, wrapper: Callable[..., Any], label: str = "") -> None:
        """Wrap ``cls.method`` with wrapt: ``wrapper(wrapped, instance, args, kwargs)``."""
        if not self._found(cls, method, label):
            return
        assert cls is not None
        own = method in cls.__dict__
        if not own:
            setattr(cls, method, inherited(cls, method))
        wrapt.wrap_function_wrapper(cls, method, wrapper)
        self.installed.append((cls, method, own))

        def undo() -> None:
            if own:
                unwrap(cls, method)
            elif isinstance(cls.__dict__.get(method), wrapt.FunctionWrapper):
                delattr(cls, method)

        self._undo.append(undo)

    def patch(
        self,
        cls: type | None,
        method: str,
        make: Callable[[Callable[..., Any]], Any],
        parameters: tuple[str, ...],
        label: str = "",
    ) -> None:
        """Replace ``cls.method`` with the plain function ``make(original)``.

        For the per-frame hooks only: wrapt's generic call path (a bound wrapper object, an
        args tuple and a kwargs dict per call) costs about 0.7 µs, which on ~100,000 frame hops
        per session was as much as the hook itself. The replacement repeats the method's own
        ``parameters`` rather than forwarding ``*args, **kwargs`` (another ~0.2 µs a call), so a
        version whose method takes other parameters is not hooked: noted as missing.
        """
        if not self._found(cls, method, label):
            return
        assert cls is not None
        own = cls.__dict__.get(method)
        original = getattr(cls, method) if own is not None else inherited(cls, method)
        if tuple(inspect.signature(original).parameters) != parameters:
            self.missing.append(f"{label or method} (its parameters changed)")
            return
        replacement = functools.wraps(original)(make(original))
        setattr(cls, method, replacement)
        self.installed.append((cls, method, own is not None))

        def undo() -> None:
            if cls.__dict__.get(method) is not replacement:
                return  # wrapped again on top by someone else: theirs stays; ours passes through
            if own is None:
                delattr(cls, method)
            else:
                setattr(cls, method, own)

        self._undo.append(undo)

    def unwrap_all(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.missing.clear()
        self.installed.clear()
