"""What every section shares: the base model, durations, comma lists, names and their suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Section(BaseModel):
    """A table of the configuration: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: Any) -> Any:
    """``"24h"``, ``"15m"``, ``"1h30m"``, ``"90s"``, ``"2d"`` (or a number of seconds) -> timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, sec = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=sec)
        raise ValueError(f"not a duration: write it like 30s, 15m, 24h, 1h30m or 2d (got {value!r})")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _comma_list(value: Any) -> Any:
    """A list from TOML, or ``"a, b"`` from an environment variable."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'web'?)`` when ``name`` looks like a misspelling of one of ``known``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unique_names(names: list[str], what: str) -> None:
    """Refuse two ``[[what]]`` entries with the same name (the message names it)."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two [[{what}]] entries are called {twice[0]!r}; names must differ")


def redact_url(url: str) -> str:
    """Replace the password in a URL by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))
