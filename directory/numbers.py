"""Phone numbers as the PBX and the directory write them -> one comparable form.

``CallerNumber.parse("5551230001", region="US")`` gives the E.164 form (``+15551230001``) when the number is a
public one, marks internal extensions (``4321``) and recognises numbers that identify nobody (``anonymous``,
``<unknown>``, empty, withheld). Imports nothing of helpline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

#: What PBXes send when the caller is not identified.
NO_NUMBER = frozenset({"", "anonymous", "unknown", "<unknown>", "restricted", "private", "withheld", "unavailable"})
_DIALLABLE = re.compile(r"[0-9+*#]")
MAX_RAW = 64


@dataclass(frozen=True)
class CallerNumber:
    """A caller's number: what was sent, and what it can be matched by."""

    raw: str
    e164: str | None  #: ``+15551230001`` for a valid public number
    extension: str | None  #: an internal extension (short all-digit number)

    @property
    def identifies_someone(self) -> bool:
        return self.e164 is not None or self.extension is not None

    @property
    def key(self) -> str | None:
        """The form two calls from the same phone share, or ``None`` when the number identifies nobody."""
        return self.e164 or (f"ext:{self.extension}" if self.extension else None)

    @classmethod
    def parse(cls, raw: str, region: str = "US", *, max_extension_digits: int = 6) -> CallerNumber:
        """Never raises: anything unparseable is kept as ``raw`` with no E.164 form."""
        raw = (raw or "").strip()[:MAX_RAW]
        if raw.lower() in NO_NUMBER or not _DIALLABLE.search(raw):
            return cls(raw, None, None)
        digits = "".join(ch for ch in raw if ch.isdigit())
        if raw.isdigit() and len(digits) <= max_extension_digits:
            return cls(raw, None, digits)
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            return cls(raw, None, None)
        if not phonenumbers.is_possible_number(parsed):
            return cls(raw, None, None)
        return cls(raw, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None)
