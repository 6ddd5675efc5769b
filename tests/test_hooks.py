"""Installing and removing hooks: originals come back exactly, other wrappers are left alone."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import wrapt

from opentelemetry_instrumentation_realtime_ai.frameworks.hooks import Hooks


class Base:
    async def push(self, frame: str) -> str:
        return f"base {frame}"


class Service(Base):
    async def own(self, frame: str) -> str:
        return f"own {frame}"


PARAMETERS = ("self", "frame")


def counting(seen: list[str]):
    def make(original):
        def hooked(self, frame):
            seen.append(frame)
            return original(self, frame)

        return hooked

    return make


def test_patch_calls_through_and_undo_restores_own_and_inherited_methods():
    seen: list[str] = []
    before = dict(vars(Service))
    hooks = Hooks()
    hooks.patch(Service, "push", counting(seen), PARAMETERS)  # inherited from Base
    hooks.patch(Service, "own", counting(seen), PARAMETERS)
    hooks.patch(Service, "missing", counting(seen), PARAMETERS, "Service.missing")

    assert asyncio.run(Service().push("a")) == "base a"
    assert asyncio.run(Service().own("b")) == "own b"
    assert seen == ["a", "b"]
    assert hooks.missing == ["Service.missing"]
    assert inspect.unwrap(Service.push) is Base.push  # introspection sees the original

    hooks.unwrap_all()
    assert dict(vars(Service)) == before
    assert "push" not in vars(Service)  # not pinned as a copy of the inherited method
    assert hooks.missing == []


def test_undo_leaves_a_wrapper_installed_on_top_of_ours():
    seen: list[str] = []
    hooks = Hooks()
    hooks.patch(Service, "own", counting(seen), PARAMETERS)
    theirs = wrapt.wrap_function_wrapper(Service, "own", lambda wrapped, instance, args, kwargs: wrapped(*args))
    try:
        hooks.unwrap_all()
        assert vars(Service)["own"] is theirs  # someone else's wrapper survives our uninstrument
        assert asyncio.run(Service().own("c")) == "own c"
    finally:
        Service.own = Service.own.__wrapped__.__wrapped__  # type: ignore[attr-defined]
    assert not hasattr(Service.own, "__wrapped__")


def test_a_method_with_other_parameters_is_not_hooked_and_is_reported():
    hooks = Hooks()
    hooks.patch(Service, "own", counting([]), ("self", "frame", "direction"), "Service.own")
    assert "own" in vars(Service) and not hasattr(Service.own, "__wrapped__")
    assert hooks.missing == ["Service.own (its parameters changed)"]


def _install_plain(hooks: Hooks, seen: list[str]) -> None:
    hooks.patch(Service, "push", counting(seen), PARAMETERS)


def _install_wrapt(hooks: Hooks, seen: list[str]) -> None:
    async def wrapper(wrapped, instance, args, kwargs):
        seen.append(args[0])
        return await wrapped(*args, **kwargs)

    hooks.wrap(Service, "push", wrapper)
    assert inspect.iscoroutinefunction(vars(Service)["push"].__wrapped__)  # still an async method


@pytest.mark.parametrize("install", [_install_plain, _install_wrapt])
def test_a_hook_on_an_inherited_method_follows_a_later_patch_of_the_base(install):
    """The app, a test or another instrumentation may patch the defining class after we hooked."""
    seen: list[str] = []
    hooks = Hooks()
    install(hooks, seen)
    original = Base.push

    async def patched(self, frame):
        return f"patched {frame}"

    Base.push = patched
    try:
        assert asyncio.run(Service().push("a")) == "patched a"
        assert seen == ["a"]  # still through our hook
    finally:
        Base.push = original
        hooks.unwrap_all()
    assert "push" not in vars(Service) and asyncio.run(Service().push("b")) == "base b"
