"""helpline listening to a replayed PBX in this process: its settings, the app running, waiting for a replay to be
recorded, and the recordings' ground truth."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from pbx.replay import ReplayServer
from tests.support.ami import AMI, SECRET, USER, until_caught_up
from tests.support.waiting import eventually
from tickets.models import Call
from web.app import create_app
from web.runtime import runtime_of
from web.settings import Settings

OUTCOME = {
    "answered": "answered",
    "abandoned": "abandoned",
    "overflow-voicemail": "timeout",
    "interrupted": "interrupted",
}


def truth(files: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        row["uniqueid"]: {**row, "outcome": "interrupted"} if f in CUT_OFF else row
        for f in files
        for row in map(json.loads, (AMI / f).read_text().splitlines())
    }


def settings_for(database_url: str, port: int, secret: str = SECRET) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "pbx": [
                {
                    "name": "main",
                    "host": "127.0.0.1",
                    "port": port,
                    "username": USER,
                    "secret": secret,
                    "queues": ["helpdesk"],
                    "ping_interval": "2s",
                    "action_timeout": "2s",
                }
            ],
        }
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with its lifespan (database, PBX listener) in this event loop."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def until_replayed(
    server: ReplayServer, app: Starlette, expected: int, pbx: str = "main", timeout: float = 120.0
) -> None:
    """Wait until ``expected`` calls have ended and PBX ``pbx``'s listener applied everything ``server`` streamed:
    nothing more is coming, so a call recorded twice or one too many would show."""
    await until_calls_end(expected, timeout)
    await until_caught_up(server, runtime_of(app).pbx[pbx], timeout=timeout)


#: Ground truths whose calls the recorded Asterisk restart cut off (the file logs what the queue reported then:
#: the talking calls completed by the caller, the waiting ones abandoned).
CUT_OFF = frozenset({"e_restart.pre.calls.jsonl"})


async def until_calls_end(expected: int, timeout: float = 60.0) -> None:
    """Wait until ``expected`` calls have ended in the database."""

    async def ended() -> bool:
        return await Call.filter(state="ended").count() >= expected

    await eventually(ended, timeout, what=f"{expected} calls ended")
