"""Console commands of ``helpline``: ``user password`` and ``demo``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from web.settings.config import Settings


def add_commands(sub: Any, user_sub: Any, common: argparse.ArgumentParser) -> None:
    password = user_sub.add_parser("password", parents=[common], help="set an agent's console password",
                                   description="Set (or with --clear remove) the password an agent logs in to the "
                                               "console with. Asked for twice on a terminal, else read from stdin. "
                                               "Their open console sessions end.")
    password.add_argument("login")
    password.add_argument("--clear", action="store_true", help="remove the password (API tokens keep working)")
    password.set_defaults(run=_user_password)
    demo = sub.add_parser("demo", parents=[common], help="try the console: throwaway database, replayed calls",
                          description="Run helpline on a throwaway SQLite file with a demo agent, a small directory "
                                      "of callers and a local fake Asterisk replaying a bundled recording of calls "
                                      "in a loop. Prints the console URL and the demo agent's credentials.")
    demo.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080; 0 picks a free one)")
    demo.add_argument("--speed", type=float, default=1.0, help="replay pace (default 1 = real time)")
    demo.add_argument("--pause", type=float, default=8.0, help="seconds between two replays (default 8)")
    demo.set_defaults(run=_demo)


def read_password() -> str:
    """A new password from the terminal (twice) or the first line of stdin; refused when too weak."""
    from web.cli.support import CommandFailed
    from web.auth.passwords import check_strength

    if sys.stdin.isatty():
        first = getpass.getpass("console password: ")
        if getpass.getpass("again: ") != first:
            raise CommandFailed("the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    problem = check_strength(first)
    if problem:
        raise CommandFailed(problem)
    return first


def _user_password(args: argparse.Namespace, settings: Settings) -> int:
    from tickets.agent_service import AgentService
    from web.cli.support import CommandFailed, with_database
    from web.auth.passwords import hash_password

    hashed = None if args.clear else hash_password(read_password())

    async def store() -> None:
        agents = AgentService()
        agent = await agents.by_login(args.login)
        if agent is None:
            raise CommandFailed(f"there is no agent {args.login!r}; add one with: helpline user add {args.login}")
        await agents.set_password(agent.id, hashed)

    with_database(settings, store)
    print(f"{'removed the' if args.clear else 'set a new'} console password of {args.login}", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from web.cli.demo import run_demo

    return run_demo(port=args.port, speed=args.speed, pause=args.pause)
