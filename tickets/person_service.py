"""People who ask for help (requesters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from directory import CallerNumber
from tickets.clock import Clock, utcnow
from tickets.errors import Conflict, InvalidField, NotFound
from tickets.models import Person
from tickets.search import fold

PERSON_FIELDS = ("name", "email", "phone", "department", "title", "external_id", "vip")


class PersonService:
    """Creates, changes and finds requesters."""

    def __init__(self, clock: Clock = utcnow, *, region: str | None = "US") -> None:
        self.clock = clock
        self.region = region

    def phone_key(self, phone: str | None) -> str | None:
        """The comparable form of a phone number (what a caller's number is matched by)."""
        return CallerNumber.parse(phone, self.region).key if phone else None

    async def create(self, **values: Any) -> Person:
        unknown = set(values) - set(PERSON_FIELDS)
        if unknown:
            raise InvalidField(sorted(unknown)[0], "is not a field of a person")
        now = self.clock()
        try:
            return await Person.create(
                **values,
                search_text=_search_text(values),
                phone_key=self.phone_key(values.get("phone")),
                created_at=now,
                updated_at=now,
            )
        except IntegrityError:
            raise Conflict(f"a person with external_id {values.get('external_id')!r} already exists") from None

    async def get(self, person_id: int) -> Person:
        person = await Person.get_or_none(id=person_id) if 0 < person_id < 2**31 else None
        if person is None:
            raise NotFound(f"person {person_id} does not exist")
        return person

    async def update(self, person_id: int, changes: Mapping[str, Any]) -> Person:
        unknown = set(changes) - set(PERSON_FIELDS)
        if unknown:
            raise InvalidField(sorted(unknown)[0], "is not a field of a person")
        async with in_transaction():
            person = await self.get(person_id)
            for name, value in changes.items():
                setattr(person, name, value)
            person.search_text = _search_text({f: getattr(person, f) for f in PERSON_FIELDS})
            person.phone_key = self.phone_key(person.phone)
            person.updated_at = self.clock()
            try:
                await person.save()
            except IntegrityError:
                raise Conflict(f"a person with external_id {changes.get('external_id')!r} already exists") from None
        return person

    async def find(self, *, text: str | None = None, after: int | None = None, limit: int = 50) -> list[Person]:
        query = Person.all()
        if text:
            query = query.filter(search_text__contains=fold(text))
        if after is not None:
            query = query.filter(id__gt=after)
        return await query.order_by("id").limit(limit)


def _search_text(values: Mapping[str, Any]) -> str:
    return fold(values.get("name"), values.get("email"), values.get("phone"), values.get("department"))
