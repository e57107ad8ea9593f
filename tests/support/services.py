"""The services the suite runs against (PostgreSQL, the machine's clock): skipped, or failed under
HELPLINE_REQUIRE_ALL=1, when one is missing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

PG_ENV = "HELPLINE_TEST_POSTGRES_URL"


REQUIRE_ALL = os.environ.get("HELPLINE_REQUIRE_ALL") == "1"


def service_missing(what: str) -> None:
    """Skip, or fail under HELPLINE_REQUIRE_ALL=1, because ``what`` is not available."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} (HELPLINE_REQUIRE_ALL=1 forbids skipping)", pytrace=False)
    pytest.skip(what)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


#: The suite runs under libfaketime (``suite-in-the-future.sh``): see :func:`queue_timeouts`.
UNDER_LIBFAKETIME = "faketime" in os.environ.get("LD_PRELOAD", "") and bool(os.environ.get("FAKETIME"))


def machine_clock(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without libfaketime, for the servers tests start that must keep the machine's clock when the
    suite runs with a shifted one (``suite-in-the-future.sh``): the shared Samba DC (other runs use it too), and
    redis-server (it cannot run under libfaketime). Like PostgreSQL, they are services outside the run."""
    env = {k: v for k, v in environ.items() if not k.startswith("FAKETIME")}
    preload = [lib for lib in env.pop("LD_PRELOAD", "").split() if "faketime" not in lib]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return env


def pg_url(base: str, database: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + database))


@dataclass
class PostgresDatabase:
    url: str

    async def empty(self) -> None:
        conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r["tablename"] for r in rows if r["tablename"] not in KEEP_TABLES]
            if tables:
                await conn.execute(
                    f"TRUNCATE {', '.join(chr(34) + t + chr(34) for t in tables)} RESTART IDENTITY CASCADE"
                )
            await conn.execute("INSERT INTO counter (name, value) VALUES ('ticket', 0)")
        finally:
            await conn.close()


#: Tables emptied between PostgreSQL tests (everything but the migration bookkeeping).
KEEP_TABLES = {"tortoise_migrations"}
