"""Field values as Asterisk's AMI spells them: event times, caller IDs, names, interfaces, channel names, durations.

Every function takes the raw header value (a ``str`` or ``None`` when the header is absent) and never raises.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: How AMI events spell "no caller ID" (``QueueEntry`` list items say ``unknown``, see :func:`queue_entry_caller`).
NO_CALLER_ID = "<unknown>"

_ESCAPED = re.compile(r"\\([\\'\"])")
_EXTENSION = re.compile(r"\+?[0-9*#]+")
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;[0-9]+)?$")
#: Longer than any wait or talk time: a bigger value is garbage (and would overflow date arithmetic).
MAX_SECONDS = 10**8


def event_time(value: str | None) -> datetime | None:
    """``Timestamp: 1795795766.806983`` (epoch.usec, ``timestampevents = yes``) as aware UTC; None if absent or bad."""
    if not value:
        return None
    seconds, _, fraction = value.partition(".")
    try:
        micro = int((fraction + "000000")[:6]) if fraction else 0
        return EPOCH + timedelta(seconds=int(seconds), microseconds=micro)
    except (ValueError, OverflowError):
        return None


def unescape(value: str) -> str:
    """Undo the backslash escapes some Asterisk versions put in names: ``O\\'Brien`` -> ``O'Brien``."""
    return _ESCAPED.sub(r"\1", value) if "\\" in value else value


def caller_number(value: str | None) -> str:
    """A caller/connected number as sent; ``<unknown>``/empty/absent (no number) -> ``""``. ``anonymous`` stays."""
    if not value or value == NO_CALLER_ID:
        return ""
    return value.strip()


def caller_name(value: str | None) -> str:
    """A caller/agent name, unescaped; ``<unknown>``/empty/absent -> ``""``."""
    if not value or value == NO_CALLER_ID:
        return ""
    return unescape(value).strip()


def queue_entry_caller(value: str | None) -> str:
    """``QueueEntry`` spells a missing caller ID ``unknown`` (no brackets)."""
    return "" if value == "unknown" else caller_name(value)


def interface_extension(interface: str | None) -> str | None:
    """The dialable extension of a queue member interface, independent of the technology.

    ``Local/101@agents`` -> ``101``, ``PJSIP/101`` -> ``101``, ``SIP/101`` -> ``101``,
    ``Local/101@agents/n`` -> ``101``.
    A named endpoint (``PJSIP/alice``) or a dial string through a trunk (``PJSIP/trunk/sip:101@host``) has no
    extension: None (the member is still known by name and interface).
    """
    if not interface:
        return None
    _, slash, resource = interface.partition("/")
    if not slash:
        return None
    resource = resource.split("/", 1)[0].split("@", 1)[0]
    return resource if _EXTENSION.fullmatch(resource) else None


def channel_interface(channel: str | None) -> str:
    """The device a channel was created on: ``PJSIP/101-0000001a`` -> ``PJSIP/101``,
    ``Local/101@agents-00000001;1`` -> ``Local/101@agents`` (Asterisk appends ``-<sequence>`` to every channel)."""
    if not channel:
        return ""
    return _CHANNEL_SUFFIX.sub("", channel)


def seconds(value: str | None) -> int | None:
    """A whole number of seconds (``HoldTime``, ``TalkTime``, ``Wait``); None if absent or not a number."""
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number <= MAX_SECONDS else None


def duration_seconds(value: str | None) -> int | None:
    """``CoreShowChannel`` ``Duration: HH:MM:SS`` (hours may exceed 24) in seconds; None if absent or bad."""
    if not value:
        return None
    total = 0
    try:
        for part in value.split(":"):
            total = total * 60 + int(part)
    except ValueError:
        return None
    return total if 0 <= total <= MAX_SECONDS else None
