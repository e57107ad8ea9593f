"""Phone numbers as the PBX and the directory write them -> one comparable form.

``CallerNumber.parse("5551230001", region="US")`` gives the E.164 form (``+15551230001``) when the number is a
public one, marks internal extensions (``4321``) and recognises numbers that identify nobody (``anonymous``,
``<unknown>``, empty, withheld). Imports nothing of helpline.

What is understood, whatever the source (a trunk's caller ID, a free-text Active Directory attribute):

* separators: spaces, ``-``, ``.``, ``/``, brackets, ``+1 (555) 123-0001``, ``555/123-0001``, ``+1.555.123.0004``;
* extension suffixes are dropped: ``+1 555 123 0036 x210``, ``... ext. 210``, ``... extension 210``;
* dialling prefixes the PBX adds in front of outside numbers (``9`` or ``0`` for an outside line), when configured:
  ``95551230009`` is ``+15551230009`` with ``dialling_prefixes=("9",)``;
* internal extensions: all-digit numbers up to ``max_extension_digits`` long, or matching ``extension_pattern``;
* numbers written in a person's own national format (``030/1234567`` in Berlin, ``02 123 4567`` in Bangkok): read
  in that person's country (Active Directory's ``c``) with :meth:`NumberPolicy.parse` ``country=``, falling back to
  the site's default region when the country is missing or not one phone numbers know.

:class:`NumberPolicy` holds those settings once, for the directory sync and the caller lookup alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import phonenumbers

#: What PBXes send when the caller is not identified.
NO_NUMBER = frozenset({"", "anonymous", "unknown", "<unknown>", "restricted", "private", "withheld", "unavailable"})
_DIALLABLE = re.compile(r"[0-9+*#]")
#: "x210", "ext. 210", "extn 210", "extension 210" at the end of a number.
_EXTENSION_SUFFIX = re.compile(r"\s*(?:x|ext\.?|extn\.?|extension)\s*\d{1,8}\s*$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s().\-/]")
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
    def national(self) -> bool:
        """Written without ``+<country code>`` and not an internal extension (``84951234567``, ``5551230001``): only
        a default region can make it E.164."""
        return (
            self.extension is None
            and not self.raw.startswith("+")
            and self.raw.lower() not in NO_NUMBER
            and _digit_count(self.raw) > 0
        )

    @property
    def key(self) -> str | None:
        """The form two calls from the same phone share, or ``None`` when the number identifies nobody."""
        return self.e164 or (f"ext:{self.extension}" if self.extension else None)

    @classmethod
    def parse(
        cls,
        raw: str,
        region: str | None = "US",
        *,
        max_extension_digits: int = 6,
        dialling_prefixes: Sequence[str] = (),
        extension_pattern: str | re.Pattern[str] | None = None,
    ) -> CallerNumber:
        """Never raises: anything unparseable is kept as ``raw`` with no E.164 form."""
        raw = (raw if isinstance(raw, str) else "").strip()[:MAX_RAW]
        try:
            return cls._parse(raw, region, max_extension_digits, dialling_prefixes, extension_pattern)
        except Exception:  # phonenumbers on hostile input: a number we cannot read identifies nobody
            return cls(raw, None, None)

    @classmethod
    def _parse(
        cls,
        raw: str,
        region: str | None,
        max_extension_digits: int,
        dialling_prefixes: Sequence[str],
        extension_pattern: str | re.Pattern[str] | None,
    ) -> CallerNumber:
        if raw.lower() in NO_NUMBER or not _DIALLABLE.search(raw) or "\x00" in raw:
            return cls(raw, None, None)
        text = _EXTENSION_SUFFIX.sub("", raw) if _digit_count(raw) > 7 else raw
        if raw.isdigit() and _is_extension(raw, max_extension_digits, extension_pattern):
            return cls(raw, None, raw)
        compact = _SEPARATORS.sub("", text)
        e164 = _public(text, compact, region, dialling_prefixes)
        return cls(raw, e164, None)


def _digit_count(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _is_extension(digits: str, max_digits: int, pattern: str | re.Pattern[str] | None) -> bool:
    if pattern is not None:
        return re.fullmatch(pattern, digits) is not None
    return len(digits) <= max_digits


def _public(text: str, compact: str, region: str | None, dialling_prefixes: Sequence[str]) -> str | None:
    """The E.164 form: the number as written if it is valid, else without a dialling prefix; then if possible.
    Without a ``region`` only numbers written with ``+<country code>`` have one."""
    candidates = [text]
    if compact.isdigit():
        candidates += [
            compact[len(p) :] for p in dialling_prefixes if p and compact.startswith(p) and len(compact) - len(p) >= 7
        ]
    parsed = []
    for candidate in candidates:
        try:
            parsed.append(phonenumbers.parse(candidate, region))
        except phonenumbers.NumberParseException:
            continue
    for check in (phonenumbers.is_valid_number, phonenumbers.is_possible_number):
        for number in parsed:
            if check(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def region_of(country: str | None) -> str | None:
    """The phone region of an ISO 3166 two-letter country code as a directory writes it (``de``, `` TH ``), or None
    when it is missing or no region phone numbers know (``XX``, ``Germany``)."""
    code = (country or "").strip().upper()
    return code if len(code) == 2 and code in phonenumbers.SUPPORTED_REGIONS else None


@dataclass(frozen=True)
class NumberPolicy:
    """How this site writes numbers: the default region (None: not set, numbers without ``+<country code>`` stay
    as written), the PBX's dialling prefixes, what an extension is."""

    region: str | None = "US"
    dialling_prefixes: tuple[str, ...] = ()
    max_extension_digits: int = 6
    extension_pattern: str | None = None
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.extension_pattern is not None:
            object.__setattr__(self, "_compiled", re.compile(self.extension_pattern))

    def parse(self, raw: str, country: str | None = None) -> CallerNumber:
        """``raw`` as a :class:`CallerNumber` under this policy. Never raises.

        ``country``: where the number's owner is (AD's ``c``): a number written without ``+<country code>`` is read
        as a national number of that country; without one (or an unknown one), of the site's default region.
        """
        return CallerNumber.parse(
            raw,
            region_of(country) or self.region,
            max_extension_digits=self.max_extension_digits,
            dialling_prefixes=self.dialling_prefixes,
            extension_pattern=self._compiled,
        )
