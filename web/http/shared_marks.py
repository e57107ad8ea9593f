"""Short-lived security state that every helpline instance shares, in the database (one table, ``expiring_mark``).

Each mark is a ``(kind, key)`` with a count and an expiry time:

* :meth:`SharedMarks.hit` counts an attempt within a window and returns the count, atomically (one
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement): concurrent requests on any instance each get their
  own number (login limits);
* :meth:`SharedMarks.mark_once` marks a key until it expires and says whether it was the first to do so (a webhook
  acted on once; an ended session);
* :meth:`SharedMarks.marked` says which keys are marked now (a few keys in one query);
* :class:`MarkPurger` deletes expired rows now and then, so the table holds at most what the windows allow.

Times come from the instances' clocks (keep them in sync with NTP, as for the SLA clocks). Keys longer than
:data:`MAX_KEY` characters are stored as their SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from tickets.clock import Clock, utcnow
from tickets.models import ExpiringMark
from web.tasks import Periodic

log = logging.getLogger(__name__)
MAX_KEY = 200
#: Keys asked about in one query (SQLite allows a few thousand parameters per statement).
CHUNK = 500
#: How often each instance deletes expired marks.
PURGE_EVERY = 300.0


@dataclass(frozen=True)
class Hit:
    """The count of attempts in the current window, and when that window ends."""

    count: int
    expires_at: datetime


def stored_key(key: str) -> str:
    """``key`` as stored: itself, or ``sha256:<hex>`` when too long."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _returning() -> bool:
    """Whether the database answers ``INSERT ... RETURNING`` (PostgreSQL; SQLite since 3.35)."""
    dialect = ExpiringMark._meta.db.capabilities.dialect
    return dialect == "postgres" or sqlite3.sqlite_version_info >= (3, 35)


def _sql(statement: str) -> str:
    """``statement`` written with ``$1, $2 ...`` placeholders, in the current database's style."""
    if ExpiringMark._meta.db.capabilities.dialect == "postgres":
        return statement
    for n in range(9, 0, -1):
        statement = statement.replace(f"${n}", f"?{n}")
    return statement


_INSERT = 'INSERT INTO expiring_mark (kind, "key", "count", expires_at) VALUES ($1, $2, 1, $3) '
#: A new window (count 1) when the last one has ended, else one more in the current window.
_HIT = (
    _INSERT + 'ON CONFLICT (kind, "key") DO UPDATE SET '
    '"count" = CASE WHEN expiring_mark.expires_at <= $4 THEN 1 ELSE expiring_mark."count" + 1 END, '
    "expires_at = CASE WHEN expiring_mark.expires_at <= $4 THEN excluded.expires_at "
    "ELSE expiring_mark.expires_at END"
)
#: Changes nothing (and returns no row) while an unexpired mark is there.
_MARK = (
    _INSERT + 'ON CONFLICT (kind, "key") DO UPDATE SET "count" = 1, expires_at = excluded.expires_at '
    "WHERE expiring_mark.expires_at <= $4"
)


class SharedMarks:
    """Counts and marks in the ``expiring_mark`` table (see the module's description)."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    async def hit(self, kind: str, key: str, window: float) -> Hit:
        """Count one attempt of ``key``; a window of ``window`` seconds starts at the first attempt after the
        previous window ended. Returns the count including this attempt."""
        now = self.clock()
        values = [kind, stored_key(key), now + timedelta(seconds=window), now]
        db = ExpiringMark._meta.db
        if _returning():
            rows = await db.execute_query_dict(_sql(_HIT + ' RETURNING "count", expires_at'), values)
        else:  # SQLite before 3.35: one connection, so the transaction is the only writer
            async with in_transaction() as tx:
                await tx.execute_query(_sql(_HIT), values)
                rows = await tx.execute_query_dict(
                    _sql('SELECT "count", expires_at FROM expiring_mark WHERE kind = $1 AND "key" = $2'), values[:2]
                )
        row = rows[0]
        expires = row["expires_at"]  # SQLite: the text its adapter wrote
        return Hit(int(row["count"]), expires if isinstance(expires, datetime) else datetime.fromisoformat(expires))

    async def release(self, kind: str, key: str) -> None:
        """Take one attempt back (it turned out to be a success, which the limit does not count)."""
        await ExpiringMark.filter(kind=kind, key=stored_key(key), count__gt=0).update(count=F("count") - 1)

    async def mark_once(self, kind: str, key: str, ttl: float) -> bool:
        """Mark ``key`` for ``ttl`` seconds. True if it was not marked (this caller is the first), False if it
        already was and has not expired."""
        now = self.clock()
        values = [kind, stored_key(key), now + timedelta(seconds=ttl), now]
        db = ExpiringMark._meta.db
        if _returning():
            return bool(await db.execute_query_dict(_sql(_MARK + ' RETURNING "count"'), values))
        async with in_transaction() as tx:
            changed, _ = await tx.execute_query(_sql(_MARK), values)
            return bool(changed)

    async def marked(self, kind: str, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are marked (and not expired) now."""
        by_stored = {stored_key(key): key for key in keys}
        stored = list(by_stored)
        found: set[str] = set()
        now = self.clock()
        for start in range(0, len(stored), CHUNK):
            rows = await ExpiringMark.filter(
                kind=kind, key__in=stored[start : start + CHUNK], expires_at__gt=now
            ).values_list("key", flat=True)
            found.update(by_stored[str(row)] for row in rows)
        return found

    async def is_marked(self, kind: str, key: str) -> bool:
        return bool(await self.marked(kind, [key]))

    async def forget(self, kind: str, key: str) -> None:
        """Remove the mark (or count) of ``key``."""
        await ExpiringMark.filter(kind=kind, key=stored_key(key)).delete()

    async def purge(self) -> int:
        """Delete expired marks; returns how many."""
        return int(await ExpiringMark.filter(expires_at__lte=self.clock()).delete())


class MarkPurger(Periodic):
    """Deletes expired marks every :data:`PURGE_EVERY` seconds (every instance does; deleting twice is harmless)."""

    what = "shared marks: the purge of expired marks"

    def __init__(self, marks: SharedMarks, every: float = PURGE_EVERY) -> None:
        super().__init__(every)
        self.marks = marks

    async def tick(self) -> None:
        removed = await self.marks.purge()
        if removed:
            log.debug("shared marks: %d expired marks deleted", removed)
