"""Opaque pagination cursors: the keyset key of the last row, bound to the sort it was made for."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, TypeVar

from web.http.problems import ApiError

T = TypeVar("T")


def encode(sort: str, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([sort, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str, value_type: type, choices: Collection[Any] | None = None) -> tuple[Any, int]:
    """The ``(value, id)`` key in ``cursor``; a 400 problem if it is damaged or was made for another sort.

    ``value_type`` is the type the sort's key must have (``int``, ``str`` or ``datetime``); ``choices``, if given,
    the values it may take. Datetimes come back in UTC.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, last_id = json.loads(raw)
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
            if value.tzinfo is None:
                raise ValueError
            value = value.astimezone(UTC)  # OverflowError near year 1 / 9999
        if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 <= last_id < 2**31:
            raise ValueError
        if not isinstance(made_for, str) or not isinstance(value, value_type) or isinstance(value, bool):
            raise ValueError
        if isinstance(value, int) and not 0 <= value < 2**31:
            raise ValueError
        if choices is not None and value not in choices:
            raise ValueError
    except (ValueError, TypeError, KeyError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            400,
            "bad-cursor",
            "cursor is not one this API returned; start again without it",
            field_errors=[{"field": "cursor", "detail": "not a cursor from this API"}],
        ) from None
    if made_for != sort:
        raise ApiError(
            400,
            "bad-cursor",
            f"cursor was made for sort={made_for}, not sort={sort}",
            field_errors=[{"field": "cursor", "detail": "made for another sort"}],
        )
    return value, last_id


class IdPages:
    """Pagination in id order for one kind of list: ``after(cursor)`` to start, ``page(rows)`` to finish.

    Fetch ``limit + 1`` rows after :meth:`after`'s id; :meth:`page` cuts them to ``limit`` and makes the cursor
    of the next page if there is one.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def after(self, cursor: str | None) -> int | None:
        return decode(cursor, self.kind, int)[1] if cursor else None

    def page(self, rows: list[T], limit: int) -> tuple[list[T], str | None]:
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1].id  # type: ignore[attr-defined]
        return rows, encode(self.kind, last, last)
