"""What every ``helpline`` command shares: the failure it reports, and running a task with the database open."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from web.settings.config import Settings


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
