"""Helpers for the AMI tests: the recordings, a connection with test-sized timeouts, collecting events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from panoramisk.message import Message

from pbx.backoff import Backoff
from pbx.connection import AmiConnection, SessionMarker
from pbx.frames import parse_frame
from pbx.replay import ReplayServer, session_events

AMI = Path(__file__).parent / "fixtures" / "ami"
USER, SECRET = "helpline", "s3cret"


def recording(name: str) -> Path:
    return AMI / name


def connection(server: ReplayServer, **kw: Any) -> AmiConnection:
    """An AmiConnection to ``server`` with timeouts small enough for tests."""
    options: dict[str, Any] = dict(
        name="test", connect_timeout=1.0, login_timeout=1.0, action_timeout=2.0, ping_interval=5.0, ping_timeout=1.0,
        backoff=Backoff(0.05, 0.2), auth_backoff=Backoff(0.3, 0.6), fully_booted_timeout=0.5, stable_after=60.0)
    options.update(kw)
    return AmiConnection("127.0.0.1", server.port, options.pop("username", USER), options.pop("secret", SECRET),
                         **options)


def take(conn: AmiConnection) -> list[Message | SessionMarker]:
    """Everything queued now."""
    items = []
    while not conn.events.empty():
        items.append(conn.events.get_nowait())
    return items


async def collect(conn: AmiConnection, count: int, timeout: float = 10.0) -> list[Message]:
    """Wait for ``count`` events (markers skipped)."""
    out: list[Message] = []

    async def run() -> None:
        while len(out) < count:
            item = await conn.events.get()
            if isinstance(item, Message):
                out.append(item)

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"only {len(out)} of {count} events arrived within {timeout} s; {conn.status()}") from None
    return out


def expected_events(path: Path) -> list[dict[str, str]]:
    """The events a replay of ``path`` streams, parsed independently of the connection code."""
    return [parse_frame(frame) for frame in session_events(path)]


def flat(message: Message) -> dict[str, str]:
    """A received message as parse_frame would give it (a repeated header keeps its last value)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in message.items() if k != "content"}
