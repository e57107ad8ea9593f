"""Database wiring: the tortoise configuration, migrations, and the schema state check."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

from web.runtime.leadership import advisory_lock, asyncpg_dsn
from web.settings import DatabaseSettings

log = logging.getLogger(__name__)

#: Each package that stores something is a tortoise app with its own migrations package.
APPS: dict[str, dict[str, Any]] = {
    "tickets": {"models": ["tickets.models"], "migrations": "tickets.migrations"},
    "notify": {"models": ["notify.models"], "migrations": "notify.migrations"},
}


def _apps_config() -> dict[str, dict[str, Any]]:
    return {label: {**app, "default_connection": "default"} for label, app in APPS.items()}


#: For tortoise's own CLI, used to write new migrations (see docs/development.md):
#: ``python -m tortoise -c web.runtime.db.TORTOISE_ORM makemigrations -n <what_changed>``
TORTOISE_ORM: dict[str, Any] = {"connections": {"default": "sqlite://:memory:"}, "apps": _apps_config()}


def tortoise_config(db: DatabaseSettings) -> dict[str, Any]:
    """The tortoise-orm configuration dict for ``db``."""
    return {
        "connections": {"default": connection_url(db)},
        "apps": _apps_config(),
        "use_tz": True,
        "timezone": "UTC",
    }


def connection_url(db: DatabaseSettings) -> str:
    """The URL tortoise connects with: SQLite tuned for a server, PostgreSQL with the configured pool size."""
    url = db.url.get_secret_value()
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if db.is_sqlite:
        path = url.split("://", 1)[1].split("?", 1)[0]
        if path not in (":memory:", ""):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WAL is tortoise's default; NORMAL is durable in WAL mode except against power loss of the last commits.
        query.setdefault("journal_mode", "WAL")
        query.setdefault("synchronous", "NORMAL")
        query.setdefault("busy_timeout", "5000")
    else:
        if parts.scheme == "postgresql":
            parts = parts._replace(scheme="postgres")
        query.setdefault("maxsize", str(db.pool_max))
        query.setdefault("minsize", "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


async def pending_migrations(db: DatabaseSettings) -> tuple[list[str], bool]:
    """Migrations not yet applied, and whether the database has none applied at all (a fresh database).

    Needs an initialised Tortoise context (see :func:`open_orm`).
    """
    connection = get_connection("default")
    # tortoise reads "no migrations applied" from any failure to read its table, an unreachable server included:
    # ask something that cannot fail for another reason first, so that such a server is an error, not "empty".
    await connection.execute_query("SELECT 1")
    executor = MigrationExecutor(connection, _apps_config())
    steps = await executor.plan(None)
    names = [f"{step.migration.app_label}.{step.migration.name}" for step in steps if not step.backward]
    fresh = not await executor.recorder.applied_migrations()
    return names, fresh


#: The advisory lock that serialises migrations across instances.
MIGRATION_LOCK = "helpline.migrate"


class SchemaOutOfDate(RuntimeError):
    """The database has migrations applied, but not all of them."""


async def prepare(db: DatabaseSettings) -> None:
    """Migrate a fresh (empty) database; refuse one whose schema is behind (that needs a deliberate upgrade).

    On PostgreSQL, instances starting together take turns (an advisory lock): the first migrates, the others then
    find nothing pending."""
    async with _migration_lock(db):
        await _prepare(db)


@contextlib.asynccontextmanager
async def _migration_lock(db: DatabaseSettings) -> AsyncIterator[None]:
    """On PostgreSQL, one instance (or ``helpline db upgrade``) at a time; on SQLite, nothing to do."""
    if db.is_sqlite:
        yield
        return
    async with advisory_lock(asyncpg_dsn(db.url.get_secret_value()), MIGRATION_LOCK):
        yield


async def _prepare(db: DatabaseSettings) -> None:
    pending, fresh = await pending_migrations(db)
    if not pending:
        return
    if fresh:
        log.info("empty database: applying %d migrations", len(pending))
        await _upgrade()
        return
    raise SchemaOutOfDate(
        f"the database schema is behind this version of helpline ({len(pending)} migrations pending: "
        f"{', '.join(pending)}); back it up, then run: helpline db upgrade"
    )


async def upgrade(db: DatabaseSettings) -> list[str]:
    """Apply every pending migration; returns their names. Needs an initialised Tortoise context. On PostgreSQL
    under the migration lock (an instance starting meanwhile waits, then finds the schema up to date)."""
    async with _migration_lock(db):
        return await _upgrade()


async def _upgrade() -> list[str]:
    connection = get_connection("default")
    executor = MigrationExecutor(connection, _apps_config())
    done: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            done.append(f"{app_label}.{name}")
            log.info("migration applied: %s.%s", app_label, name)

    await executor.migrate(None, progress=progress)
    return done


async def open_orm(db: DatabaseSettings) -> None:
    """Initialise tortoise for a command-line task (the web app uses RegisterTortoise instead)."""
    EXECUTOR_CACHE.clear()
    await Tortoise.init(config=tortoise_config(db), _enable_global_fallback=True)


async def close_orm() -> None:
    await Tortoise.close_connections()
    EXECUTOR_CACHE.clear()
