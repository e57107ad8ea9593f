"""The agent's own phone: what it is doing (``GET /api/v1/agents/me/phone``) and pausing it in the queues.

Reads the phone board of the PBX listener when this instance holds the PBX (single or leader), else what the
leader last published (:class:`web.live.phones.PhoneRegistry`). Pausing sends ``QueuePause`` over the listener's
AMI connection, so only the instance that holds the PBX can (as click to call); then it waits briefly for Asterisk's
``QueueMemberPause`` to show on the board.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pbx import actions
from web.live.phones import PhoneRegistry, phone_data
from web.runtime.telephony import PbxListener

#: How long a pause waits for Asterisk to report it before answering 202 (accepted, not yet seen).
CONFIRM_WAIT = 2.0


class NoPbx(Exception):
    """No PBX configured, or this instance does not hold its link now."""


class NotAMember(Exception):
    """The agent has no extension, or their phone is in no (such) IT-line queue."""


class Refused(Exception):
    """Asterisk refused the QueuePause (its message)."""


@dataclass(frozen=True)
class PhoneView:
    pbx: str | None
    link_up: bool
    extension: str | None
    data: dict[str, Any] | None  #: the ``agent.phone`` data (None: nothing known of this phone)

    def as_json(self) -> dict[str, Any]:
        data = self.data or {}
        known = self.link_up and data
        return {
            "pbx_link": "up" if self.link_up else "down",
            "pbx": self.pbx,
            "extension": self.extension,
            "registered": data.get("registered") if known else None,
            "state": data.get("state", "unknown") if known else "unknown",
            "reason": data.get("reason") if known else None,
            "queues": [
                {"queue": q["queue"], "paused": q["paused"], "reason": q.get("reason")} for q in data.get("queues", [])
            ],
        }


def leading(listener: PbxListener) -> bool:
    return listener.role in ("single", "leader")


def _listener(listeners: Mapping[str, PbxListener], registry: PhoneRegistry, extension: str | None) -> PbxListener:
    if not listeners:
        raise NoPbx("no PBX is configured ([[pbx]] in the configuration)")
    if extension:
        for listener in listeners.values():
            if leading(listener) and listener.tracker.phones.memberships(extension):
                return listener
        known = registry.phone(extension)
        if known is not None and known["pbx"] in listeners:
            return listeners[known["pbx"]]
    return next(iter(listeners.values()))


def phone_view(listeners: Mapping[str, PbxListener], registry: PhoneRegistry, extension: str | None) -> PhoneView:
    """The phone of ``extension`` (an agent's; None: they have none)."""
    if not listeners:
        return PhoneView(None, False, extension, None)
    listener = _listener(listeners, registry, extension)
    if leading(listener):
        up = listener.connection.connected
        data = phone_data(listener.name, listener.tracker.phones.phone(extension)) if extension else None
    else:
        up = bool(registry.link(listener.name))
        data = registry.phone(extension, listener.name) if extension else None
    return PhoneView(listener.name, up, extension, data)


async def set_paused(
    listeners: Mapping[str, PbxListener],
    registry: PhoneRegistry,
    extension: str | None,
    paused: bool,
    *,
    queue: str | None = None,
    reason: str | None = None,
) -> tuple[PhoneView, bool]:
    """Pause (``reason``) or unpause the phone of ``extension`` in ``queue`` (None: every IT-line queue it is in).
    Returns the phone after it, and whether Asterisk already reported the change (else it is under way). Raises
    :class:`NoPbx`, :class:`NotAMember`, :class:`Refused`, or the connection's errors (``AmiError`` and kinds)."""
    listener = _listener(listeners, registry, extension)
    if not leading(listener):
        raise NoPbx(f"this instance does not hold PBX {listener.name} now (another one does: ask it)")
    if not listener.connection.connected:
        raise NoPbx(f"helpline is not connected to PBX {listener.name} now")
    if not extension:
        raise NotAMember("you have no phone extension; an admin sets it with PATCH /api/v1/agents/{id}")
    board = listener.tracker.phones
    members = [m for m in board.memberships(extension) if queue is None or m.queue == queue]
    if not members:
        where = f"queue {queue!r}" if queue else "any IT-line queue"
        raise NotAMember(f"your phone (extension {extension}) is not a member of {where} on PBX {listener.name}")
    for m in members:
        answer = await actions.queue_pause(
            listener.connection, m.interface, paused, queue=m.queue, reason=reason if paused else None
        )
        if not actions.succeeded(answer):
            raise Refused(f"PBX {listener.name} refused: {answer.get('Message') or 'no reason given'}")
    targets = {(m.queue, m.interface) for m in members}

    def done() -> bool:
        now = {(m.queue, m.interface): m for m in listener.tracker.phones.memberships(extension)}
        wanted = (reason or "").strip()
        return all(
            k in now and now[k].paused is paused and (not paused or now[k].reason.strip() == wanted) for k in targets
        )

    deadline = time.monotonic() + CONFIRM_WAIT
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return phone_view(listeners, registry, extension), done()
