"""/api/v1/canned-responses: replies agents reuse, personal or shared, filled in from a ticket."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from web.schemas.common import Body, Input, Title
from web.schemas.tickets import TicketRef


class CannedCreate(Input):
    title: Title
    body: Body = Field(description="The text; placeholders such as {{ticket.number}} are filled in by render.")
    shared: bool = Field(False, description="Shared with the team (supervisors and admins); else your own.")


class CannedPatch(Input):
    """Only the fields present change."""

    title: Title = None  # type: ignore[assignment]
    body: Body = None  # type: ignore[assignment]


class CannedOut(BaseModel):
    id: int
    title: str
    body: str
    shared: bool
    owner: str | None = Field(description="Login of the agent whose response it is; null when shared.")
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class CannedPage(BaseModel):
    items: list[CannedOut] = Field(description="The shared responses, then your own, each by title.")
    placeholders: dict[str, str] = Field(description="The placeholders render fills in, with what each stands for.")


class Render(Input):
    ticket: TicketRef = Field(description="The ticket whose fields fill the placeholders (number or id).")


class Rendered(BaseModel):
    id: int
    title: str
    ticket: str = Field(description="The ticket's number.")
    body: str = Field(description="The body with the placeholders filled in.")
    unknown: list[str] = Field(description="Placeholders that do not exist: left in the body as they were.")
    empty: list[str] = Field(description="Placeholders the ticket has no value for: left in the body as they were.")
