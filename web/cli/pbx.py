"""``helpline pbx replay``: a fake Asterisk that replays recorded AMI sessions."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from web.cli.support import CommandFailed
from web.settings import Settings


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    pbx = sub.add_parser(
        "pbx", parents=[common], help="Asterisk tools", description="Tools for the Asterisk (AMI) side."
    )
    pbx.set_defaults(help_of=pbx)
    pbx_sub = pbx.add_subparsers(title="commands", metavar="COMMAND")
    replay = pbx_sub.add_parser(
        "replay",
        parents=[common],
        help="serve recorded AMI sessions as a fake Asterisk",
        description="Listen like Asterisk's AMI and replay recorded sessions (.raw or .raw.gz, "
        "pacing from X.raw.timing.jsonl), one per connection, in order; then "
        "idle sessions (or the sequence again with --loop).",
    )
    replay.add_argument(
        "files", nargs="+", metavar="FILE", help="recorded sessions, e.g. tests/fixtures/ami/a_answered.raw"
    )
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="real pace times this factor (default 1)")
    pace.add_argument("--max", action="store_true", help="as fast as possible")
    replay.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    replay.add_argument("--port", type=int, default=5038, help="listen port (default 5038; 0 picks a free one)")
    replay.add_argument("--username", default="helpline", help="AMI username to accept (default helpline)")
    replay.add_argument("--secret", default="helpline", help="AMI secret to accept (default helpline)")
    replay.add_argument("--loop", action="store_true", help="after the last file, start again with the first")
    replay.set_defaults(run=_pbx_replay)


def _pbx_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pbx.replay import ReplayServer, Session, describe

    if args.speed is not None and args.speed <= 0:
        raise CommandFailed("--speed must be greater than 0 (or use --max)")
    try:
        sessions = [Session.of(path) for path in args.files]
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read the recording: {exc}") from None
    server = ReplayServer(
        sessions,
        host=args.host,
        port=args.port,
        username=args.username,
        secret=args.secret,
        speed=None if args.max else args.speed,
        after_last="loop" if args.loop else "idle",
    )

    async def run() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise CommandFailed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        pace = "as fast as possible" if args.max else f"at {args.speed:g}x real pace"
        print(
            f"AMI replay listening on {args.host}:{server.port} (username {args.username!r}), "
            f"{pace}: {describe(server.sessions)}",
            flush=True,
        )
        try:
            await server.serve_forever()
        finally:
            await server.close()

    asyncio.run(run())
    return 0
