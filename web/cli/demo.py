"""``helpline demo``: the console with nothing else to install.

A throwaway SQLite file, a demo agent (extension 101, the recording's "Alice Agent") with a printed password, a small
bundled directory of the recording's callers, and a local fake Asterisk replaying a bundled recording of 20
concurrent calls again and again. Each replay gets fresh call ids (Uniqueid/Linkedid) and timestamps moved to now,
both rewritten at the same length so the recording's framing stays intact; otherwise every replay would be
recognised as the calls already recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pbx.replay import Recording, ReplayServer, Session
from web.cli.support import CommandFailed

if TYPE_CHECKING:
    from web.runtime import Runtime

RECORDING = Path(__file__).parent / "demo_data" / "calls.raw.gz"
AMI_USER = "helpline-demo"
#: (name, phone, department, title, vip): the recording's callers as a directory would describe them.
PEOPLE = [
    ("Alice Example", "+15551230001", "Finance", "Controller", True),
    ("Bob Example", "5551230002", "Sales", "Account manager", False),
    ("Dana Smith", "+15551230006", "Legal", "Counsel", False),
    ("Erik Johansson", "5551230007", "Logistics", "Dispatcher", False),
    ("Эрик Йоханссон", "5551230007", "Логистика", "Диспетчер", False),  # same number: the agent picks who it is
    ("José Müller", "+15551230011", "Produktion", "Schichtleiter", False),
    ("Pat O'Brien", "5551230012", "IT", "Intern", False),
    ("Fatima Khan", "+15551230016", "HR", "Recruiter", True),
    ("Иван Петров", "5551230017", "Бухгалтерия", "Главный бухгалтер", False),
    ("สมชาย ใจดี", "4321", "ต้อนรับ", "พนักงานต้อนรับ", False),
]
_IDS = re.compile(rb"(?i)((?:uniqueid|linkedid): )(\d{10})")
_TIMES = re.compile(rb"(Timestamp: )(\d{10})(\.\d{6})")


def fresh_copy(recording: Recording, loop: int, now: float) -> Recording:
    """The recording with its call ids made unique for ``loop`` and its timestamps moved to start at ``now``."""
    first = _TIMES.search(recording.stream)
    shift = int(now) - int(first.group(2)) if first else 0

    def ids(match: re.Match[bytes]) -> bytes:
        return match.group(1) + str(int(match.group(2)) - 86_400 * 30 * (loop + 1)).encode()

    def times(match: re.Match[bytes]) -> bytes:
        return match.group(1) + str(int(match.group(2)) + shift).encode() + match.group(3)

    stream = _TIMES.sub(times, _IDS.sub(ids, recording.stream))
    assert len(stream) == len(recording.stream), "the rewrite keeps every frame's length"
    return dataclasses.replace(recording, stream=stream)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(runtime: Runtime, password: str) -> None:
    from tickets.models import Role
    from web.auth.passwords import hash_password
    from web.runtime import db

    await db.open_orm(runtime.settings.database)
    try:
        await db.upgrade(runtime.settings.database)
        agents = runtime.agents
        demo = await agents.create(login="demo", display_name="Alice Agent", role=Role.SUPERVISOR, extension="101")
        await agents.set_password(demo.id, hash_password(password))
        for login, name, extension in (("bob", "Bob Agent", "102"), ("carol", "Carol Agent", "103")):
            await agents.create(login=login, display_name=name, extension=extension)
        people = runtime.people
        for name, phone, department, title, vip in PEOPLE:
            await people.create(name=name, phone=phone, department=department, title=title, vip=vip)
    finally:
        await db.close_orm()


async def _demo(port: int, speed: float, pause: float) -> None:
    import uvicorn

    from web.app import create_app
    from web.runtime import build_runtime
    from web.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="helpline-demo-"))
    password, secret = secrets.token_urlsafe(9), secrets.token_urlsafe(16)
    recording = Recording.load(RECORDING)
    length = (recording.chunks[-1][0] if recording.chunks else 30.0) / speed
    pbx = ReplayServer([Session(fresh_copy(recording, 0, time.time()))], username=AMI_USER, secret=secret, speed=speed)
    await pbx.start()
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite://{workdir / 'demo.sqlite3'}"},
            "web": {"host": "127.0.0.1", "port": port, "access_log": False, "log_level": "warning"},
            "directory": {"default_region": "US"},  # the recording's callers dial from the US
            "pbx": [
                {
                    "name": "demo",
                    "host": "127.0.0.1",
                    "port": pbx.port,
                    "username": AMI_USER,
                    "secret": secret,
                    "queues": ["helpdesk"],
                    "originate_channel": "Local/{extension}@agents",
                }
            ],
        }
    )
    runtime = build_runtime(settings)
    await _seed(runtime, password)

    async def replay_again() -> None:
        loop = 0
        while True:
            await asyncio.sleep(length + pause)
            loop += 1
            pbx.sessions.append(Session(fresh_copy(recording, loop, time.time())))
            pbx.drop()  # helpline reconnects at once and gets the next replay

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    again = asyncio.create_task(replay_again())
    print(
        f"""helpline demo (throwaway data in {workdir})

  console:   http://127.0.0.1:{port}/
  login:     demo
  password:  {password}

The demo agent has extension 101: calls that ring there pop up on the console. A recording of 20 calls replays
every {length + pause:.0f} s. Stop with Ctrl-C (the data is deleted).""",
        flush=True,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):  # uvicorn re-raises the stop signal when it is done: let it
        signal.signal(signum, lambda *_: None)  # land here, so the throwaway data is removed below
    try:
        await server.serve()
    finally:
        again.cancel()
        await pbx.close()
        shutil.rmtree(workdir, ignore_errors=True)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="try the console: throwaway database, replayed calls",
        description="Run helpline on a throwaway SQLite file with a demo agent, a small directory "
        "of callers and a local fake Asterisk replaying a bundled recording of calls "
        "in a loop. Prints the console URL and the demo agent's credentials.",
    )
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    demo.add_argument("--speed", type=float, default=1.0, help="replay pace (default 1 = real time)")
    demo.add_argument("--pause", type=float, default=8.0, help="seconds between two replays (default 8)")
    demo.set_defaults(run=lambda args, settings: run_demo(port=args.port, speed=args.speed, pause=args.pause))


def run_demo(port: int = 8080, speed: float = 1.0, pause: float = 8.0) -> int:
    """Run the demo until interrupted; its data is deleted then."""
    if speed <= 0 or pause < 0:
        raise CommandFailed("--speed must be greater than 0 and --pause at least 0")
    asyncio.run(_demo(port or _free_port(), speed, pause))
    return 0
