"""Text search helpers: one case-folded form for storing and for querying, and what a ticket's search text holds."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Separates the parts of a ticket's search text: its own fields first, then each comment (never in folded text).
SEPARATOR = "\x1e"
_NUMBER = re.compile(r"([A-Za-z][A-Za-z0-9]{0,15})-([0-9]{1,9})")
_BARE_NUMBER = re.compile(r"#?([0-9]{1,9})")


def fold(*parts: str | None) -> str:
    """Case-fold and NFC-normalise text so that ``Иван`` finds ``иван`` and ``ИВАН`` on any database."""
    text = " ".join(p for p in parts if p)
    return unicodedata.normalize("NFC", text).casefold()


def ticket_text(number: str, title: str, description: str, *, before: str = "", comments: Iterable[str] = ()) -> str:
    """A ticket's search text: its number, title and description, then the text of its comments.

    ``before`` is the ticket's search text until now: the comments it holds are kept (they are never edited), and
    ``comments`` (new ones) are added after them.
    """
    head = fold(number, title, description).replace(SEPARATOR, " ")
    kept = before.partition(SEPARATOR)[2]
    added = [fold(c).replace(SEPARATOR, " ") for c in comments if c]
    tail = SEPARATOR.join(([kept] if kept else []) + added)
    return head + (SEPARATOR + tail if tail else "")


def ticket_number(text: str, prefix: str) -> str | None:
    """The ticket number ``text`` names, if it looks like one: ``IT-3`` and ``it-3`` name IT-3, and so does a bare
    ``3`` or ``#3`` (with ``prefix``, the configured one); None for any other text."""
    text = text.strip()
    match = _NUMBER.fullmatch(text)
    if match:
        return f"{match[1].upper()}-{int(match[2])}"
    match = _BARE_NUMBER.fullmatch(text)
    return f"{prefix}-{int(match[1])}" if match else None
