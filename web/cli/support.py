"""What every ``helpline`` command shares: the failure it reports, and running a task with the database open and
the process's parts built (the same :class:`~web.runtime.Runtime` the server runs on)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from web.settings import Settings

if TYPE_CHECKING:
    from web.runtime import Runtime


class CommandFailed(Exception):
    """A command could not do its job; the message says why and what to do."""


def with_database(settings: Settings, task: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``task`` with the ORM open on ``settings.database``; database trouble becomes :class:`CommandFailed`."""
    import asyncpg
    from tortoise.exceptions import DBConnectionError, OperationalError

    from web.runtime import db

    # PostgreSQL's own refusals (an unknown role, a wrong password) arrive as asyncpg errors, untranslated
    refused = (DBConnectionError, OperationalError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)

    async def run() -> Any:
        try:
            await db.open_orm(settings.database)
            return await task()
        except db.SchemaOutOfDate as exc:
            raise CommandFailed(str(exc)) from None
        except refused as exc:
            raise CommandFailed(
                f"cannot use the database {settings.database.redacted_url()}: {exc}. "
                "Check [database] url / HELPLINE_DATABASE_URL and that the server is running."
            ) from None
        finally:
            await db.close_orm()

    return asyncio.run(run())


def with_runtime(settings: Settings, task: Callable[[Runtime], Awaitable[Any]], *, prepare: bool = False) -> Any:
    """Run ``task`` with the process's parts built for ``settings`` and the database open (``prepare``: an empty
    database is migrated first, as ``helpline serve`` does); what the parts hold is released afterwards."""
    from web.runtime import build_runtime, db

    async def run() -> Any:
        runtime = build_runtime(settings)
        try:
            if prepare:
                await db.prepare(settings.database)
            return await task(runtime)
        finally:
            await runtime.stop()

    return with_database(settings, run)
