"""Waiting in tests for something to happen: poll a condition until it holds, within a generous deadline.

A fixed sleep is wrong both ways: on a loaded machine what it waits for comes later (a flaky failure), on an idle
one the test waits for nothing. These return as soon as the condition holds, and fail naming what was awaited
(and, with ``details``, what there was instead) only when a deadline that a working system never reaches passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: The default deadline: long enough for a 2-core machine running two suites, short enough to end a hung test.
GENEROUS = 30.0
#: How often a condition is looked at.
EVERY = 0.02


def _message(what: str | None, timeout: float, details: Callable[[], object] | None) -> str:
    text = f"{what or 'the condition'}: not within {timeout:g} s"
    return f"{text}\n{details()}" if details is not None else text


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = GENEROUS,
    *,
    what: str | None = None,
    every: float = EVERY,
    details: Callable[[], object] | None = None,
) -> T:
    """Await until ``check()`` (sync or async) returns something truthy, and return it. An exception ``check``
    raises (say, an assertion that something already went wrong) goes through at once."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        value: T = await result if inspect.isawaitable(result) else result  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_message(what, timeout, details))
        await asyncio.sleep(every)


def wait_until(
    check: Callable[[], T],
    timeout: float = GENEROUS,
    *,
    what: str | None = None,
    every: float = EVERY,
    details: Callable[[], object] | None = None,
) -> T:
    """Block until ``check()`` returns something truthy, and return it (for tests outside an event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(_message(what, timeout, details))
        time.sleep(every)


def quietly(check: Callable[[], Any], *errors: type[BaseException]) -> Callable[[], Any]:
    """``check``, with ``errors`` (say, "connection refused" while a server starts) meaning "not yet"."""

    def attempt() -> Any:
        try:
            return check()
        except errors:
            return None

    return attempt
