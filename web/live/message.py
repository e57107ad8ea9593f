"""A live message: a domain event made JSON, with the id the broker gave it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cached_property
from typing import Any

from tickets.events import DomainEvent

#: What a ``call.taken`` tells of a ``call.answered``.
TAKEN_FIELDS = ("pbx", "linkedid", "call_id", "queue", "ticket_id", "wait_seconds", "at")


@dataclass(frozen=True)
class LiveMessage:
    """``id``: the broker's position (increasing; SSE ``id:``), ``type``: e.g. ``call.ringing``, ``data``: JSON-able."""

    id: str
    type: str
    data: dict[str, Any]

    @cached_property
    def frame(self) -> bytes:
        """The message as one Server-Sent Events frame (encoded once, however many clients get it)."""
        payload = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.type}\ndata: {payload}\n\n".encode()

    @cached_property
    def taken(self) -> LiveMessage:
        """A ``call.answered`` as the agents who did not answer get it: ``call.taken``, the call left the queue
        (made once, however many clients get it)."""
        return LiveMessage(self.id, "call.taken", {k: self.data.get(k) for k in TAKEN_FIELDS})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def event_data(event: DomainEvent) -> tuple[str, dict[str, Any]]:
    """(type, data) of a domain event, with datetimes as ISO 8601 UTC."""
    data = {f.name: _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}
    return str(data.pop("type")), data
