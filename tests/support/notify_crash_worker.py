"""A dispatcher in a process of its own: ``python -m tests.support.notify_crash_worker DB TWILIO SLACK [GO_FILE]``.

It sends what is due at the test's fixed moment, then prints its counters and exits. The crash test kills it
(SIGKILL) while a send is in flight; the two-process test starts two and lets them go at once (``GO_FILE``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

from tests.support.notify import build_world
from tests.support.waiting import eventually
from web.runtime import db
from web.settings import Settings


async def main(database_url: str, twilio_url: str, slack_url: str, go_file: str | None = None) -> None:
    settings = Settings.model_validate({"database": {"url": database_url}})
    await db.open_orm(settings.database)

    class _Fake:  # only .url is read
        def __init__(self, url: str) -> None:
            self.url = url

    world = build_world(settings, _Fake(twilio_url), _Fake(slack_url))  # type: ignore[arg-type]
    # small claims, few in flight: with 30 rows, one process must not take them all before the other starts
    world.dispatcher.settings = dataclasses.replace(world.dispatcher.settings, batch=3, in_flight=3)
    await world.sms.start()
    await world.slack.start()
    print("ready", flush=True)
    try:
        if go_file:  # both processes start sending together
            await eventually(Path(go_file).exists, what="the go file", every=0.005)
        await world.dispatcher.run_due()
        print(f"sent {world.dispatcher.counters.sent}", flush=True)
    finally:
        await world.sms.close()
        await world.slack.close()
        await db.close_orm()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
