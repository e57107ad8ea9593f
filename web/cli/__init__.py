"""The ``helpline`` command. Each command group is a module of this package with an ``add_commands``:
``serve``, ``db`` (upgrade, status), ``user`` (add, token, password), ``demo``, ``pbx`` (replay), ``directory``
(sync, lookup) and ``check``.

Exit codes: 0 success, 1 the task failed (database unreachable, user exists, ...), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from web.cli import check, db, demo, directory, pbx, serve, user
from web.cli.support import CommandFailed
from web.settings import ConfigError, load_settings
from web.version import VERSION

#: The command groups, in the order ``helpline --help`` lists them.
GROUPS = (serve, db, user, demo, pbx, directory, check)


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
    from web import logs

    logs.configure(settings)  # [log] format text|json, secrets masked (docs/monitoring.md)
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
    for group in GROUPS:
        group.add_commands(sub, common)
    return parser
