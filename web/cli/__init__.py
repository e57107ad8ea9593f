"""The ``helpline`` command: serve, db upgrade/status, user add/token, directory sync/lookup, pbx replay.

Exit codes: 0 success, 1 the task failed (database unreachable, user exists, ...), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from web.cli.support import CommandFailed, with_database
from web.settings.config import ConfigError, Settings, load_settings
from web.version import VERSION

log = logging.getLogger("helpline")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        getattr(args, "help_of", parser).print_help(sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print("helpline: the configuration has problems:", file=sys.stderr)
        for line in exc.problems:
            print(f"  - {line}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        return int(args.run(args, settings) or 0)
    except CommandFailed as exc:
        print(f"helpline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpline", description="Telephony-integrated IT service desk.")
    parser.add_argument("--version", action="version", version=f"helpline {VERSION}")
    config_help = "TOML configuration file (default: $HELPLINE_CONFIG, else built-in defaults)"
    parser.add_argument("--config", "-c", metavar="FILE", help=config_help)
    # The same option after the command (and after the subcommand): SUPPRESS keeps a subparser that was not given
    # it from overwriting the value given before the command with its default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", metavar="FILE", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the HTTP API",
                           description="Run helpline. An empty database is migrated first; a database with "
                                       "pending migrations is refused (run `helpline db upgrade`).")
    serve.add_argument("--host", help="listen address (default: [web] host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: [web] port, 8080)")
    serve.set_defaults(run=_serve)

    db = sub.add_parser("db", parents=[common], help="database schema", description="Manage the database schema.")
    db.set_defaults(help_of=db)
    db_sub = db.add_subparsers(title="commands", metavar="COMMAND")
    upgrade = db_sub.add_parser("upgrade", parents=[common], help="apply pending migrations",
                                description="Apply every pending migration. Back up the database first.")
    upgrade.set_defaults(run=_db_upgrade)
    status = db_sub.add_parser("status", parents=[common], help="list pending migrations",
                               description="Show whether the schema is up to date; exit 1 if migrations are pending.")
    status.set_defaults(run=_db_status)

    user = sub.add_parser("user", parents=[common], help="agents and their API tokens", description="Manage agents.")
    user.set_defaults(help_of=user)
    user_sub = user.add_subparsers(title="commands", metavar="COMMAND")
    add = user_sub.add_parser("add", parents=[common], help="add an agent and print their API token",
                              description="Add an agent and print a new API token (shown only once).")
    add.add_argument("login", help="login name: lowercase letters, digits, '.', '_' or '-'")
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    add.add_argument("--extension", help="phone extension, e.g. 101")
    add.add_argument("--name", dest="display_name", help="display name (default: the login)")
    add.add_argument("--email")
    add.add_argument("--password", action="store_true",
                     help="also set a console password (asked for; read from stdin when it is not a terminal)")
    add.set_defaults(run=_user_add)
    token = user_sub.add_parser("token", parents=[common], help="issue another API token for an agent",
                                description="Issue a new API token for an existing agent (e.g. a lost admin token).")
    token.add_argument("login")
    token.add_argument("--token-name", default="cli", help="a label to tell tokens apart")
    token.set_defaults(run=_user_token)
    from web.cli import console as cli_console

    cli_console.add_commands(sub, user_sub, common)

    pbx = sub.add_parser("pbx", parents=[common], help="Asterisk tools",
                         description="Tools for the Asterisk (AMI) side.")
    pbx.set_defaults(help_of=pbx)
    pbx_sub = pbx.add_subparsers(title="commands", metavar="COMMAND")
    replay = pbx_sub.add_parser("replay", parents=[common], help="serve recorded AMI sessions as a fake Asterisk",
                                description="Listen like Asterisk's AMI and replay recorded sessions (.raw or .raw.gz, "
                                            "pacing from X.raw.timing.jsonl), one per connection, in order; then "
                                            "idle sessions (or the sequence again with --loop).")
    replay.add_argument("files", nargs="+", metavar="FILE",
                        help="recorded sessions, e.g. tests/fixtures/ami/a_answered.raw")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="real pace times this factor (default 1)")
    pace.add_argument("--max", action="store_true", help="as fast as possible")
    replay.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    replay.add_argument("--port", type=int, default=5038, help="listen port (default 5038; 0 picks a free one)")
    replay.add_argument("--username", default="helpline", help="AMI username to accept (default helpline)")
    replay.add_argument("--secret", default="helpline", help="AMI secret to accept (default helpline)")
    replay.add_argument("--loop", action="store_true", help="after the last file, start again with the first")
    replay.set_defaults(run=_pbx_replay)

    directory = sub.add_parser("directory", parents=[common], help="Active Directory: sync, lookup",
                               description="The caller directory ([directory] in the configuration).")
    directory.set_defaults(help_of=directory)
    directory_sub = directory.add_subparsers(title="commands", metavar="COMMAND")
    sync = directory_sub.add_parser("sync", parents=[common], help="sync people and numbers from the directory now",
                                    description="Read every person from Active Directory and update the caller "
                                                "index. A failed or partial read changes nothing.")
    sync.add_argument("--dry-run", action="store_true", help="show what would change (added / changed / "
                                                              "disabled / removed) without changing anything")
    sync.add_argument("--full", action="store_true", help="read everyone (the default reads only what changed "
                                                           "since the last sync, with a full read every "
                                                           "full_sync_interval)")
    sync.set_defaults(run=_directory_sync)
    lookup = directory_sub.add_parser("lookup", parents=[common], help="who has this phone number, and why",
                                      description="Look a caller's number up as the PBX intake does and explain "
                                                  "the answer.")
    lookup.add_argument("number", help="the number as the PBX sends it, e.g. 5551230009, +15551230009 or 4009")
    lookup.set_defaults(run=_directory_lookup)

    check = sub.add_parser("check", parents=[common], help="check every dependency and say how to fix failures",
                           description="Check the database, each PBX (AMI login and permissions), each directory "
                                       "server, Twilio, Slack and Redis, concurrently with bounded timeouts. Exit 1 "
                                       "if any check fails.")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per check (default 10)")
    check.set_defaults(run=_check)
    return parser


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from web.cli import check

    results = asyncio.run(check.run_checks(settings, timeout=args.timeout))
    print(check.render_json(results) if args.json else check.render_text(results))
    return 1 if any(r.status == "fail" for r in results) else 0


def _configure_logging(settings: Settings) -> None:
    from web import logs

    logs.configure(settings)  # [log] format text|json, secrets masked (docs/monitoring.md)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.runtime import db
    from web.app import create_app

    with_database(settings, lambda: db.prepare(settings.database))
    host = args.host or settings.web.host
    port = args.port or settings.web.port
    log.info("serving on http://%s:%d (config: %s)", host, port, settings.source)
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_config=None,  # our handlers: web.logs
                            log_level=settings.log.level or settings.web.log_level,
                            access_log=settings.web.access_log, proxy_headers=True, server_header=False,
                            lifespan="on",
                            # live-event streams never end by themselves: on shutdown they are cut after 5 s and the
                            # browsers reconnect (to another instance, or to this one once it is back)
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from web.runtime import db

    done = with_database(settings, lambda: db.upgrade(settings.database))
    if done:
        print(f"applied {len(done)} migrations: {', '.join(done)}")
    else:
        print("the database schema is up to date")
    return 0


def _db_status(args: argparse.Namespace, settings: Settings) -> int:
    from web.runtime import db

    pending, fresh = with_database(settings, lambda: db.pending_migrations(settings.database))
    if not pending:
        print("the database schema is up to date")
        return 0
    state = "empty database" if fresh else "schema behind"
    print(f"{state}: {len(pending)} pending migrations: {', '.join(pending)}")
    return 1


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from tickets.agent_service import AgentService
    from tickets.errors import Conflict
    from tickets.models import Role
    from web.schemas.common import AgentCreate

    try:
        data = AgentCreate.model_validate({"login": args.login, "display_name": args.display_name or args.login,
                                           "role": args.role, "extension": args.extension, "email": args.email},
                                          strict=False)
    except ValidationError as exc:
        from web.api import field_errors

        raise CommandFailed("; ".join(f"{e['field']}: {e['detail']}" for e in field_errors(exc))) from None

    password = None
    if getattr(args, "password", False):
        from web.cli.console import read_password

        password = read_password()

    async def add() -> str:
        from web.runtime import db

        agents = AgentService()
        await db.prepare(settings.database)
        try:
            agent = await agents.create(login=data.login, display_name=data.display_name, role=Role(data.role),
                                        extension=data.extension, email=data.email)
        except Conflict as exc:
            raise CommandFailed(f"{exc.message}; for a new token run: helpline user token {data.login}") from None
        _, secret = await agents.issue_token(agent.id, "cli")
        if password is not None:
            from web.auth.passwords import hash_password

            await agents.set_password(agent.id, hash_password(password))
        return secret

    secret = with_database(settings, add)
    print(f"added {data.role.value} {data.login}. API token (shown only now, store it safely):", file=sys.stderr)
    print(secret)
    return 0


def _user_token(args: argparse.Namespace, settings: Settings) -> int:
    from tickets.agent_service import AgentService

    async def issue() -> str:
        agents = AgentService()
        agent = await agents.by_login(args.login)
        if agent is None:
            raise CommandFailed(f"there is no agent {args.login!r}; add one with: helpline user add {args.login}")
        if not agent.active:
            raise CommandFailed(f"agent {args.login} is deactivated; reactivate them first (PATCH /api/v1/agents/{agent.id})")
        _, secret = await agents.issue_token(agent.id, args.token_name)
        return secret

    secret = with_database(settings, issue)
    print(f"new API token for {args.login} (shown only now, store it safely):", file=sys.stderr)
    print(secret)
    return 0


def _directory_sync(args: argparse.Namespace, settings: Settings) -> int:
    from web.runtime import db
    from web.runtime.directory import DirectoryService

    if not settings.directory.enabled:
        raise CommandFailed("no directory is configured: set [directory] servers, bind_dn, password_file and "
                            "base_dn (docs/directory.md)")
    service = DirectoryService(settings.directory)
    tty = sys.stderr.isatty()

    def progress(pages: int, people: int) -> None:
        if tty:
            print(f"\rreading the directory: {people} people, {pages} pages", end="", file=sys.stderr, flush=True)

    async def run() -> Any:
        from web.app import build_services

        await db.prepare(settings.database)
        service.tickets = build_services(settings, service).tickets
        return await service.run_sync(dry_run=args.dry_run, full=args.full, on_page=progress)

    try:
        report = with_database(settings, run)
    finally:
        service.directory.close()
    if tty:
        print(file=sys.stderr)
    if not report.ok:
        raise CommandFailed(report.summary())
    print(report.summary())
    if args.dry_run:
        for label, names in (("added", report.added), ("changed", report.changed), ("disabled", report.disabled),
                             ("removed", report.removed)):
            for name in names[:200]:
                print(f"  {label}: {name}")
            if len(names) > 200:
                print(f"  {label}: ... and {len(names) - 200} more")
    return 0


def _directory_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from tickets.calls.caller_index import sync_state
    from tickets.calls.callers import MatchStatus, PeopleByPhone
    from tickets.models import Person

    policy = settings.directory.number_policy()
    number = policy.parse(args.number)

    async def run() -> tuple[Any, list[Person], Any]:
        from web.runtime.directory import DirectoryService

        service = DirectoryService(settings.directory) if settings.directory.enabled else None
        lookup = service.lookup if service is not None else PeopleByPhone()  # live_fallback too, as the intake
        try:
            match = await lookup.lookup(number)
        finally:
            if service is not None:
                await service.stop()
        ids = [match.person_id] if match.person_id else list(match.candidates)
        people = await Person.filter(id__in=ids).order_by("id") if ids else []
        return match, list(people), await sync_state()

    match, people, state = with_database(settings, run)
    if number.e164:
        print(f"{args.number!r} is the public number {number.e164}"
              + (f" (region {policy.region})" if policy.region else ""))
    elif number.extension:
        print(f"{args.number!r} is the internal extension {number.extension}")
    elif number.national and policy.region is None:
        print(f"{args.number!r} is written without +<country code> and [directory] default_region is not set: "
              "it cannot be normalised")
    else:
        print(f"{args.number!r} identifies nobody (withheld, unknown or not a phone number)")
    source = "the directory index" if settings.directory.enabled else "people entered by hand (no [directory])"
    print(f"match: {match.status.value} (from {source}"
          + (f", number found in {match.attribute}" if match.attribute else "") + ")")
    for person in people:
        flags = [f for f, on in (("VIP", person.vip), ("disabled", person.disabled)) if on]
        detail = ", ".join(x for x in (person.department, person.title) if x)
        print(f"  #{person.id} {person.name}" + (f", {detail}" if detail else "")
              + (f" [{', '.join(flags)}]" if flags else ""))
    if match.status is MatchStatus.UNAVAILABLE:
        print("the directory has never been synced: run helpline directory sync")
        return 1
    if getattr(match, "stale", False) and state.last is not None:
        print(f"warning: the last sync failed ({state.last.error_kind}); this answer is from the sync of "
              f"{state.last_ok.finished_at if state.last_ok else 'never'}")
    return 0


def _pbx_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pbx.replay import ReplayServer, Session, describe

    if args.speed is not None and args.speed <= 0:
        raise CommandFailed("--speed must be greater than 0 (or use --max)")
    try:
        sessions = [Session.of(path) for path in args.files]
    except (OSError, ValueError) as exc:
        raise CommandFailed(f"cannot read the recording: {exc}") from None
    server = ReplayServer(sessions, host=args.host, port=args.port, username=args.username, secret=args.secret,
                          speed=None if args.max else args.speed, after_last="loop" if args.loop else "idle")

    async def run() -> None:
        try:
            await server.start()
        except OSError as exc:
            raise CommandFailed(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        pace = "as fast as possible" if args.max else f"at {args.speed:g}x real pace"
        print(f"AMI replay listening on {args.host}:{server.port} (username {args.username!r}), "
              f"{pace}: {describe(server.sessions)}", flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.close()

    asyncio.run(run())
    return 0

