"""Logging: plain text for a terminal, or one JSON object per line for a log pipeline; secrets never written.

``[log] format = "json"`` (or ``HELPLINE_LOG_FORMAT=json``) writes each record as one JSON object on one line:
``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (when written while serving an HTTP
request, see :mod:`web.http.request_id`), ``exc`` (a traceback, if any) and any ``extra={...}`` fields.

Redaction is defence in depth: the code does not log secrets, but should a message ever contain one, it is replaced
by ``***`` before the line is written: every configured secret value (each ``SecretStr`` of the settings, and the
password inside secret URLs), every API token that authenticated a request in this process (learnt after the
check: a value that authenticates nothing is not a secret, and learning it would let anybody blank words out of the
logs), and whatever has the shape of a secret wherever it comes from: the password part of a URL
(``scheme://user:***@host``; the ORM's start-up line shows a third of it), a ``'password': '...'`` item, and
argon2 password hashes (the ORM logs the values of its queries at DEBUG).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from web.http import request_id

MASK = "***"
#: Shorter values are not masked: masking "abc" everywhere would garble the logs and protect nothing.
MIN_SECRET_LENGTH = 4
#: Credentials learnt from requests, kept (most recent first) up to this many.
MAX_LEARNT = 1000
#: What a learnt credential looks like (helpline's API tokens are URL-safe base64): words of this shape are looked up
#: in a set, so a thousand learnt tokens cost one scan of the line, not a thousand-way regular expression.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}")
#: Secrets known by their shape: the password of a URL, a password item of a printed dict, an argon2 hash.
SECRET_SHAPES = re.compile(
    r"(?<=://)(?P<user>[^\s:/@'\"]*):[^\s/@'\"]+(?=@)"
    r"|(?P<item>['\"]password['\"]\s*:\s*)['\"][^'\"]*['\"]"
    r"|\$argon2(?:id|i|d)\$[A-Za-z0-9+/=,$.]+"
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s"
#: Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName", "rid"}


class Redactor:
    """Replaces known secret values in text by ``***``: configured secrets (any characters; one regular expression,
    rebuilt when one is added) and credentials learnt from requests (token-shaped; looked up in a set)."""

    def __init__(self) -> None:
        self._fixed: set[str] = set()
        self._learnt: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        """Mask these values from now on (configured secrets)."""
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_SECRET_LENGTH and value not in self._fixed:
                    self._fixed.add(value)
                    self._pattern = None

    def learn(self, value: str) -> None:
        """Mask a credential verified at run time (an API token that authenticated a request); the oldest are
        forgotten past ``MAX_LEARNT``. A value that is not token-shaped is masked only if configured (:meth:`add`)."""
        if value in self._learnt or not TOKEN_SHAPE.fullmatch(value):
            return
        with self._lock:
            self._learnt[value] = None
            while len(self._learnt) > MAX_LEARNT:
                self._learnt.popitem(last=False)

    def add_settings(self, settings: BaseModel) -> None:
        self.add(*secret_values(settings))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                values = sorted(self._fixed, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, values))) if values else re.compile("(?!)")
        text = SECRET_SHAPES.sub(_mask_shape, pattern.sub(MASK, text))
        if self._learnt:
            text = TOKEN_SHAPE.sub(self._mask_learnt, text)
        return text

    def _mask_learnt(self, match: re.Match[str]) -> str:
        return MASK if match.group(0) in self._learnt else match.group(0)


def _mask_shape(match: re.Match[str]) -> str:
    if match.group("user") is not None:
        return f"{match.group('user')}:{MASK}"
    if match.group("item") is not None:
        return f"{match.group('item')}'{MASK}'"
    return MASK


def secret_values(settings: BaseModel) -> Iterator[str]:
    """Every secret in ``settings``: each ``SecretStr``; for a URL (database, Redis) its password only, raw and
    URL-decoded (the rest of the URL says where, and is logged with the password masked)."""
    for value in _walk(settings):
        secret = value.get_secret_value()
        if "://" not in secret:
            yield secret
            continue
        try:
            password = urlsplit(secret).password
        except ValueError:  # not a URL after all
            yield secret
            continue
        if password:
            yield password
            yield unquote(password)


def _walk(value: Any) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)


#: The process's redactor: the handlers :func:`configure` installs use it; apps add their settings' secrets.
redactor = Redactor()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        r = self.redactor.redact
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": r(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id.current()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = _redacted(value, r)
        if record.exc_info:
            entry["exc"] = r(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = r(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=lambda v: r(str(v)))


def _redacted(value: Any, redact: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id]: message``, with secrets masked in the whole line."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.current()
        record.rid = f" [{rid}]" if rid else ""
        return self.redactor.redact(super().format(record))


def formatter(kind: str, redact: Redactor | None = None) -> logging.Formatter:
    return JsonFormatter(redact or redactor) if kind == "json" else TextFormatter(redact or redactor)


def configure(settings: Any, stream: IO[str] | None = None) -> None:
    """Root logging for the process, from ``[log]`` (format, level; ``[web] log_level`` if no level is set)."""
    redactor.add_settings(settings)
    level = (settings.log.level or settings.web.log_level).upper()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.log.format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # Python warnings become log records too (one JSON line, not raw stderr text)
    # The ORM's lines (every query at DEBUG) only when asked for; set both ways, so configuring again at DEBUG after
    # a quieter level brings them back.
    logging.getLogger("tortoise").setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
    for noisy in ("aiosqlite", "asyncio"):  # their DEBUG lines are about the library, not helpline
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger(noisy).level))


def parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON log lines parsed (tests and tools); raises ValueError on a line that is not one JSON object."""
    out = []
    for line in lines:
        if line.strip():
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"not a JSON object: {line!r}")
            out.append(value)
    return out
