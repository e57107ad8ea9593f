"""Local aliases: "this number is ..." (an agent links a number nobody has to a person).

An alias is one row per number key (E.164, or ``ext:NNN`` for an internal extension), with the person, the agent who
made it and when. Every caller lookup asks it first (:func:`aliased_person`), so the intake, the re-match after a
sync and ``helpline directory lookup`` all answer it; no directory sync writes or removes aliases, so AD never
silently overrides one. A number has at most one alias: linking it to a second person is a conflict that names
the first. Each change is logged with who made it.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, cast

from tortoise.exceptions import IntegrityError

from directory import NumberPolicy
from tickets.actor import Actor
from tickets.clock import Clock, utcnow
from tickets.errors import Conflict, InvalidField, NotFound
from tickets.models import CallerAlias, Person

log = logging.getLogger(__name__)
ATTRIBUTE = "alias"  #: CallerMatch.attribute of an answer that came from an alias
MAX_PER_PERSON = 50
MAX_CACHED = 100_000  #: aliases kept in memory; with more, each lookup asks the table


class AliasSource(Protocol):
    """Who a number is a local alias of (:class:`AliasService`, or :func:`aliased_person` itself)."""

    async def person_of(self, key: str | None) -> int | None: ...


class _Table:
    async def person_of(self, key: str | None) -> int | None:
        return await aliased_person(key)


TABLE: AliasSource = _Table()  #: asks the table on every lookup (what a lookup without a service uses)


async def aliased_person(key: str | None) -> int | None:
    """The (enabled) person the number ``key`` is a local alias of, or None: then the other sources answer."""
    if key is None:
        return None
    ids = cast(  # flat: values, not tuples (tortoise's types)
        list[int], await CallerAlias.filter(key=key, person__disabled=False).values_list("person_id", flat=True)
    )
    return ids[0] if ids else None


async def alias_of(key: str | None) -> CallerAlias | None:
    """The alias row for ``key`` (to say who made it), or None."""
    return await CallerAlias.get_or_none(key=key) if key else None


class AliasService:
    """Adds and removes the local aliases of people; numbers are read with the site's :class:`NumberPolicy`.

    It also answers the lookups (:meth:`person_of`) from memory: the aliases of enabled people, read again
    ``ttl`` seconds after the last read (so another instance's change is seen within ``ttl``, as its syncs are) and
    at once after a change made here or a sync (:meth:`invalidate`).
    """

    def __init__(self, policy: NumberPolicy, clock: Clock = utcnow, *, ttl: float = 5.0) -> None:
        self.policy = policy
        self.clock = clock
        self.ttl = ttl
        self._cache: tuple[float, dict[str, int]] | None = None

    def invalidate(self) -> None:
        """Read the aliases again at the next lookup."""
        self._cache = None

    async def person_of(self, key: str | None) -> int | None:
        """The (enabled) person ``key`` is a local alias of, or None."""
        if key is None:
            return None
        now = time.monotonic()
        if self._cache is None or now - self._cache[0] > self.ttl:
            rows = await (
                CallerAlias.filter(person__disabled=False).limit(MAX_CACHED + 1).values_list("key", "person_id")
            )
            if len(rows) > MAX_CACHED:
                return await aliased_person(key)
            self._cache = (now, {str(k): int(p) for k, p in rows})
        return self._cache[1].get(key)

    async def of_person(self, person_id: int) -> list[CallerAlias]:
        return await CallerAlias.filter(person_id=person_id).order_by("id").limit(MAX_PER_PERSON)

    async def add(self, actor: Actor, person_id: int, raw: str) -> tuple[CallerAlias, bool]:
        """Link ``raw`` to the person; returns (the alias, whether it is new). The same number again for the same
        person is the alias already there; for another person a :class:`Conflict` that names them."""
        number = self.policy.parse(raw)
        if number.key is None:
            if number.national and self.policy.region is None:
                reason = (
                    "is written without +<country code> and [directory] default_region is not set: write it as +CC…"
                )
            else:
                reason = "is not a phone number that identifies anyone (withheld, unknown or unreadable)"
            raise InvalidField("number", reason)
        person = await Person.get_or_none(id=person_id)
        if person is None:
            raise NotFound(f"person {person_id} does not exist")
        if person.disabled:
            raise InvalidField(
                "person", f"{person.name} is disabled in the directory: a number of theirs matches nobody"
            )
        existing = await self._existing(number.key, person_id)
        if existing is not None:
            return existing, False
        if await CallerAlias.filter(person_id=person_id).count() >= MAX_PER_PERSON:
            raise InvalidField("number", f"a person has at most {MAX_PER_PERSON} local aliases")
        try:
            alias = await CallerAlias.create(
                key=number.key,
                number=number.e164 or number.extension or number.key,
                person_id=person_id,
                created_by_id=actor.agent_id,
                created_by_label=actor.label[:64],
                created_at=self.clock(),
            )
        except IntegrityError:  # made meanwhile by another agent
            existing = await self._existing(number.key, person_id)
            if existing is None:
                raise
            return existing, False
        self.invalidate()
        log.info("alias: %s linked %s to person #%d (%s)", actor.label, alias.number, person_id, person.name)
        return alias, True

    async def remove(self, actor: Actor, person_id: int, alias_id: int) -> CallerAlias:
        """Remove the person's alias ``alias_id``; returns it as it was."""
        alias = await CallerAlias.get_or_none(id=alias_id, person_id=person_id) if 0 < alias_id < 2**31 else None
        if alias is None:
            raise NotFound(f"person {person_id} has no alias {alias_id}")
        await CallerAlias.filter(id=alias.id).delete()
        self.invalidate()
        log.info(
            "alias: %s removed %s from person #%d (made by %s)",
            actor.label,
            alias.number,
            person_id,
            alias.created_by_label,
        )
        return alias

    async def _existing(self, key: str, person_id: int) -> CallerAlias | None:
        """The alias of ``key`` if it is this person's; a Conflict naming the other person if it is theirs."""
        alias = await CallerAlias.get_or_none(key=key)
        if alias is None:
            return None
        if alias.person_id != person_id:
            other = await Person.get_or_none(id=alias.person_id)
            name = other.name if other else f"person {alias.person_id}"
            raise Conflict(
                f"{alias.number} is already a local alias of {name} (#{alias.person_id}), made by "
                f"{alias.created_by_label}: remove it there first"
            )
        return alias
