"""The languages people-facing text comes in (the console, alert messages), and what to call them."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

#: ISO 639-1 codes, English first: the default.
LANGUAGES = ("en", "ru", "th")
DEFAULT_LANGUAGE = "en"
#: Names people write instead of the code (in settings, in a PATCH), for a "did you mean".
LANGUAGE_NAMES = {
    "english": "en",
    "russian": "ru",
    "русский": "ru",
    "thai": "th",
    "ไทย": "th",
    "ภาษาไทย": "th",
}


def language_hint(value: str) -> str | None:
    """The code ``value`` probably means (``"Russian"``, ``"ru-RU"``, ``"rus"`` -> ``"ru"``), or None."""
    import difflib

    text = value.strip().lower().replace("_", "-")
    if text.split("-", 1)[0] in LANGUAGES:
        return text.split("-", 1)[0]
    if text in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[text]
    close = difflib.get_close_matches(text, [*LANGUAGES, *LANGUAGE_NAMES], n=1, cutoff=0.6)
    return LANGUAGE_NAMES.get(close[0], close[0]) if close else None


def language_problem(value: object) -> str | None:
    """Why ``value`` is not one of :data:`LANGUAGES` (with a "did you mean"), or None."""
    if isinstance(value, str) and value in LANGUAGES:
        return None
    hint = language_hint(value) if isinstance(value, str) else None
    return f"{_shown(value)} is not a language helpline speaks; use one of {', '.join(LANGUAGES)}" + (
        f" (did you mean {hint!r}?)" if hint else ""
    )


def time_zone_problem(value: object) -> str | None:
    """Why ``value`` is not an IANA time zone name, or None."""
    if isinstance(value, str) and value in _zones():
        return None
    return f'{_shown(value)} is not an IANA time zone; e.g. "Europe/Moscow", "Asia/Bangkok" or "UTC"'


@cache
def _zones() -> frozenset[str]:
    """The IANA names zoneinfo can load here (not ``localtime`` or a file path)."""
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def _shown(value: object) -> str:
    """``value`` quoted for a message, cut short (it came from outside)."""
    text = repr(value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…")
    return text
