"""``helpline directory sync`` and ``helpline directory lookup``: the caller directory from Active Directory."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from web.cli.support import CommandFailed, with_runtime
from web.settings import Settings

if TYPE_CHECKING:
    from web.runtime import Runtime


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    directory = sub.add_parser(
        "directory",
        parents=[common],
        help="Active Directory: sync, lookup",
        description="The caller directory ([directory] in the configuration).",
    )
    directory.set_defaults(help_of=directory)
    directory_sub = directory.add_subparsers(title="commands", metavar="COMMAND")
    sync = directory_sub.add_parser(
        "sync",
        parents=[common],
        help="sync people and numbers from the directory now",
        description="Read every person from Active Directory and update the caller "
        "index. A failed or partial read changes nothing.",
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would change (added / changed / disabled / removed) without changing anything",
    )
    sync.add_argument(
        "--full",
        action="store_true",
        help="read everyone (the default reads only what changed "
        "since the last sync, with a full read every "
        "full_sync_interval)",
    )
    sync.set_defaults(run=_directory_sync)
    lookup = directory_sub.add_parser(
        "lookup",
        parents=[common],
        help="who has this phone number, and why",
        description="Look a caller's number up as the PBX intake does and explain the answer.",
    )
    lookup.add_argument("number", help="the number as the PBX sends it, e.g. 5551230009, +15551230009 or 4009")
    lookup.set_defaults(run=_directory_lookup)


def _directory_sync(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.directory.enabled:
        raise CommandFailed(
            "no directory is configured: set [directory] servers, bind_dn, password_file and "
            "base_dn (docs/directory.md)"
        )
    tty = sys.stderr.isatty()

    def progress(pages: int, people: int) -> None:
        if tty:
            print(f"\rreading the directory: {people} people, {pages} pages", end="", file=sys.stderr, flush=True)

    async def run(runtime: Runtime) -> Any:
        assert runtime.directory is not None
        return await runtime.directory.run_sync(dry_run=args.dry_run, full=args.full, on_page=progress)

    report = with_runtime(settings, run, prepare=True)
    if tty:
        print(file=sys.stderr)
    if not report.ok:
        raise CommandFailed(report.summary())
    print(report.summary())
    if args.dry_run:
        for label, names in (
            ("added", report.added),
            ("changed", report.changed),
            ("disabled", report.disabled),
            ("removed", report.removed),
        ):
            for name in names[:200]:
                print(f"  {label}: {name}")
            if len(names) > 200:
                print(f"  {label}: ... and {len(names) - 200} more")
    return 0


def _directory_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from tickets.calls.aliases import ATTRIBUTE as ALIAS
    from tickets.calls.aliases import alias_of
    from tickets.calls.caller_index import sync_state
    from tickets.calls.callers import MatchStatus
    from tickets.models import CallerAlias, CallerIndexEntry, Person

    policy = settings.directory.number_policy()
    number = policy.parse(args.number)

    async def run(runtime: Runtime) -> tuple[Any, list[Person], Any, CallerAlias | None, list[tuple[str, str]]]:
        match = await runtime.intake.lookup.lookup(number)  # as the intake asks (live_fallback too)
        ids = [match.person_id] if match.person_id else list(match.candidates)
        people = await Person.filter(id__in=ids).order_by("id") if ids else []
        alias = await alias_of(number.key) if match.attribute == ALIAS else None
        hidden: list[tuple[str, str]] = []  # whom the directory gives the aliased number to: not silently
        if alias is not None:
            rows = await CallerIndexEntry.filter(key=alias.key, person__disabled=False).limit(10)
            for row in rows:
                if row.person_id != alias.person_id:
                    owner = await Person.get(id=row.person_id)
                    hidden.append((f"#{owner.id} {owner.name}", row.attribute))
        return match, list(people), await sync_state(), alias, hidden

    match, people, state, alias, hidden = with_runtime(settings, run)
    if number.e164:
        print(
            f"{args.number!r} is the public number {number.e164}"
            + (f" (region {policy.region})" if policy.region else "")
        )
    elif number.extension:
        print(f"{args.number!r} is the internal extension {number.extension}")
    elif number.national and policy.region is None:
        print(
            f"{args.number!r} is written without +<country code> and [directory] default_region is not set: "
            "it cannot be normalised"
        )
    else:
        print(f"{args.number!r} identifies nobody (withheld, unknown or not a phone number)")
    source = "the directory index" if settings.directory.enabled else "people entered by hand (no [directory])"
    if alias is not None:
        source = (
            f"a local alias made by {alias.created_by_label} on {alias.created_at:%Y-%m-%d %H:%M} UTC; "
            "it answers before the directory"
        )
    print(
        f"match: {match.status.value} (from {source}"
        + (f", number found in {match.attribute}" if match.attribute and alias is None else "")
        + ")"
    )
    for person in people:
        flags = [f for f, on in (("VIP", person.vip), ("disabled", person.disabled)) if on]
        detail = ", ".join(x for x in (person.department, person.title, person.office) if x)
        print(
            f"  #{person.id} {person.name}"
            + (f", {detail}" if detail else "")
            + (f" [{', '.join(flags)}]" if flags else "")
        )
    for who, attribute in hidden:
        print(f"  (the directory has this number for {who}, in {attribute}: the alias answers instead)")
    if match.status is MatchStatus.UNAVAILABLE:
        print("the directory has never been synced: run helpline directory sync")
        return 1
    if getattr(match, "stale", False) and state.last is not None:
        print(
            f"warning: the last sync failed ({state.last.error_kind}); this answer is from the sync of "
            f"{state.last_ok.finished_at if state.last_ok else 'never'}"
        )
    return 0
