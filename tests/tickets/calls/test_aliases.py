"""Local aliases as every helpline instance sees them: its own changes at once, another instance's within the TTL."""

from __future__ import annotations

from directory import NumberPolicy
from tests.support.waiting import eventually
from tickets.actor import Actor
from tickets.calls.aliases import AliasService
from tickets.models import Role
from tickets.person_service import PersonService
from web.settings import Settings

POLICY = NumberPolicy("TH")


async def test_a_change_is_seen_here_at_once_and_by_another_instance_within_its_ttl(orm: Settings) -> None:
    here, there = AliasService(POLICY, ttl=0.3), AliasService(POLICY, ttl=0.3)
    somchai = await PersonService(region="TH").create(name="สมชาย ใจดี")
    for instance in (here, there):  # both read (and keep) the aliases before this one exists
        assert await instance.person_of("+6621234567") is None
    alias, new = await here.add(Actor("alice", Role.AGENT), somchai.id, "02 123 4567")
    assert new and alias.number == "+6621234567"
    assert await here.person_of("+6621234567") == somchai.id  # this instance: at once
    assert await eventually(lambda: there.person_of("+6621234567"), what="the other instance sees the alias")
    await here.remove(Actor("bob", Role.AGENT), somchai.id, alias.id)
    assert await here.person_of("+6621234567") is None

    async def gone() -> bool:
        return await there.person_of("+6621234567") is None

    assert await eventually(gone, what="the other instance sees the removal")
