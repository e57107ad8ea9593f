"""/api/v1/people: requesters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from web.schemas.calls import CallOut
from web.schemas.common import Email, Input, Name, PageQuery, PersonRef, PhoneText, Short, _clean, _single_line
from web.schemas.tickets import TicketOut


class PeopleQuery(PageQuery):
    q: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)] | None = None


class PersonCreate(Input):
    name: Name
    email: Email | None = None
    phone: PhoneText | None = None
    department: Short | None = None
    title: Short | None = None
    external_id: (
        Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean), AfterValidator(_single_line)] | None
    ) = None
    vip: bool = False


class PersonPatch(Input):
    name: Name = None  # type: ignore[assignment]
    email: Email | None = None
    phone: PhoneText | None = None
    department: Short | None = None
    title: Short | None = None
    external_id: (
        Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean), AfterValidator(_single_line)] | None
    ) = None
    vip: bool = None  # type: ignore[assignment]


class PersonOut(PersonRef):
    external_id: str | None
    office: str | None = Field(description="From Active Directory (physicalDeliveryOfficeName)")
    country: str | None = Field(
        description="From Active Directory (c, ISO 3166 two letters): how their numbers without +<country code> "
        "are read"
    )
    created_at: datetime
    updated_at: datetime


class AliasCreate(Input):
    number: PhoneText = Field(
        description="The number as the PBX shows it or as written (read with [directory] default_region): "
        "+66 2 123 4567, 5551230001, an extension"
    )


class AliasOut(BaseModel):
    """A local alias: a number an agent linked to this person. Every caller lookup answers it first."""

    id: int
    person_id: int
    number: str = Field(description="E.164 (+15551230001), or the internal extension")
    created_by: str = Field(description="Login of the agent who made it")
    created_at: datetime


class PersonDetail(PersonOut):
    """A person with their local aliases."""

    aliases: list[AliasOut]


class PersonGlance(BaseModel):
    """A person at a glance: who they are, their tickets (open ones first) and their recent calls."""

    person: PersonDetail
    open_tickets: int = Field(description="How many open tickets they have (up to 20 are listed)")
    tickets: list[TicketOut] = Field(
        description="Their open tickets, newest first, then up to 5 resolved or closed ones, newest first"
    )
    calls: list[CallOut] = Field(
        description="Their 10 most recent calls: from any of their numbers or on their tickets"
    )


class PersonPage(BaseModel):
    items: list[PersonOut]
    next: str | None
