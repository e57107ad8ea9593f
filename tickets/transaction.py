"""The unit of work: one database transaction per change, however the use cases nest, and its events after it.

``unit_of_work()`` opens a transaction, or joins the one already open in this task: a use case called from another
one (the call intake opening a ticket, the PBX listener recording a burst of call facts) becomes part of the outer
change instead of nesting a savepoint. An error inside it therefore aborts the whole outer change; no caller here
catches an error and carries on in the same transaction.

Domain events handed to :func:`publish_after_commit` inside a unit of work are published when the outermost one
commits, and dropped if it rolls back: nobody hears of a ticket that does not exist.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from tortoise.transactions import in_transaction

from tickets.events import DomainEvent, Publisher

CONNECTION = "default"


class _Work:
    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[tuple[Publisher, DomainEvent]] = []


_current: ContextVar[_Work | None] = ContextVar("helpline_unit_of_work", default=None)


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[None]:
    """A new transaction, or the open one (joined, no savepoint)."""
    if _current.get() is not None:
        yield
        return
    work = _Work()
    token = _current.set(work)
    try:
        async with in_transaction(CONNECTION):
            yield
    finally:
        _current.reset(token)
    for publish, event in work.pending:  # committed
        result = publish(event)
        if inspect.isawaitable(result):
            await result


def in_unit_of_work() -> bool:
    """Whether this task is inside a unit of work (its changes are not committed yet)."""
    return _current.get() is not None


async def publish_after_commit(publish: Publisher, event: DomainEvent) -> None:
    """Publish ``event`` now, or when the unit of work this task is in commits."""
    work = _current.get()
    if work is not None:
        work.pending.append((publish, event))
        return
    result = publish(event)
    if inspect.isawaitable(result):
        await result
