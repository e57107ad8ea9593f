"""Leadership across helpline instances: PostgreSQL session advisory locks on dedicated connections.

* :class:`Leadership`: one lock (say ``helpline.pbx:main``) contended by every instance. The holder is the leader
  and runs the work (the PBX listener); the others are standbys and retry every ``retry`` seconds. The lock lives
  as long as its database session, so it is held on a dedicated asyncpg connection (not in tortoise's pool, whose
  connections come and go). The leader checks that connection every ``check`` seconds (and hears at once when asyncpg
  sees it close): when it is gone, the lock may already be someone else's, so the work is stopped before anything else.
* :func:`advisory_lock`: a blocking lock for a short critical section (the migrations at start-up).

On SQLite there is one instance by definition: nothing here is used (the role is ``single``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Role = Literal["single", "leader", "standby"]
#: Query parameters of tortoise's URL that are pool settings, not libpq/asyncpg ones.
_POOL_PARAMS = {"minsize", "maxsize", "max_queries", "max_inactive_connection_lifetime", "schema"}
#: This process, as its lock connections name it (``application_name``: ``helpline-lock <id>``).
INSTANCE_ID = uuid.uuid4().hex[:12]
#: The lock connections of other instances on this database (the leader's health check query, too).
OTHER_INSTANCES = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'helpline-lock %' "
    "AND application_name <> $1 AND datname = current_database()"
)
#: Errors that mean "the lock connection is gone or unusable".
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (the same in every instance and Python version)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def asyncpg_dsn(url: str) -> str:
    """The database URL as asyncpg takes it: ``postgresql://`` without tortoise's pool parameters."""
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in _POOL_PARAMS])
    return urlunsplit(parts._replace(scheme="postgresql", query=query))


async def _connect(dsn: str, timeout: float, instance: str = INSTANCE_ID) -> asyncpg.Connection:
    settings = {"application_name": f"helpline-lock {instance}"}
    return await asyncpg.connect(dsn, timeout=timeout, server_settings=settings)


@contextlib.asynccontextmanager
async def advisory_lock(dsn: str, name: str, *, timeout: float = 120.0) -> AsyncIterator[None]:
    """Hold the exclusive advisory lock ``name`` (waiting up to ``timeout`` s for it) on a connection of its own."""
    conn = await _connect(dsn, 10.0)
    try:
        await conn.execute(f"SET lock_timeout = {int(timeout * 1000)}")
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key(name))
        try:
            yield
        finally:
            with contextlib.suppress(*CONNECTION_ERRORS):
                await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(name))
    finally:
        await conn.close(timeout=2)


class HandOver(Exception):
    """The leader's work has been failing for a while and another instance is there to try: let it."""


class Leadership:
    """Be the leader for ``name`` while holding its advisory lock: ``on_elected`` runs when the lock is taken,
    ``on_deposed`` when it is (or may be) lost, and at :meth:`stop` if leading. Both are awaited in order.

    ``healthy`` (optional) says whether the leader's work is going (the PBX connection is up). When it has not been
    for ``hand_over_after`` seconds and another instance is contending, the leader steps down and sits out
    ``hand_over_after`` seconds, so that an instance that may reach the PBX gets the lock."""

    def __init__(
        self,
        dsn: str,
        name: str,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        *,
        retry: float = 1.0,
        check: float = 1.0,
        timeout: float = 3.0,
        healthy: Callable[[], bool] | None = None,
        hand_over_after: float = 30.0,
        instance: str = INSTANCE_ID,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.key = lock_key(name)
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.retry = retry  #: seconds between two tries of a standby
        self.check = check  #: seconds between two health checks of the leader's lock connection
        self.timeout = timeout  #: connect / query timeout on the lock connection
        self.healthy = healthy
        self.hand_over_after = hand_over_after
        self.instance = instance  #: tells this instance's lock connections from the others'
        self.role: Role = "standby"
        self.terms = 0  #: times this instance became the leader
        self.last_error: str | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"leadership:{self.name}")

    async def stop(self) -> None:
        """Stop contending; step down (work stopped first, then the lock released) if leading."""
        await cancel_and_wait(self._task)
        self._task = None
        await self._step_down("shutting down", expected=True)
        await self._close()

    async def _run(self) -> None:
        while True:
            try:
                if await self._try_lock():
                    await self._lead()
            except HandOver as exc:
                await self._step_down(str(exc))
                await self._close()
                await asyncio.sleep(self.hand_over_after)
            except CONNECTION_ERRORS as exc:
                self._failed(exc)
                await self._step_down(f"lock connection failed: {exc}")
                await self._close()
            except Exception as exc:  # a bug in a hook: never keep leading blind
                log.exception("leadership %s: unexpected failure", self.name)
                self.last_error = f"{type(exc).__name__}: {exc}"
                await self._step_down("unexpected failure")
                await self._close()
            await asyncio.sleep(self.retry)

    async def _try_lock(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            self._lost.clear()
            self._conn = await _connect(self.dsn, self.timeout, self.instance)
            self._conn.add_termination_listener(lambda _conn: self._lost.set())
        taken = bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=self.timeout))
        self.last_error = None
        return taken

    async def _lead(self) -> None:
        self.role, self.terms = "leader", self.terms + 1
        log.info("leadership %s: this instance is the leader now", self.name)
        await self.on_elected()
        failing_since: float | None = None
        while True:  # the term lasts while the lock connection answers
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.check)
            assert self._conn is not None
            if self._lost.is_set() or self._conn.is_closed():
                raise ConnectionResetError("the lock connection was closed")
            others = await self._conn.fetchval(OTHER_INSTANCES, f"helpline-lock {self.instance}", timeout=self.timeout)
            if self.healthy is None or self.healthy():
                failing_since = None
                continue
            failing_since = failing_since or time.monotonic()
            if others and time.monotonic() - failing_since >= self.hand_over_after:
                raise HandOver(f"not working for {self.hand_over_after:g} s; another instance may do better")

    async def _step_down(self, reason: str, *, expected: bool = False) -> None:
        if self.role != "leader":
            return
        self.role = "standby"
        log.log(logging.INFO if expected else logging.WARNING, "leadership %s: stepping down (%s)", self.name, reason)
        await self.on_deposed()

    def _failed(self, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".strip()
        if text != self.last_error:
            log.warning("leadership %s: %s; retrying every %g s", self.name, text, self.retry)
        self.last_error = text

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)  # ends the session: PostgreSQL releases its locks
            except Exception:
                conn.terminate()
