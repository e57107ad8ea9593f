"""The shared store of short-lived security state (web/http/shared_marks.py), on SQLite and PostgreSQL: counts that
concurrent callers cannot race, marks that act once, expiry, and the purge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tickets.models import ExpiringMark
from web.http import shared_marks
from web.http.shared_marks import SharedMarks
from web.settings import Settings

T0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["returning", "transaction"])
def statement(request: pytest.FixtureRequest, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways: one INSERT ... RETURNING, and the transaction used on SQLite before 3.35 (PostgreSQL always has
    RETURNING)."""
    if request.param == "transaction":
        if not database_url.startswith("sqlite"):
            pytest.skip("PostgreSQL always answers RETURNING")
        monkeypatch.setattr(shared_marks, "_returning", lambda: False)
    return str(request.param)


async def test_concurrent_hits_each_get_their_own_count(orm: Settings, statement: str) -> None:
    marks = SharedMarks()
    counts = await asyncio.gather(*(marks.hit("login", "алиса", 300) for _ in range(40)))
    assert sorted(h.count for h in counts) == list(range(1, 41)), "no two callers saw the same count"
    assert len({h.expires_at for h in counts}) == 1, "one window"
    await marks.release("login", "алиса")
    assert (await marks.hit("login", "алиса", 300)).count == 40


async def test_a_window_ends_and_the_next_hit_starts_a_new_one(orm: Settings, statement: str) -> None:
    clock = Clock()
    marks = SharedMarks(clock)
    assert (await marks.hit("ip", "203.0.113.9", 60)).count == 1
    clock.now += timedelta(seconds=59)
    second = await marks.hit("ip", "203.0.113.9", 60)
    assert second.count == 2 and second.expires_at == T0 + timedelta(seconds=60)
    clock.now += timedelta(seconds=1)
    third = await marks.hit("ip", "203.0.113.9", 60)
    assert third.count == 1 and third.expires_at == clock.now + timedelta(seconds=60)


async def test_mark_once_says_who_was_first_until_the_mark_expires(orm: Settings, statement: str) -> None:
    clock = Clock()
    marks = SharedMarks(clock)
    firsts = await asyncio.gather(*(marks.mark_once("slack", "v0=abc", 600) for _ in range(20)))
    assert firsts.count(True) == 1
    assert await marks.is_marked("slack", "v0=abc") and not await marks.is_marked("twilio", "v0=abc")
    clock.now += timedelta(seconds=600)
    assert not await marks.is_marked("slack", "v0=abc")
    assert await marks.mark_once("slack", "v0=abc", 600), "expired: marked afresh"
    await marks.forget("slack", "v0=abc")
    assert await marks.mark_once("slack", "v0=abc", 600)


async def test_long_keys_and_many_keys(orm: Settings) -> None:
    marks = SharedMarks()
    long_key = "ไ" * 5000
    assert await marks.mark_once("t", long_key, 60) and not await marks.mark_once("t", long_key, 60)
    keys = [f"sid-{n}" for n in range(1200)]
    for key in keys[::3]:
        await marks.mark_once("session", key, 60)
    assert await marks.marked("session", keys + [long_key]) == set(keys[::3])


async def test_the_purge_deletes_expired_marks_only(orm: Settings) -> None:
    """A flood of other keys costs rows that expire one by one: nobody's lockout is wiped to make room."""
    clock = Clock()
    marks = SharedMarks(clock)
    for _ in range(6):
        await marks.hit("login", "alice", 300)
    flood = [
        ExpiringMark(kind="login", key=f"made-up-{n}", count=1, expires_at=T0 + timedelta(seconds=n % 120))
        for n in range(20_000)
    ]
    await ExpiringMark.bulk_create(flood, batch_size=2000)
    clock.now += timedelta(seconds=120)
    assert await marks.purge() == 20_000
    assert (await marks.hit("login", "alice", 300)).count == 7, "alice's count survived the flood and the purge"
    assert await ExpiringMark.all().count() == 1
