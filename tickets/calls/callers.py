"""Who is calling: the interface the ticket intake asks, and the answer it gets.

:class:`PeopleByPhone` answers from the People helpline already knows; with ``[directory]`` configured,
:class:`tickets.calls.caller_index.DirectoryCallerLookup` answers from the index synced from Active Directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, cast

from directory import CallerNumber
from tickets.calls.aliases import ATTRIBUTE as ALIAS
from tickets.calls.aliases import TABLE, AliasSource
from tickets.models import Person


class MatchStatus(str, Enum):
    UNIQUE = "unique"  #: exactly one person has this number
    AMBIGUOUS = "ambiguous"  #: several people share it (a reception desk): the agent chooses
    NONE = "none"  #: nobody has it, or the number identifies nobody (anonymous, withheld)
    UNAVAILABLE = "unavailable"  #: the source could not be asked (directory down)


@dataclass(frozen=True)
class CallerMatch:
    status: MatchStatus
    person_id: int | None = None
    candidates: tuple[int, ...] = field(default_factory=tuple)
    #: answered from a directory index whose last sync failed: the answer may be out of date
    stale: bool = False
    #: the directory attribute the number matched (telephoneNumber, mobile, ipPhone...), ``alias`` for a local
    #: alias (:mod:`tickets.calls.aliases`), when known
    attribute: str | None = None


async def alias_match(key: str | None, aliases: AliasSource = TABLE) -> CallerMatch | None:
    """The answer of a local alias for ``key``, which every lookup gives before any other; None: there is none."""
    person_id = await aliases.person_of(key)
    return None if person_id is None else CallerMatch(MatchStatus.UNIQUE, person_id=person_id, attribute=ALIAS)


class CallerLookup(Protocol):
    """Finds the person behind a caller's number. Called outside any database transaction."""

    async def lookup(self, number: CallerNumber) -> CallerMatch: ...


class PeopleByPhone:
    """Matches the normalised number against the local aliases, then the ``phone`` of known People."""

    def __init__(self, aliases: AliasSource = TABLE) -> None:
        self.aliases = aliases

    async def lookup(self, number: CallerNumber) -> CallerMatch:
        if number.key is None:
            return CallerMatch(MatchStatus.NONE)
        alias = await alias_match(number.key, self.aliases)
        if alias is not None:
            return alias
        ids = cast(
            list[int],  # flat: values, not tuples (tortoise's types)
            await Person.filter(phone_key=number.key).order_by("id").limit(10).values_list("id", flat=True),
        )
        if not ids:
            return CallerMatch(MatchStatus.NONE)
        if len(ids) == 1:
            return CallerMatch(MatchStatus.UNIQUE, person_id=ids[0])
        return CallerMatch(MatchStatus.AMBIGUOUS, candidates=tuple(ids))
