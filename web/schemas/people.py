"""/api/v1/people: requesters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from web.schemas.common import Email, Input, Name, PageQuery, PersonRef, PhoneText, Short, _clean, _single_line


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
    created_at: datetime
    updated_at: datetime


class PersonPage(BaseModel):
    items: list[PersonOut]
    next: str | None
