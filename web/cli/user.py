"""``helpline user add|token|password``: agents, their API tokens and their console passwords."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from web.cli.support import CommandFailed, with_runtime
from web.settings import Settings

if TYPE_CHECKING:
    from web.runtime import Runtime


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", parents=[common], help="agents and their API tokens", description="Manage agents.")
    user.set_defaults(help_of=user)
    user_sub = user.add_subparsers(title="commands", metavar="COMMAND")
    add = user_sub.add_parser(
        "add",
        parents=[common],
        help="add an agent and print their API token",
        description="Add an agent and print a new API token (shown only once). At a terminal it asks for a "
        "console password (empty: none); in a script it sets one only with --password (stdin) or "
        "--password-file.",
    )
    add.add_argument("login", help="login name: lowercase letters, digits, '.', '_' or '-'")
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    add.add_argument("--extension", help="phone extension, e.g. 101")
    add.add_argument("--name", dest="display_name", help="display name (default: the login)")
    add.add_argument("--email")
    _password_options(add).add_argument(
        "--no-password",
        action="store_true",
        help="do not ask for a console password (the agent uses API tokens, or an admin sets one later)",
    )
    add.set_defaults(run=_user_add)
    token = user_sub.add_parser(
        "token",
        parents=[common],
        help="issue another API token for an agent",
        description="Issue a new API token for an existing agent (e.g. a lost admin token).",
    )
    token.add_argument("login")
    token.add_argument("--token-name", default="cli", help="a label to tell tokens apart")
    token.set_defaults(run=_user_token)
    password = user_sub.add_parser(
        "password",
        parents=[common],
        help="set an agent's console password",
        description="Set (or with --clear remove) the password an agent logs in to the "
        "console with: from --password-file, else asked for twice on a terminal, else the first line of stdin. "
        "Their open console sessions end.",
    )
    password.add_argument("login")
    password.add_argument(
        "--password-file", metavar="FILE", help="read the password from the first line of FILE (- for stdin)"
    )
    password.add_argument("--clear", action="store_true", help="remove the password (API tokens keep working)")
    password.set_defaults(run=_user_password)


def _password_options(parser: argparse.ArgumentParser) -> Any:
    """``--password`` and ``--password-file`` (one of them); returns their group."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--password",
        action="store_true",
        help="set a console password: asked for on a terminal, else the first line of stdin",
    )
    how.add_argument(
        "--password-file", metavar="FILE", help="set the console password from the first line of FILE (- for stdin)"
    )
    return how


def read_password(path: str | None = None, *, allow_empty: bool = False) -> str | None:
    """A new password: the first line of ``path`` (``-``: stdin), else asked twice on a terminal, else the first
    line of stdin. Refused when too weak; with ``allow_empty`` an empty answer on the terminal means none (None)."""
    from web.auth.passwords import check_strength

    if path is not None:
        first = _first_line(path)
    elif sys.stdin.isatty():
        first = getpass.getpass("console password (empty: none): " if allow_empty else "console password: ")
        if not first and allow_empty:
            return None
        if getpass.getpass("again: ") != first:
            raise CommandFailed("the two passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    problem = check_strength(first)
    if problem:
        raise CommandFailed(problem)
    return first


def _first_line(path: str) -> str:
    if path == "-":
        return sys.stdin.readline().rstrip("\r\n")
    try:
        with open(path, encoding="utf-8") as file:
            return file.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandFailed(f"cannot read the password file {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from tickets.errors import Conflict
    from tickets.models import Role
    from web.schemas.agents import AgentCreate

    try:
        data = AgentCreate.model_validate(
            {
                "login": args.login,
                "display_name": args.display_name or args.login,
                "role": args.role,
                "extension": args.extension,
                "email": args.email,
            },
            strict=False,
        )
    except ValidationError as exc:
        from web.api import field_errors

        raise CommandFailed("; ".join(f"{e['field']}: {e['detail']}" for e in field_errors(exc))) from None

    # asked for when a person is at a terminal (stdin and stderr, where messages go, both one), unless told not to:
    # never a prompt that a script, or a test capturing the output, would hang on
    if args.password or args.password_file is not None:
        password = read_password(args.password_file)
    elif sys.stdin.isatty() and sys.stderr.isatty() and not args.no_password:
        password = read_password(allow_empty=True)
    else:
        password = None

    async def add(runtime: Runtime) -> str:
        agents = runtime.agents
        try:
            agent = await agents.create(
                login=data.login,
                display_name=data.display_name,
                role=Role(data.role),
                extension=data.extension,
                email=data.email,
            )
        except Conflict as exc:
            raise CommandFailed(f"{exc.message}; for a new token run: helpline user token {data.login}") from None
        _, secret = await agents.issue_token(agent.id, "cli")
        if password is not None:
            from web.auth.passwords import hash_password

            await agents.set_password(agent.id, hash_password(password))
        return secret

    secret = with_runtime(settings, add, prepare=True)
    if password is None:  # on stderr like the line below: stdout is the token alone, for TOKEN=$(helpline user add)
        print(
            f"{data.login} has no console password yet (API tokens only); set one with: "
            f"helpline user password {data.login}",
            file=sys.stderr,
        )
    print(f"added {data.role.value} {data.login}. API token (shown only now, store it safely):", file=sys.stderr)
    print(secret)
    return 0


def _user_token(args: argparse.Namespace, settings: Settings) -> int:
    async def issue(runtime: Runtime) -> str:
        agents = runtime.agents
        agent = await agents.by_login(args.login)
        if agent is None:
            raise CommandFailed(f"there is no agent {args.login!r}; add one with: helpline user add {args.login}")
        if not agent.active:
            raise CommandFailed(
                f"agent {args.login} is deactivated; reactivate them first (PATCH /api/v1/agents/{agent.id})"
            )
        _, secret = await agents.issue_token(agent.id, args.token_name)
        return secret

    secret = with_runtime(settings, issue)
    print(f"new API token for {args.login} (shown only now, store it safely):", file=sys.stderr)
    print(secret)
    return 0


def _user_password(args: argparse.Namespace, settings: Settings) -> int:
    from web.auth.passwords import hash_password

    if args.clear and args.password_file is not None:
        raise CommandFailed("--clear and --password-file contradict each other")
    new = None if args.clear else read_password(args.password_file)
    hashed = None if new is None else hash_password(new)

    async def store(runtime: Runtime) -> None:
        agent = await runtime.agents.by_login(args.login)
        if agent is None:
            raise CommandFailed(f"there is no agent {args.login!r}; add one with: helpline user add {args.login}")
        await runtime.agents.set_password(agent.id, hashed)

    with_runtime(settings, store)
    print(f"{'removed the' if args.clear else 'set a new'} console password of {args.login}", file=sys.stderr)
    return 0
