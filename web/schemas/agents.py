"""/api/v1/agents: the IT team and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from tickets.languages import LANGUAGES, language_problem, time_zone_problem
from tickets.models import Role
from web.schemas.common import AgentRef, Email, Extension, Input, Login, Name, PageQuery, _clean, _single_line


class AgentListQuery(PageQuery):
    active: bool | None = None


class AgentCreate(Input):
    login: Login
    display_name: Name
    role: Role = Role.AGENT
    extension: Extension | None = None
    email: Email | None = None


class AgentPatch(Input):
    display_name: Name = None  # type: ignore[assignment]
    role: Role = None  # type: ignore[assignment]
    extension: Extension | None = None
    email: Email | None = None
    active: bool = None  # type: ignore[assignment]


class AgentOut(AgentRef):
    role: Role
    email: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class AgentPage(BaseModel):
    items: list[AgentOut]
    next: str | None


class TokenCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean), AfterValidator(_single_line)] = (
        "default"
    )


class TokenOut(BaseModel):
    id: int
    name: str
    hint: str = Field(description="The first characters of the token, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="The secret. Shown only in this response: store it now.")


class TokenList(BaseModel):
    items: list[TokenOut]


class AgentCreated(AgentOut):
    token: str = Field(description="A first API token for the agent. Shown only in this response.")


def _language(value: str | None) -> str | None:
    problem = None if value is None else language_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _time_zone(value: str | None) -> str | None:
    problem = None if value is None else time_zone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class MePatch(Input):
    """An agent's own preferences; ``null`` puts the default back."""

    language: Annotated[
        str | None,
        Field(json_schema_extra={"enum": [*LANGUAGES, None]}, description="en, ru or th"),
        AfterValidator(_language),
    ] = None
    time_zone: Annotated[
        str | None,
        Field(max_length=64, description='an IANA time zone, e.g. "Asia/Bangkok"'),
        AfterValidator(_time_zone),
    ] = None


class MeOut(AgentOut):
    language: Literal["en", "ru", "th"] = Field(
        description="The agent's choice, else the first of en, ru, th in the request's Accept-Language, else en."
    )
    time_zone: str = Field(
        description="The agent's IANA time zone, else the first [[sla.calendars]] entry's, else UTC."
    )
