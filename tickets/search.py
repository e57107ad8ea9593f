"""Text search helpers: one case-folded form for storing and for querying."""

from __future__ import annotations

import unicodedata


def fold(*parts: str | None) -> str:
    """Case-fold and NFC-normalise text so that ``Иван`` finds ``иван`` and ``ИВАН`` on any database."""
    text = " ".join(p for p in parts if p)
    return unicodedata.normalize("NFC", text).casefold()
