"""Leadership on a real PostgreSQL: one leader per lock name, standbys take over when it steps down or its lock
connection dies, and the start-up migrations take turns. And what a new leader finds: calls left open by the
instance before it, ended meanwhile, are closed out (both backends)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio

from pbx.replay import Recording, ReplayServer, Session, Snapshot
from tests.support.ami import AMI, SECRET, USER, split_recording, until_caught_up
from tests.support.chaos import fresh_database, postgres_base
from tests.support.services import PG_ENV, service_missing
from tests.support.telephony import running, settings_for
from tests.support.waiting import GENEROUS, eventually
from tickets.models import Call
from web.runtime import runtime_of
from web.runtime.leadership import Leadership, advisory_lock, asyncpg_dsn, lock_key


@pytest_asyncio.fixture
async def dsn() -> AsyncIterator[str]:
    """A database of its own: the lock connections other test runs open elsewhere are not seen here."""
    if not os.environ.get(PG_ENV):
        service_missing(f"leadership tests need PostgreSQL: set {PG_ENV}")
    async with fresh_database(postgres_base()) as url:
        yield asyncpg_dsn(url)


class CountingLeadership(Leadership):
    """Leadership that counts its tries for the lock: a test waits for tries, not for the time they take."""

    tries = 0

    async def _try_lock(self) -> bool:
        taken = await super()._try_lock()
        self.tries += 1
        return taken


class Health:
    """A leader's health answer that notes when it was asked."""

    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.asked: list[float] = []

    def __call__(self) -> bool:
        self.asked.append(time.monotonic())
        return self.ok

    def checks_after(self, seconds: float) -> int:
        """The checks made ``seconds`` or more after the first one."""
        return sum(1 for t in self.asked if t - self.asked[0] >= seconds) if self.asked else 0


class Instance:
    """One contender, recording what its hooks were told."""

    def __init__(self, dsn: str, name: str, **options: Any) -> None:
        self.events: list[str] = []
        self.leading = asyncio.Event()

        async def elected() -> None:
            self.events.append("elected")
            self.leading.set()

        async def deposed() -> None:
            self.events.append("deposed")
            self.leading.clear()

        options = {"retry": 0.1, "check": 0.1, "timeout": 2.0, "instance": uuid.uuid4().hex[:12], **options}
        self.leadership = CountingLeadership(dsn, name, elected, deposed, **options)  # as in a process of its own

    async def tries_more(self, count: int) -> None:
        """Until this instance has tried for the lock ``count`` more times."""
        wanted = self.leadership.tries + count
        await eventually(lambda: self.leadership.tries >= wanted, what=f"{count} more tries for the lock")


@pytest_asyncio.fixture
async def pair(dsn: str) -> AsyncIterator[tuple[Instance, Instance]]:
    name = f"helpline.test:{uuid.uuid4().hex}"
    a, b = Instance(dsn, name), Instance(dsn, name)
    try:
        yield a, b
    finally:
        await a.leadership.stop()
        await b.leadership.stop()


def test_the_lock_key_is_stable_and_the_dsn_is_asyncpgs() -> None:
    assert lock_key("helpline.pbx:main") == lock_key("helpline.pbx:main") != lock_key("helpline.pbx:other")
    assert lock_key("helpline.pbx:main") == 2497686592714928341, "every instance and version derives the same key"
    assert (
        asyncpg_dsn("postgres://u:p@db:5432/helpline?maxsize=10&minsize=1&sslmode=require")
        == "postgresql://u:p@db:5432/helpline?sslmode=require"
    )


async def test_one_leader_and_the_standby_takes_over_when_it_steps_down(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.leadership.start()
    await asyncio.wait_for(a.leading.wait(), GENEROUS)
    b.leadership.start()
    await b.tries_more(3)  # the standby tries, and tries again
    assert (a.leadership.role, b.leadership.role) == ("leader", "standby") and b.events == []
    await a.leadership.stop()
    assert a.events == ["elected", "deposed"] and a.leadership.role == "standby"
    await asyncio.wait_for(b.leading.wait(), GENEROUS)
    assert b.leadership.role == "leader" and b.leadership.terms == 1


async def test_a_leader_whose_lock_connection_dies_stops_and_the_other_takes_over(
    dsn: str, pair: tuple[Instance, Instance]
) -> None:
    a, b = pair
    a.leadership.start()
    await asyncio.wait_for(a.leading.wait(), GENEROUS)
    b.leadership.start()
    await b.tries_more(1)  # b stands by
    admin = await asyncpg.connect(dsn)
    try:  # as an administrator (or a network fault) would: end the leader's session from outside
        pid = a.leadership._conn.get_server_pid()  # type: ignore[union-attr]
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await eventually(lambda: a.events == ["elected", "deposed"], what="a deposed")
    await asyncio.wait_for(b.leading.wait(), GENEROUS)
    await a.tries_more(3)  # a keeps trying, and stays a standby while b leads
    assert (a.leadership.role, b.leadership.role) == ("standby", "leader")
    assert a.events == ["elected", "deposed"]


async def test_a_leader_that_cannot_do_its_work_hands_over_when_another_instance_is_there(dsn: str) -> None:
    name = f"helpline.test:{uuid.uuid4().hex}"
    sick = Health(False)  # say, its host cannot reach the PBX
    a = Instance(dsn, name, healthy=sick, hand_over_after=0.3)
    b = Instance(dsn, name, healthy=lambda: True, hand_over_after=0.3)
    try:
        a.leadership.start()
        await asyncio.wait_for(a.leading.wait(), GENEROUS)
        # three health checks after it has been failing for hand_over_after: each would hand over to another
        await eventually(lambda: sick.checks_after(0.3) >= 3, what="a checked its health past hand_over_after")
        assert a.events == ["elected"], "alone, it keeps trying: there is nobody to hand over to"
        b.leadership.start()
        await asyncio.wait_for(b.leading.wait(), GENEROUS)
        assert a.events == ["elected", "deposed"]
        await a.tries_more(2)  # a sat out, tries again, and stands by: b is doing fine
        assert (a.leadership.role, b.leadership.role) == ("standby", "leader") and b.events == ["elected"]
    finally:
        await a.leadership.stop()
        await b.leadership.stop()


async def test_a_database_that_cannot_be_reached_leaves_the_instance_standing_by() -> None:
    dead = "postgresql://postgres@127.0.0.1:1/none"
    instance = Instance(dead, "helpline.test:unreachable")
    instance.leadership.start()
    try:
        await eventually(lambda: instance.leadership.last_error is not None, what="the failure shown")
        assert instance.leadership.role == "standby" and instance.events == []
    finally:
        await instance.leadership.stop()


async def test_the_migration_lock_lets_one_instance_in_at_a_time(dsn: str) -> None:
    """Each instance inside holds the lock until every instance still to come waits for it in PostgreSQL (or,
    were the lock broken, has come in too)."""
    name = f"helpline.test:{uuid.uuid4().hex}"
    inside: list[str] = []
    done: list[str] = []
    overlap = False
    admin = await asyncpg.connect(dsn)

    async def others_wait() -> bool:
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted "
            "AND d.datname = current_database()"
        )
        return overlap or waiting == 3 - len(done) - 1

    async def instance(label: str) -> None:
        nonlocal overlap
        async with advisory_lock(dsn, name):
            overlap = overlap or bool(inside)
            inside.append(label)
            await eventually(others_wait, what="the other instances wait for the lock")
            inside.remove(label)
            done.append(label)

    try:
        await asyncio.wait_for(asyncio.gather(*(instance(str(i)) for i in range(3))), 60)
    finally:
        await admin.close()
    assert not overlap and len(done) == 3


# -- a takeover after calls ended unseen ------------------------------------------------------------------------


async def test_calls_that_ended_while_nobody_listened_are_closed_out(database_url: str) -> None:
    """The instance following 12 calls goes away; they all end before the next one logs in (its resync finds no
    channel up): each is closed out (answered ones as answered, the others interrupted), none stays open."""
    first, _ = split_recording(AMI / "c_concurrent20_mixed.raw", 1500)
    nothing_up = {
        name: Snapshot([], {"Event": f"{label}Complete", "EventList": "Complete", "ListItems": "0"})
        for name, label in (("coreshowchannels", "CoreShowChannels"), ("queuestatus", "QueueStatus"))
    }
    quiet = Recording(first.path, b"", [], None, True, False, nothing_up)
    async with ReplayServer([Session(first), Session(quiet)], username=USER, secret=SECRET) as server:
        settings = settings_for(database_url, server.port)
        async with running(settings) as first_app:
            await until_caught_up(server, runtime_of(first_app).pbx["main"], streams=1)
            left_open = dict(await Call.exclude(state="ended").values_list("linkedid", "state"))
        assert len(left_open) >= 5, "the cut falls mid-calls"
        async with running(settings) as app:
            await until_caught_up(server, runtime_of(app).pbx["main"])  # its resync at login is done
            closed = {c.linkedid: c for c in await Call.filter(linkedid__in=list(left_open))}
            assert all(c.state == "ended" for c in closed.values()), "no call stays open forever"
            for linkedid, state in left_open.items():
                wanted = "answered" if state == "answered" else "interrupted"
                assert closed[linkedid].outcome.value == wanted, (linkedid, state, closed[linkedid].outcome)
            assert runtime_of(app).pbx["main"].counters.closed_out == len(left_open)
