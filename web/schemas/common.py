"""What the API's shapes share: text rules (one line, not blank), common field types, the bases of bodies and
queries, references to people and agents, problem documents.

Every model of :mod:`web.schemas` appears in the OpenAPI document, which is generated from these classes, so the
document and the validation cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from tickets.text import is_blank, line_break_or_control


def _clean(value: str) -> str:
    """Refuse text a database cannot store faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it contains a lone surrogate)") from None
    return value


def _not_blank(value: str) -> str:
    if is_blank(value):
        raise ValueError("must not be blank (white space and invisible characters such as U+200B do not count)")
    return value


def _single_line(value: str) -> str:
    """Refuse control characters and line or paragraph separators in text that is one line: a name, a title. They
    would break the headers, messages and logs it ends up in."""
    char = line_break_or_control(value)
    if char is not None:
        raise ValueError(f"must be one line without control characters (it contains U+{ord(char):04X})")
    return value


Text = Annotated[str, AfterValidator(_clean)]


Title = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_clean),
    AfterValidator(_single_line),
    AfterValidator(_not_blank),
]


LongText = Annotated[str, Field(max_length=20_000), AfterValidator(_clean)]


Body = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_clean), AfterValidator(_not_blank)]


Group = Annotated[
    str,
    Field(min_length=1, max_length=64),
    AfterValidator(_clean),
    AfterValidator(_single_line),
    AfterValidator(_not_blank),
]


PhoneText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean), AfterValidator(_single_line)]


Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_clean),
    AfterValidator(_single_line),
    AfterValidator(_not_blank),
]


Short = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_clean), AfterValidator(_single_line)]


def _matching(pattern: str, explanation: str) -> AfterValidator:
    """Validate ``pattern`` with a message people understand (the pattern itself is in the OpenAPI schema)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(explanation)
        return value

    return AfterValidator(check)


_NOT_IN_EMAIL = r"@\t\n\v\f\r \x1c-\x1f\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


EMAIL_PATTERN = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+$"


Email = Annotated[
    str,
    Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(_clean),
    AfterValidator(_single_line),
    _matching(EMAIL_PATTERN, "must look like name@example.com"),
]


LOGIN_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


Login = Annotated[
    str,
    Field(json_schema_extra={"pattern": LOGIN_PATTERN}),
    _matching(LOGIN_PATTERN, "use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"),
]


EXTENSION_PATTERN = r"^[0-9A-Za-z*#+._-]{1,32}$"


Extension = Annotated[
    str,
    Field(json_schema_extra={"pattern": EXTENSION_PATTERN}),
    _matching(EXTENSION_PATTERN, "use 1-32 digits or letters (and * # + . _ -), e.g. 101"),
]


Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


Priority = Literal["P1", "P2", "P3", "P4"]


class Input(BaseModel):
    """Base of request bodies: unknown fields are rejected, types are not coerced from strings."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base of query strings: values arrive as text and are converted."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = None


class PersonRef(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    department: str | None
    title: str | None
    vip: bool


class AgentRef(BaseModel):
    id: int
    login: str
    display_name: str
    extension: str | None


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = Field(description="Stable identifier of the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field or query parameter.")
    detail: str


def _iso_datetime(value: object) -> object:
    """Query strings: an ISO 8601 date-time only (pydantic would also read "0.5" as a Unix time)."""
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
        r"([Zz]|[+-]\d{2}:\d{2})?",
        value,
    ):
        raise ValueError("write a date-time such as 2026-11-01T00:00:00Z")
    return value


QueryDatetime = Annotated[datetime, BeforeValidator(_iso_datetime)]
