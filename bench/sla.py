#!/usr/bin/env python3
"""helpline SLA benchmark: a scheduler pass at 10k and 1M open tickets, business-time arithmetic, firing delay.

    .venv/bin/python bench/sla.py                     # SQLite and PostgreSQL, 10,000 and 1,000,000 (about 3 min)
    .venv/bin/python bench/sla.py --backend sqlite    # SQLite only (a temporary file)
    .venv/bin/python bench/sla.py --big 200000        # a smaller big size
    make bench-sla BENCH_ARGS="--reps 9"

(a) **Scheduler pass.** Two databases per backend, migrated like production (SQLite: temporary files; PostgreSQL:
    throwaway databases on ``--postgres-url``, dropped after), get ``--small`` and ``--big`` open tickets, each with
    a running resolution clock (bulk-inserted: ``executemany`` / ``COPY``; the clocks' next events spread over the
    30 days after now). Per repetition, the sizes taking turns, ``--due`` clocks (different ones each time) are made
    due and one :meth:`SlaScheduler.run_due` fires their 50 % warnings (clock update, timeline event, ticket
    activity, all in one transaction), after an untimed pass of 20 that warms the connection. The median pass at
    each size and big/small are printed; target ratio <= 1.5 (the cost follows the due clocks, not the tickets).
(b) **Business-time arithmetic.** ``--adds`` additions ``Calendar.add(start, duration)`` on an office calendar with
    a lunch break and Russian public holidays (random starts over a year, durations from 15 minutes to 3 days),
    next to the raw baseline ``start + duration`` (plain datetime arithmetic) in the same run; target >= 200k/s.
(c) **Firing delay under load.** On the big database, the scheduler loop runs as in ``helpline serve`` while
    ``--writers`` tasks create tickets through the ticket service as fast as they can (each starts SLA clocks and
    wakes the scheduler); ``--events`` clocks come due at random moments over ``--window`` seconds. For each
    breach, the delay from its ``next_event_at`` to the event published after the commit: p50 / p99 / max;
    target p99 < 1 s.

Figures depend on the machine and on what else runs on it; the ratios are measured within one run.
Results are also written as JSON to bench/results/. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tickets.actor import Actor  # noqa: E402
from tickets.events import DomainEvent, SlaBreached  # noqa: E402
from tickets.models import Level  # noqa: E402
from tickets.sla.calendar import Calendar  # noqa: E402
from tickets.sla.clocks import SlaEngine  # noqa: E402
from tickets.sla.policy import PolicyBook  # noqa: E402
from tickets.sla.scheduler import SlaScheduler  # noqa: E402
from tickets.ticket_service import TicketService  # noqa: E402
from web.runtime import db  # noqa: E402
from web.settings import Settings, load_settings  # noqa: E402

UTC = UTC
HOURS = {
    "mon": ["08:00-13:00", "14:00-18:00"],
    "tue": ["08:00-13:00", "14:00-18:00"],
    "wed": ["08:00-13:00", "14:00-18:00"],
    "thu": ["08:00-13:00", "14:00-18:00"],
    "fri": ["08:00-13:00", "14:00-17:00"],
}
POLICIES = """
[[sla.calendars]]
name = "office"
timezone = "Europe/Moscow"
holidays = { country = "RU", extra = ["2026-12-31"] }
[sla.calendars.hours]
mon = ["08:00-13:00", "14:00-18:00"]
tue = ["08:00-13:00", "14:00-18:00"]
wed = ["08:00-13:00", "14:00-18:00"]
thu = ["08:00-13:00", "14:00-18:00"]
fri = ["08:00-13:00", "14:00-17:00"]

[[sla.policies]]
name = "default"
calendar = "office"
first_response = "4h"
resolution = "30h"
warn_at = [50, 75]
"""
#: The bench's "now" for the scheduler pass: Wednesday 4 March 2026, 13:30 in Moscow (office hours, after lunch).
PASS_NOW = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
#: The due clocks ran since Wednesday 08:00 Moscow: 4.5 business hours of a 8h target (the 50% warning is due).
PASS_SINCE = datetime(2026, 3, 4, 5, 0, tzinfo=UTC)
PASS_TARGET = 8 * 3600


def ts(t: datetime) -> str:
    """A datetime as tortoise stores it in SQLite (so that comparisons as text are right)."""
    return str(t.astimezone(UTC))


def policy_book(tmp: Path) -> PolicyBook:
    path = tmp / "sla.toml"
    path.write_text(POLICIES, encoding="utf-8")
    return load_settings(path, environ={}).sla.book()


# -- the databases ----------------------------------------------------------------------------------------------

TICKET_COLUMNS = (
    "id",
    "number",
    "title",
    "description",
    "type",
    "status",
    "impact",
    "urgency",
    "priority",
    "channel",
    "search_text",
    "reopen_count",
    "version",
    "created_at",
    "updated_at",
)
CLOCK_COLUMNS = (
    "id",
    "ticket_id",
    "metric",
    "policy",
    "calendar",
    "target_seconds",
    "warn_at",
    "warned",
    "state",
    "paused",
    "started_at",
    "running_since",
    "elapsed_seconds",
    "due_at",
    "next_event_at",
    "cycle",
    "version",
    "updated_at",
)
CHUNK = 50_000


def rows_of(first: int, last: int, now: datetime, rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    """Ticket and clock rows ``first`` .. ``last``: open tickets, each with a running resolution clock whose next
    event lies in the 30 days after now (after the pass's "now" and after the real one of part c)."""
    created = now - timedelta(days=1)
    later = max(now, datetime.now(UTC))
    ids = range(first, last + 1)
    tickets = [
        (
            i,
            f"IT-{i}",
            f"Printer {i}",
            "",
            "incident",
            "open",
            "medium",
            "medium",
            "P3",
            "api",
            f"it-{i} printer {i}",
            0,
            1,
            created,
            created,
        )
        for i in ids
    ]
    clocks = [
        (
            i,
            i,
            "resolution",
            "default",
            "office",
            PASS_TARGET,
            "50,75",
            "",
            "running",
            False,
            PASS_SINCE,
            PASS_SINCE,
            0.0,
            later + timedelta(days=31),
            later + timedelta(seconds=rng.uniform(3600, 30 * 86400)),
            1,
            1,
            created,
        )
        for i in ids
    ]
    return tickets, clocks


class SqliteStore:
    """A migrated SQLite file; bulk work through the sqlite3 module."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite://{path}"

    def _sql(self, sql: str, rows: list[tuple]) -> None:
        con = sqlite3.connect(self.path)
        try:
            with con:
                con.executemany(sql, [tuple(ts(v) if isinstance(v, datetime) else v for v in r) for r in rows])
        finally:
            con.close()

    async def load(self, tickets: int, now: datetime) -> None:
        rng = random.Random(7)
        con = sqlite3.connect(self.path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        with con:
            con.execute("UPDATE counter SET value = ? WHERE name = 'ticket'", (tickets,))
        t_sql = f"INSERT INTO ticket ({', '.join(TICKET_COLUMNS)}) VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"
        c_sql = f"INSERT INTO sla_clock ({', '.join(CLOCK_COLUMNS)}) VALUES ({', '.join('?' * len(CLOCK_COLUMNS))})"
        for first in range(1, tickets + 1, CHUNK):
            t_rows, c_rows = rows_of(first, min(first + CHUNK - 1, tickets), now, rng)
            with con:
                con.executemany(t_sql, [tuple(ts(v) if isinstance(v, datetime) else v for v in r) for r in t_rows])
                con.executemany(c_sql, [tuple(ts(v) if isinstance(v, datetime) else v for v in r) for r in c_rows])
        con.execute("ANALYZE")
        con.close()

    async def make_due(self, ids: list[int], at: datetime) -> None:
        """Set the next event of clocks ``ids`` to ``at``."""
        self._sql("UPDATE sla_clock SET next_event_at = ? WHERE id = ?", [(at, i) for i in ids])

    async def breach_only(self, plan: list[tuple[int, datetime]], target: int) -> None:
        """Clocks ``id`` on the 24x7 calendar without warnings, breached at ``due`` (part c)."""
        self._sql(
            "UPDATE sla_clock SET policy = 'bench-delay', calendar = '24x7', target_seconds = ?, warn_at = '', "
            "warned = '', running_since = ?, elapsed_seconds = 0, due_at = ?, next_event_at = ?, "
            "version = version + 1 WHERE id = ?",
            [(target, due - timedelta(seconds=target), due, due, i) for i, due in plan],
        )

    async def drop(self) -> None:
        pass


class PostgresStore:
    """A throwaway database on the server of ``admin_url``; bulk work through asyncpg (COPY)."""

    name = "postgres"

    def __init__(self, admin_url: str, label: str) -> None:
        self.admin = admin_url.replace("postgres://", "postgresql://", 1)
        self.db = f"helpline_bench_sla_{label}_{uuid.uuid4().hex[:8]}"
        parts = urlsplit(admin_url.replace("postgresql://", "postgres://", 1))
        self.url = urlunsplit(parts._replace(path="/" + self.db))

    async def create(self) -> None:
        conn = await asyncpg.connect(self.admin, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{self.db}"')
        finally:
            await conn.close()

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1), timeout=10)

    async def load(self, tickets: int, now: datetime) -> None:
        rng = random.Random(7)
        conn = await self._connect()
        try:
            await conn.execute("UPDATE counter SET value = $1 WHERE name = 'ticket'", tickets)
            for first in range(1, tickets + 1, CHUNK):
                t_rows, c_rows = rows_of(first, min(first + CHUNK - 1, tickets), now, rng)
                async with conn.transaction():
                    await conn.copy_records_to_table("ticket", records=t_rows, columns=list(TICKET_COLUMNS))
                    await conn.copy_records_to_table("sla_clock", records=c_rows, columns=list(CLOCK_COLUMNS))
            for table in ("ticket", "sla_clock"):
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {tickets})")
                await conn.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does within a minute of a load
        finally:
            await conn.close()

    async def make_due(self, ids: list[int], at: datetime) -> None:
        conn = await self._connect()
        try:
            await conn.executemany("UPDATE sla_clock SET next_event_at = $1 WHERE id = $2", [(at, i) for i in ids])
        finally:
            await conn.close()

    async def breach_only(self, plan: list[tuple[int, datetime]], target: int) -> None:
        conn = await self._connect()
        try:
            await conn.executemany(
                "UPDATE sla_clock SET policy = 'bench-delay', calendar = '24x7', target_seconds = $1, warn_at = '', "
                "warned = '', running_since = $2, elapsed_seconds = 0, due_at = $3, next_event_at = $3, "
                "version = version + 1 WHERE id = $4",
                [(target, due - timedelta(seconds=target), due, i) for i, due in plan],
            )
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await asyncpg.connect(self.admin, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        finally:
            await conn.close()


Store = SqliteStore | PostgresStore


async def migrate(url: str) -> None:
    settings = Settings.model_validate({"database": {"url": url}})
    await db.open_orm(settings.database)
    try:
        await db.upgrade(settings.database)
    finally:
        await db.close_orm()


# -- (a) one scheduler pass -------------------------------------------------------------------------------------

WARM_UP = 20  # clocks fired by an untimed pass after opening the database


async def one_pass(store: Store, book: PolicyBook, warm: list[int], ids: list[int]) -> float:
    """Open the database, fire ``warm`` untimed, then time one pass firing ``ids``."""
    await db.open_orm(Settings.model_validate({"database": {"url": store.url}}).database)
    try:
        engine = SlaEngine(book, clock=lambda: PASS_NOW)
        scheduler = SlaScheduler(engine, clock=lambda: PASS_NOW, batch=len(ids))
        for batch in (warm, ids):
            await store.make_due(batch, PASS_NOW - timedelta(seconds=1))
            gc.collect()
            started = time.perf_counter()
            fired = await scheduler.run_due()
            elapsed = time.perf_counter() - started
            if fired != len(batch):
                raise RuntimeError(f"a pass fired {fired} events, expected {len(batch)}")
            await store.make_due(batch, PASS_NOW + timedelta(days=400))  # their next (75%) warnings: out of the way
        return elapsed
    finally:
        await db.close_orm()


async def time_passes(stores: dict[int, Store], book: PolicyBook, due: int, reps: int) -> dict[int, list[float]]:
    """``reps`` timed passes per size, the sizes taking turns (a busy moment of the machine hits both alike)."""
    picked = {size: random.Random(size).sample(range(1, size + 1), (due + WARM_UP) * reps) for size in stores}
    times: dict[int, list[float]] = {size: [] for size in stores}
    for rep in range(reps):
        for size, store in stores.items():
            chunk = picked[size][rep * (due + WARM_UP) : (rep + 1) * (due + WARM_UP)]
            times[size].append(await one_pass(store, book, chunk[:WARM_UP], chunk[WARM_UP:]))
    return times


# -- (b) business-time arithmetic -------------------------------------------------------------------------------


def calendar_rates(n: int) -> dict[str, float]:
    cal = Calendar.build(
        "office", timezone="Europe/Moscow", hours=HOURS, country="RU", extra=[datetime(2026, 12, 31).date()]
    )
    rng = random.Random(1)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    choices = [timedelta(minutes=m) for m in (15, 30, 90, 240, 480, 1800, 3 * 1440)]
    starts = [base + timedelta(seconds=rng.randrange(0, 365 * 86400)) for _ in range(n)]
    durations = [rng.choice(choices) for _ in range(n)]
    add = cal.add
    gc.collect()
    t0 = time.perf_counter()
    for s, d in zip(starts, durations):
        add(s, d)
    business = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s, d in zip(starts, durations):
        s + d
    raw = time.perf_counter() - t0
    return {"business_adds_per_s": n / business, "raw_adds_per_s": n / raw, "business_s": business, "raw_s": raw}


# -- (c) the delay from next_event_at to the event ----------------------------------------------------------------


async def firing_delay(store: Store, book: PolicyBook, events: int, window: float, writers: int) -> dict[str, Any]:
    # clocks on the 24x7 calendar, breach only, due at random moments of the window (set before the loop starts)
    start = datetime.now(UTC) + timedelta(seconds=3)
    rng = random.Random(3)
    await store.breach_only(
        [(i, start + timedelta(seconds=rng.uniform(0, window))) for i in rng.sample(range(1, 10_000), events)], 60
    )
    await db.open_orm(Settings.model_validate({"database": {"url": store.url}}).database)
    try:
        engine = SlaEngine(book)
        tickets = TicketService(sla=engine)
        seen: list[tuple[SlaBreached, datetime]] = []

        def publish(event: DomainEvent) -> None:
            if isinstance(event, SlaBreached) and event.policy == "bench-delay":
                seen.append((event, datetime.now(UTC)))

        scheduler = SlaScheduler(engine, publish=publish)
        scheduler.start()
        stop = asyncio.Event()
        created = 0
        actor = Actor.system("bench")

        async def write() -> None:
            nonlocal created
            while not stop.is_set():
                await tickets.create(actor, title="Load", impact=Level.MEDIUM, urgency=Level.MEDIUM)
                created += 1

        load = [asyncio.create_task(write()) for _ in range(writers)]
        began = time.perf_counter()
        try:
            deadline = time.monotonic() + window + 15
            while len(seen) < events and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*load, return_exceptions=True)
            await scheduler.stop()
        busy = time.perf_counter() - began
        delays = sorted((at - e.due_at).total_seconds() for e, at in seen)
        if not delays:
            raise RuntimeError("no event fired")
        return {
            "events": events,
            "fired": len(delays),
            "window_s": window,
            "writers": writers,
            "load_tickets_per_s": created / busy,
            "p50_s": statistics.median(delays),
            "p99_s": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
            "max_s": delays[-1],
            "min_s": delays[0],
        }
    finally:
        await db.close_orm()


# -- main -----------------------------------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace, tmp: Path, book: PolicyBook) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stores: dict[int, Store] = {}
    try:
        for size in (args.small, args.big):
            if backend == "sqlite":
                store: Store = SqliteStore(tmp / f"sla_{size}.sqlite3")
            else:
                store = PostgresStore(args.postgres_url, str(size))
                await store.create()
            stores[size] = store
            await migrate(store.url)
            started = time.perf_counter()
            await store.load(size, PASS_NOW)
            took = time.perf_counter() - started
            out[f"load_{size}_s"] = took
            print(f"[{backend}] loaded {size:>9,} open tickets (+1 running clock each) in {took:6.1f} s", flush=True)
        passes = await time_passes(stores, book, args.due, args.reps)
        small, big = (statistics.median(passes[s]) for s in (args.small, args.big))
        out.update(
            pass_small_ms=small * 1e3,
            pass_big_ms=big * 1e3,
            pass_ratio=big / small,
            pass_small_all_ms=[t * 1e3 for t in passes[args.small]],
            pass_big_all_ms=[t * 1e3 for t in passes[args.big]],
        )
        print(f"\n[{backend}] (a) one scheduler pass firing {args.due} due clocks (median of {args.reps}):")
        print(f"    {args.small:>9,} open tickets: {small * 1e3:8.1f} ms")
        print(f"    {args.big:>9,} open tickets: {big * 1e3:8.1f} ms")
        print(
            f"    ratio big/small: {big / small:.2f}  (target <= 1.5)  {'OK' if big / small <= 1.5 else 'MISSED'}",
            flush=True,
        )
        delay = await firing_delay(stores[args.big], book, args.events, args.window, args.writers)
        out["delay"] = delay
        print(
            f"\n[{backend}] (c) firing delay on {args.big:,} open tickets, {delay['fired']}/{delay['events']} "
            f"breaches over {args.window:.0f} s, {args.writers} writers creating "
            f"{delay['load_tickets_per_s']:.0f} tickets/s meanwhile:"
        )
        print(
            f"    next_event_at -> event: p50 {delay['p50_s'] * 1e3:.0f} ms, p99 {delay['p99_s'] * 1e3:.0f} ms, "
            f"max {delay['max_s'] * 1e3:.0f} ms  (target p99 < 1 s)  {'OK' if delay['p99_s'] < 1 else 'MISSED'}",
            flush=True,
        )
    finally:
        for store in stores.values():
            await store.drop()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": os.getloadavg(),
        "args": vars(args),
    }
    started = time.perf_counter()
    rates = calendar_rates(args.adds)
    results["calendar"] = rates
    print(f"(b) {args.adds:,} additions on an office calendar (lunch break, RU holidays):")
    print(
        f"    business time:            {rates['business_adds_per_s']:12,.0f} /s  (target >= 200,000)  "
        f"{'OK' if rates['business_adds_per_s'] >= 200_000 else 'MISSED'}"
    )
    print(
        f"    raw datetime + timedelta: {rates['raw_adds_per_s']:12,.0f} /s  "
        f"(business / raw = {rates['business_adds_per_s'] / rates['raw_adds_per_s']:.3f})\n",
        flush=True,
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="helpline_bench_sla_") as tmp_name:
        tmp = Path(tmp_name)
        book = policy_book(tmp)
        for backend in backends:
            results[backend] = await run_backend(backend, args, tmp, book)
            print()
    results["seconds"] = time.perf_counter() - started
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    target = out / f"sla-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    target.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(f"whole run {results['seconds']:.0f} s; results: {target.relative_to(ROOT)}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=10_000, help="open tickets of the small database")
    parser.add_argument("--big", type=int, default=1_000_000, help="open tickets of the big database")
    parser.add_argument("--due", type=int, default=100, help="clocks due in each timed pass")
    parser.add_argument("--reps", type=int, default=5, help="timed passes per size (median)")
    parser.add_argument("--adds", type=int, default=1_000_000, help="business-time additions")
    parser.add_argument("--events", type=int, default=300, help="breaches in the firing-delay run")
    parser.add_argument("--window", type=float, default=15.0, help="seconds over which they come due")
    parser.add_argument("--writers", type=int, default=4, help="tasks creating tickets meanwhile")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("HELPLINE_BENCH_POSTGRES_URL")
        or os.environ.get("HELPLINE_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/test",
        help="a server where this user may CREATE DATABASE (throwaway databases, dropped after)",
    )
    args = parser.parse_args(argv)
    if min(args.small, args.big) < max((args.due + WARM_UP) * args.reps, 10_000):
        parser.error(
            "--small and --big must be at least 10,000 and (--due + 20) x --reps: each pass fires fresh clocks"
        )
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
