"""The AMI actions helpline sends: click to call, what is up now (for a resync), and an agent's pause.

Each function sends one action over an :class:`~pbx.connection.AmiConnection` and returns what Asterisk answered;
errors are the connection's (:class:`~pbx.connection.AmiError` and its kinds). Nothing here is ever re-sent.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from panoramisk.message import Message

from pbx.connection import AmiConnection


@dataclass(frozen=True)
class Snapshot:
    """What Asterisk has up now: the queue's callers and members (``QueueStatus``) and the channels
    (``CoreShowChannels``), the items of each list without its first response and final ``...Complete`` event."""

    queue: list[Message]
    channels: list[Message]

    @property
    def live_calls(self) -> set[str]:
        """The Linkedids of the calls that have a channel up."""
        return {str(m.get("Linkedid")) for m in self.channels if m.get("Linkedid")}


async def snapshot(connection: AmiConnection) -> Snapshot:
    """``QueueStatus`` then ``CoreShowChannels`` (needs write class ``reporting``)."""
    queue = await connection.send_list({"Action": "QueueStatus"})
    channels = await connection.send_list({"Action": "CoreShowChannels"})
    return Snapshot(queue[1:-1], channels[1:-1])


async def core_show_channels(connection: AmiConnection) -> list[Message]:
    """The channels up now, as ``CoreShowChannels`` lists them (with its response and final event)."""
    return await connection.send_list({"Action": "CoreShowChannels"})


def caller_id(name: str, number: str) -> str:
    """``"Name" <number>``: the caller ID an originated call shows. The name loses its quotes, and its control
    characters and line separators become spaces (a line break would end the AMI header), white space collapsed."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in name if c != '"')
    return f'"{" ".join(kept.split())}" <{number}>'


async def originate(
    connection: AmiConnection, *, channel: str, context: str, exten: str, caller: str, ring: timedelta
) -> Message:
    """Ring ``channel`` (the agent's phone) for up to ``ring``; once it answers, dial ``exten`` in ``context``.
    Asynchronous (``Async: true``): the answer says whether Asterisk queued the call, not how it went. Needs write
    class ``originate``."""
    return await connection.send_action(
        {
            "Action": "Originate",
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": "1",
            "Async": "true",
            "Timeout": str(int(ring.total_seconds() * 1000)),
            "CallerID": caller,
        }
    )


async def may_originate(connection: AmiConnection) -> bool:
    """Whether this AMI user may originate calls (write class ``originate``), found without ringing anything: an
    ``Originate`` without a channel is refused after the permission check, with a message that tells which."""
    answer = await connection.send_action({"Action": "Originate"})
    return "permission denied" not in str(answer.get("Message", "")).lower()


async def may_pause(connection: AmiConnection) -> bool:
    """Whether this AMI user may pause queue members (write class ``agent``), found without pausing anyone: a
    ``QueuePause`` without an interface is refused after the permission check, with a message that tells which."""
    answer = await connection.send_action({"Action": "QueuePause"})
    return "permission denied" not in str(answer.get("Message", "")).lower()


async def queue_pause(
    connection: AmiConnection, interface: str, paused: bool, *, queue: str | None = None, reason: str | None = None
) -> Message:
    """Pause (or unpause) the queue member ``interface`` in ``queue``, or in every queue it is in. Needs write
    class ``agent``."""
    action = {"Action": "QueuePause", "Interface": interface, "Paused": "true" if paused else "false"}
    if queue:
        action["Queue"] = queue
    if reason:
        action["Reason"] = reason
    return await connection.send_action(action)


def succeeded(answer: Message) -> bool:
    """Whether an action's answer is ``Response: Success``."""
    return str(answer.get("Response", "")).lower() == "success"
