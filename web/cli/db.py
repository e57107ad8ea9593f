"""``helpline db upgrade`` and ``helpline db status``: the database schema."""

from __future__ import annotations

import argparse
from typing import Any

from web.cli.support import with_database
from web.settings import Settings


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", parents=[common], help="database schema", description="Manage the database schema.")
    db.set_defaults(help_of=db)
    db_sub = db.add_subparsers(title="commands", metavar="COMMAND")
    upgrade = db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="apply pending migrations",
        description="Apply every pending migration. Back up the database first.",
    )
    upgrade.set_defaults(run=_db_upgrade)
    status = db_sub.add_parser(
        "status",
        parents=[common],
        help="list pending migrations",
        description="Show whether the schema is up to date; exit 1 if migrations are pending.",
    )
    status.set_defaults(run=_db_status)


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
