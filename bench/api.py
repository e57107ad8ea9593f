#!/usr/bin/env python3
"""helpline API benchmark: ticket creation and list/filter latency over real HTTP, plus a raw-driver baseline.

    .venv/bin/python bench/api.py                      # both backends, full sizes (4-5 minutes on 2 cores)
    .venv/bin/python bench/api.py --backend sqlite --quick
    make bench BENCH_ARGS="--backend postgres"

For each backend it
  (a) starts a real ``helpline serve`` (uvicorn, as users run it; access log off) on a free loopback port and sends
      ``--creates`` POST /api/v1/tickets from ``--concurrency`` keep-alive httpx clients in this process;
  (b) bulk-inserts valid tickets (as the API makes them) up to ``--tickets`` and times typical list requests over
      HTTP, one client, one request at a time, p50/p99 per kind (and a short mixed run with several clients);
  (c) inserts equivalent ticket rows with the raw driver (aiosqlite / asyncpg), one autocommitted INSERT per row
      from the same number of concurrent tasks, into a fresh database of the same schema, and prints
      helpline-create-rate / raw-insert-rate. A second baseline does the same SQL work as one API create
      (counter, ticket, activity in one transaction) with the raw driver.

SQLite runs in a temporary file; PostgreSQL in throwaway databases created on the server of ``--postgres-url``
(default $HELPLINE_BENCH_POSTGRES_URL, $HELPLINE_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test)
and dropped afterwards. Results are printed as a table and written as JSON to bench/results/.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402
import asyncpg  # noqa: E402
import httpx  # noqa: E402

from tickets.agent_service import AgentService  # noqa: E402
from tickets.models import Person, Role  # noqa: E402
from tickets.priority import DEFAULT_MATRIX  # noqa: E402
from tickets.search import fold  # noqa: E402
from web.http import cursor  # noqa: E402
from web.runtime import db  # noqa: E402
from web.settings import Settings  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
API = "/api/v1"
#: Targets (docs/benchmarks.md).
LIST_P99_TARGET_MS = 30.0
SQLITE_CREATE_TARGET = 500.0

# -- test data --------------------------------------------------------------------------------------------------

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Иван",
    "Мария",
    "José",
    "Zoë",
    "Søren",
    "Chloé",
    "Wei",
    "Aiko",
    "Priya",
    "Tom",
    "Anna",
    "Lukas",
    "Fatima",
    "Omar",
    "Sven",
    "Nadia",
    "สมชาย",
    "Jürgen",
    "Élodie",
    "Kwame",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Петров",
    "Смирнова",
    "García",
    "Müller",
    "Dubois",
    "Nakamura",
    "Sharma",
    "Kowalski",
    "O'Brien",
    "Jensen",
    "Rossi",
    "Nguyen",
    "Haddad",
    "Berg",
    "Novak",
    "Silva",
    "Park",
    "ใจดี",
    "Schäfer",
    "Mensah",
    "Lindqvist",
]
DEPARTMENTS = ["Finance", "Sales", "HR", "Logistics", "Legal", "Marketing", "Engineering", "Support", "Facilities"]
APPS = ["Jira", "SAP", "Salesforce", "Confluence", "Workday", "GitLab", "Navision", "DATEV", "Zoom"]
TITLES = [
    "Printer on {floor} floor jams",
    "VPN drops every {n} minutes",
    "Outlook cannot connect to Exchange",
    "Password reset for {person}",
    "New starter: laptop for {person}",
    "Monitor flickers at desk {desk}",
    "Teams call audio echoes",
    "Wi-Fi slow in meeting room {room}",
    "Cannot open shared drive {drive}:",
    "Phone extension {ext} has no dial tone",
    "Laptop battery swollen",
    "Access to {app} for {person}",
    "Scanner sends empty PDFs",
    "Keyboard missing keys",
    "{app} login fails with error {code}",
    "Disk full on {host}",
    "Second monitor for {person}",
    "Blue screen after update KB{kb}",
    "Принтер не печатает",
    "Не работает VPN у {person}",
    "Headset not recognised",
    "Mailbox over quota",
]
SENTENCES = [
    "Started this morning after the reboot.",
    "The user already tried turning it off and on again.",
    "Happens on every second attempt.",
    "Error message: {code}.",
    "Affects the whole {dept} team.",
    "Caller {person} is working from home today.",
    "Urgent: month-end closing depends on it.",
    "Same issue as last week, came back.",
    "Screenshot attached to the email.",
    "Asset tag {tag}.",
    "Пользователь {person} ждёт ответа.",
    "Please call back on extension {ext}.",
    "Only on the {floor} floor.",
]
GROUPS = ["service-desk", "network", "workplace", "apps", "security", "telephony"]
STATUS_WEIGHTS = {"new": 4, "open": 7, "pending": 4, "resolved": 7, "closed": 78}
LEVELS = ["high", "medium", "low"]
LEVEL_WEIGHTS = [1, 3, 4]
#: Words for q=: common ones find a page of hits near the newest rows; rare ones make the database look at all rows.
COMMON_WORDS = ["printer", "vpn", "outlook", "password", "monitor", "wi-fi", "петров"]
RARE_WORDS = ["kerberos", "srv-db-0042", "плоттер", "zebra"]
N_AGENTS = 24
N_PERSONS = 2000


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def fill(rng: random.Random, template: str) -> str:
    return template.format(
        floor=rng.choice(["1st", "2nd", "3rd", "4th", "5th"]),
        n=rng.randint(2, 60),
        person=person_name(rng),
        desk=rng.randint(1, 400),
        room=rng.choice(["Atlas", "Borealis", "Cygnus", "Draco", "Eos"]),
        drive=rng.choice("GHKPSX"),
        ext=rng.randint(100, 999),
        app=rng.choice(APPS),
        code=hex(rng.getrandbits(24)),
        host=f"srv-{rng.choice(['app', 'file', 'print'])}-{rng.randint(1, 99):02d}",
        kb=rng.randint(5000000, 5099999),
        dept=rng.choice(DEPARTMENTS),
        tag=f"AT-{rng.randint(10000, 99999)}",
    )


def text_pair(rng: random.Random) -> tuple[str, str]:
    title = fill(rng, rng.choice(TITLES))[:200]
    description = " ".join(fill(rng, rng.choice(SENTENCES)) for _ in range(rng.randint(1, 4)))
    return title, description


def api_payload(rng: random.Random, agent_logins: Sequence[str], person_ids: Sequence[int]) -> dict[str, Any]:
    """A POST /api/v1/tickets body like the agent console or a script sends."""
    title, description = text_pair(rng)
    body: dict[str, Any] = {
        "title": title,
        "description": description,
        "impact": rng.choices(LEVELS, LEVEL_WEIGHTS)[0],
        "urgency": rng.choices(LEVELS, LEVEL_WEIGHTS)[0],
        "type": "incident" if rng.random() < 0.75 else "service_request",
        "channel": rng.choice(["phone", "phone", "web", "api", "email"]),
        "group": rng.choice(GROUPS),
    }
    if rng.random() < 0.7:
        body["requester_id"] = rng.choice(person_ids)
    if body["channel"] == "phone":
        body["caller_number"] = f"+4930{rng.randint(1000000, 9999999)}"
    if agent_logins and rng.random() < 0.33:
        body["assignee"] = rng.choice(agent_logins)
    return body


@dataclass
class Ids:
    """What the seeding needs to know about the database's agents and people."""

    token: str
    admin_id: int
    agent_logins: list[str]
    agent_ids: list[int]
    person_ids: list[int]


TICKET_COLUMNS = (
    "number",
    "title",
    "description",
    "type",
    "status",
    "impact",
    "urgency",
    "priority",
    "channel",
    "requester_id",
    "caller_number",
    "assignee_id",
    "group_name",
    "created_by_id",
    "resolution",
    "search_text",
    "reopen_count",
    "version",
    "created_at",
    "updated_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
)


def new_ticket_row(
    payload: dict[str, Any], number: str, ids: Ids, agent_by_login: dict[str, int], now: datetime
) -> tuple[Any, ...]:
    """The row TicketService.create writes for ``payload`` (status new, version 1)."""
    return (
        number,
        payload["title"],
        payload["description"],
        payload["type"],
        "new",
        payload["impact"],
        payload["urgency"],
        DEFAULT_MATRIX[payload["impact"]][payload["urgency"]],
        payload["channel"],
        payload.get("requester_id"),
        payload.get("caller_number"),
        agent_by_login.get(payload.get("assignee", "")),
        payload.get("group"),
        ids.admin_id,
        None,
        fold(number, payload["title"], payload["description"]),
        0,
        1,
        now,
        now,
        None,
        None,
        None,
    )


def seed_ticket_row(rng: random.Random, n: int, ids: Ids, created: datetime, now: datetime) -> tuple[Any, ...]:
    """A ticket of some age in some state, as the workflow would have left it."""
    payload = api_payload(rng, [], ids.person_ids)
    number = f"IT-{n}"
    status = rng.choices(list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values()))[0]
    assignee = None
    if status != "new" or rng.random() < 0.2:
        # a few agents carry most tickets
        assignee = ids.agent_ids[min(int(rng.expovariate(1 / 6)), len(ids.agent_ids) - 1)]
    first_response = resolved = closed = resolution = None
    version = 1 + (assignee is not None)
    updated = created
    if status != "new":
        first_response = created + timedelta(minutes=rng.randint(1, 240), microseconds=rng.randint(1, 999_999))
        updated = first_response
        version += 1
    if status in ("resolved", "closed"):
        resolved = first_response + timedelta(hours=rng.randint(1, 72), microseconds=rng.randint(1, 999_999))
        resolution = rng.choice(
            [
                "Replaced the toner.",
                "Reset the password.",
                "Reinstalled the client.",
                "Escalated to the vendor, fixed by patch.",
                "Cable was loose.",
            ]
        )
        updated = resolved
        version += 1
    if status == "closed":
        closed = resolved + timedelta(days=rng.randint(1, 7), microseconds=rng.randint(1, 999_999))
        updated = closed
        version += 1
    first_response, resolved, closed, updated = (
        None if t is None else min(t, now) for t in (first_response, resolved, closed, updated)
    )
    title, description = payload["title"], payload["description"]
    return (
        number,
        title,
        description,
        payload["type"],
        status,
        payload["impact"],
        payload["urgency"],
        DEFAULT_MATRIX[payload["impact"]][payload["urgency"]],
        payload["channel"],
        payload.get("requester_id"),
        payload.get("caller_number"),
        assignee,
        payload["group"],
        ids.admin_id,
        resolution,
        fold(number, title, description),
        0,
        version,
        created,
        updated,
        first_response,
        resolved,
        closed,
    )


# -- measuring --------------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_summary(latencies: list[float]) -> dict[str, float]:
    s = sorted(latencies)
    ms = 1000.0
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 0.50) * ms, 2),
        "p90_ms": round(percentile(s, 0.90) * ms, 2),
        "p99_ms": round(percentile(s, 0.99) * ms, 2),
        "max_ms": round(s[-1] * ms, 2) if s else float("nan"),
        "mean_ms": round(sum(s) / len(s) * ms, 2) if s else float("nan"),
    }


CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (0 if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields_ = raw.rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class CpuMeter:
    """CPU used during a phase by the server, this process, the database's server processes and the machine."""

    def __init__(self, server_pid: int | None, db_pids: DbPids) -> None:
        self.server_pid = server_pid
        self.db_pids = db_pids

    async def __aenter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.server0 = process_cpu(self.server_pid) if self.server_pid else 0.0
        self.self0 = time.process_time()
        self.db0 = await self.db_pids.snapshot()
        self.machine0 = machine_cpu()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self.server = (process_cpu(self.server_pid) if self.server_pid else 0.0) - self.server0
        self.client = time.process_time() - self.self0
        db1 = await self.db_pids.snapshot()
        self.db = sum(v - self.db0.get(pid, 0.0) for pid, v in db1.items())
        busy1, total1 = machine_cpu()
        self.machine_busy = busy1 - self.machine0[0]
        self.machine_total = total1 - self.machine0[1]

    def report(self, requests: int) -> dict[str, Any]:
        per = 1000.0 / max(requests, 1)
        other = self.machine_busy - self.server - self.client - self.db
        return {
            "wall_s": round(self.wall, 3),
            "server_cpu_ms_per_req": round(self.server * per, 3),
            "client_cpu_ms_per_req": round(self.client * per, 3),
            "db_cpu_ms_per_req": round(self.db * per, 3) if self.db_pids.enabled else None,
            "server_cpu_util": round(self.server / self.wall, 3) if self.wall else None,
            "machine_busy_cores": round(self.machine_busy / self.wall, 2) if self.wall else None,
            "other_processes_cores": round(max(other, 0.0) / self.wall, 2) if self.wall else None,
            "server_ceiling_per_s": round(requests / self.server) if self.server else None,
        }


class DbPids:
    """PostgreSQL backend processes of the benchmark's database (their CPU counts as database time)."""

    def __init__(self, admin_url: str | None = None, database: str | None = None) -> None:
        self.admin_url = admin_url
        self.database = database

    @property
    def enabled(self) -> bool:
        return self.admin_url is not None

    async def snapshot(self) -> dict[int, float]:
        if not self.enabled:
            return {}
        conn = await asyncpg.connect(self.admin_url)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.database
            )
        finally:
            await conn.close()
        return {r["pid"]: process_cpu(r["pid"]) for r in rows}


# -- the server -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


def start_server(database_url: str, workdir: Path) -> Server:
    """``helpline serve`` as users run it (default settings, access log off) on a free loopback port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(
        {
            "HELPLINE_DATABASE_URL": database_url,
            "HELPLINE_WEB_HOST": "127.0.0.1",
            "HELPLINE_WEB_PORT": str(port),
            "HELPLINE_WEB_ACCESS_LOG": "false",
        }
    )
    script = Path(sys.executable).with_name("helpline")
    if script.exists():
        cmd = [str(script), "serve"]
    else:
        cmd = [sys.executable, "-m", "web.cli", "serve"]
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"helpline serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return Server(base, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"helpline serve did not answer within 60 s:\n{log_path.read_text()}")


class Spy:
    """``py-spy record`` attached to the server during one phase (``--profile-server``): collapsed stacks, one line
    per distinct stack with its sample count, for flamegraph.pl / speedscope or grep."""

    def __init__(self, pid: int, out: Path | None) -> None:
        self.pid, self.out = pid, out
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Spy:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if self.out is not None and Path(exe).exists():
            self.process = subprocess.Popen(
                [
                    exe,
                    "record",
                    "--pid",
                    str(self.pid),
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(self.out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        elif self.out is not None:
            log("--profile-server needs py-spy (pip install py-spy); not profiling")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


# -- databases --------------------------------------------------------------------------------------------------


def pg_url(base: str, database: str, scheme: str = "postgres") -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(scheme=scheme, path="/" + database))


def driver_url(url: str) -> str:
    """A tortoise-style postgres:// URL as asyncpg wants it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


def sqlite_path(url: str) -> str:
    return url.split("://", 1)[1].split("?", 1)[0]


class Backend:
    """Where the databases of one backend's run live, and how to make and remove them."""

    name: str

    async def new_database(self, label: str) -> str:
        raise NotImplementedError

    async def cleanup(self) -> None:
        raise NotImplementedError

    def db_pids(self, url: str) -> DbPids:
        return DbPids()


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    async def new_database(self, label: str) -> str:
        return f"sqlite://{self.workdir / (label + '.sqlite3')}"

    async def cleanup(self) -> None:
        pass


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = driver_url(admin_url)
        self.base = admin_url.replace("postgresql://", "postgres://", 1)
        self.created: list[str] = []
        self.server_version = ""

    async def new_database(self, label: str) -> str:
        name = f"helpline_bench_{label}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            self.server_version = await conn.fetchval("SHOW server_version")
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        return pg_url(self.base, name)

    async def cleanup(self) -> None:
        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.created.clear()

    def db_pids(self, url: str) -> DbPids:
        return DbPids(self.admin_url, urlsplit(url).path.lstrip("/"))


async def prepare_database(url: str, rng: random.Random) -> Ids:
    """Migrate, then add an admin (whose token the clients use), agents and people, the way the app does."""
    settings = Settings.model_validate({"database": {"url": url}})
    await db.open_orm(settings.database)
    try:
        await db.upgrade(settings.database)
        agents = AgentService()
        admin = await agents.create(login="bench", display_name="Bench Admin", role=Role.ADMIN)
        _, token = await agents.issue_token(admin.id, "bench")
        logins, agent_ids = [], []
        for i in range(1, N_AGENTS + 1):
            agent = await agents.create(
                login=f"agent{i:02d}", display_name=person_name(rng), role=Role.AGENT, extension=str(200 + i)
            )
            logins.append(agent.login)
            agent_ids.append(agent.id)
        now = datetime.now(UTC)
        people = []
        for i in range(N_PERSONS):
            name = person_name(rng)
            email = f"user{i}@example.com"
            phone = f"+4930{rng.randint(1000000, 9999999)}"
            dept = rng.choice(DEPARTMENTS)
            people.append(
                Person(
                    name=name,
                    email=email,
                    phone=phone,
                    department=dept,
                    vip=rng.random() < 0.02,
                    search_text=fold(name, email, phone, dept),
                    created_at=now,
                    updated_at=now,
                )
            )
        await Person.bulk_create(people, batch_size=500)
        person_ids = [p.id for p in await Person.all().only("id")]
        return Ids(token, admin.id, logins, agent_ids, person_ids)
    finally:
        await db.close_orm()


def sqlite_text_time(value: Any) -> Any:
    """Datetimes as tortoise stores them in SQLite (``str(aware datetime)``)."""
    return str(value) if isinstance(value, datetime) else value


async def open_sqlite(url: str) -> aiosqlite.Connection:
    """A raw connection with the server's pragmas (web/runtime/db.py), autocommit."""
    conn = await aiosqlite.connect(sqlite_path(url), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
        await conn.execute(f"PRAGMA {pragma}")
    return conn


async def seed(
    url: str, backend: str, ids: Ids, target: int, rng: random.Random, analyze_sqlite: bool
) -> dict[str, Any]:
    """Bulk-insert valid tickets (and their 'created' activity) until the table holds ``target`` rows."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    if backend == "sqlite":
        conn = await open_sqlite(url)
        async with conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM ticket") as cur:
            have, last_id = await cur.fetchone()
        async with conn.execute("SELECT value FROM counter WHERE name = 'ticket'") as cur:
            (number,) = await cur.fetchone()
    else:
        conn = await asyncpg.connect(driver_url(url))
        have, last_id = await conn.fetchrow("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM ticket")
        number = await conn.fetchval("SELECT value FROM counter WHERE name = 'ticket'")
    missing = max(target - have, 0)
    # Seeded tickets were opened over the past year (numbers continue after the API-created ones).
    start = now - timedelta(days=365)
    step = timedelta(days=365) / max(missing, 1)
    rows = []
    for i in range(missing):
        created = start + step * i + timedelta(microseconds=rng.randint(1, 999_999))
        rows.append(seed_ticket_row(rng, number + 1 + i, ids, created, now))
    activity_sql = (
        "INSERT INTO activity (ticket_id, kind, new_value, public, actor_id, actor_label, created_at) "
        "SELECT t.id, 'created', t.number, FALSE, t.created_by_id, a.login, t.created_at FROM ticket t "
        "JOIN agent a ON a.id = t.created_by_id WHERE t.id > {}"
    )
    try:
        if backend == "sqlite":
            cols = ", ".join(TICKET_COLUMNS)
            sql = f"INSERT INTO ticket ({cols}) VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"
            await conn.execute("BEGIN")
            for i in range(0, len(rows), 5000):
                await conn.executemany(sql, [tuple(sqlite_text_time(v) for v in r) for r in rows[i : i + 5000]])
            await conn.execute(activity_sql.format("?"), (last_id,))
            await conn.execute("UPDATE counter SET value = ? WHERE name = 'ticket'", (number + missing,))
            await conn.execute("COMMIT")
            if analyze_sqlite:
                await conn.execute("ANALYZE")
        else:
            async with conn.transaction():
                await conn.copy_records_to_table("ticket", records=rows, columns=list(TICKET_COLUMNS))
                await conn.execute(activity_sql.format("$1"), last_id)
                await conn.execute("UPDATE counter SET value = $1 WHERE name = 'ticket'", number + missing)
            # what autovacuum does within a minute of such a load
            await conn.execute("VACUUM ANALYZE ticket")
            await conn.execute("VACUUM ANALYZE activity")
    finally:
        await conn.close()
    elapsed = time.perf_counter() - t0
    return {
        "seeded": missing,
        "total": have + missing,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(missing / elapsed) if elapsed and missing else None,
    }


# -- (a) creation over HTTP -------------------------------------------------------------------------------------


def make_clients(base: str, token: str, count: int) -> list[httpx.AsyncClient]:
    """``count`` independent keep-alive clients (one connection each), like agents' consoles or scripts."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return [httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=120) for _ in range(count)]


async def run_creates(
    base: str, token: str, bodies: list[bytes], warmup: list[bytes], concurrency: int, meter_factory: Any
) -> dict[str, Any]:
    clients = make_clients(base, token, concurrency)
    errors: Tally[str] = Tally()
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient, work: Iterator[bytes], record: bool) -> None:
        for body in work:
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{API}/tickets", content=body)
                status = r.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            dt = time.perf_counter() - t0
            if status != 201:
                errors[str(status)] += 1
            elif record:
                latencies.append(dt)

    try:
        work = iter(warmup)
        await asyncio.gather(*(worker(c, work, False) for c in clients))
        errors.clear()
        work = iter(bodies)
        async with meter_factory() as meter:
            await asyncio.gather(*(worker(c, work, True) for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    done = len(latencies)
    return {
        "requests": len(bodies),
        "ok": done,
        "errors": dict(errors),
        "concurrency": concurrency,
        "rate_per_s": round(done / meter.wall, 1),
        **latency_summary(latencies),
        "cpu": meter.report(len(bodies)),
    }


# -- (b) list/filter over HTTP ----------------------------------------------------------------------------------

LIST_KINDS = {
    "first_page": "first page, default sort (-created)",
    "status": "status=<one of 5> filter",
    "assignee": "assignee=<login> filter",
    "sort_priority": "sort=priority, first page",
    "deep_created": "deep page via cursor (-created, 10-90% down)",
    "deep_priority": "deep page via cursor (sort=priority)",
    "q_common": "q=<common word> (hits among the newest rows)",
    "q_rare": "q=<rare word / old number> (fewer hits than a page)",
    "q_number": "q=IT-<n>: that ticket first, then the others with it in their text",
    "views": "GET /views: the seven work lists counted",
    "view_team": "view=team, first page (every open ticket, -updated)",
    "view_unassigned": "view=unassigned, first page",
}


async def list_requests(
    base: str,
    token: str,
    total: int,
    kinds: Sequence[str],
    per_kind: int,
    rng: random.Random,
    agent_logins: Sequence[str],
) -> list[tuple[str, str]]:
    """(kind, path) pairs in a shuffled order.

    Cursors are what the API would return after a page ending with some ticket: its sort key (web/http/cursor.py). For
    sort=priority that key is read from the API, for tickets 10-90% down the table.
    """
    prio_cursors: list[str] = []
    if "deep_priority" in kinds:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            for ticket_id in rng.sample(range(int(total * 0.1), int(total * 0.9)), 40):
                r = await c.get(f"{API}/tickets/{ticket_id}")
                r.raise_for_status()
                t = r.json()
                prio_cursors.append(cursor.encode("priority", t["priority"], t["id"]))
    out: list[tuple[str, str]] = []
    for kind in kinds:
        for _ in range(per_kind):
            params: dict[str, Any] = {}
            if kind == "status":
                params["status"] = rng.choice(list(STATUS_WEIGHTS))
            elif kind == "assignee":
                params["assignee"] = rng.choice(agent_logins)
            elif kind == "sort_priority":
                params["sort"] = "priority"
            elif kind == "deep_created":
                last = rng.randint(int(total * 0.1), int(total * 0.9))
                params["cursor"] = cursor.encode("-created", last, last)
            elif kind == "deep_priority":
                params["sort"] = "priority"
                params["cursor"] = rng.choice(prio_cursors)
            elif kind == "q_common":
                params["q"] = rng.choice(COMMON_WORDS)
            elif kind == "q_rare":
                # an old ticket's number: fewer than a page of rows contain it
                params["q"] = rng.choice(RARE_WORDS + [f"IT-{rng.randint(total // 20, total // 10 - 1)}"])
            elif kind == "q_number":
                params["q"] = f"IT-{rng.randint(1, total)}"
            elif kind.startswith("view_"):
                params["view"] = kind.removeprefix("view_")
            resource = "views" if kind == "views" else "tickets"
            out.append((kind, f"{API}/{resource}" + (("?" + urlencode(params)) if params else "")))
    rng.shuffle(out)
    return out


async def run_lists(
    base: str, token: str, requests: list[tuple[str, str]], warmup: int, meter_factory: Any, expect_full: set[str]
) -> dict[str, Any]:
    """One client, one request at a time: the latency an agent sees on an otherwise idle server."""
    headers = {"Authorization": f"Bearer {token}"}
    by_kind: dict[str, list[float]] = {}
    errors: Tally[str] = Tally()
    short_pages: Tally[str] = Tally()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        seen: Tally[str] = Tally()
        for kind, path in requests:  # warm-up: the first few of each kind
            if seen[kind] < warmup:
                seen[kind] += 1
                (await client.get(path)).raise_for_status()
        async with meter_factory() as meter:
            for kind, path in requests:
                t0 = time.perf_counter()
                r = await client.get(path)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors[f"{kind}:{r.status_code}"] += 1
                    continue
                by_kind.setdefault(kind, []).append(dt)
                if kind in expect_full and len(r.json()["items"]) < 50:
                    short_pages[kind] += 1
    kinds = {kind: latency_summary(lat) for kind, lat in by_kind.items()}
    return {
        "kinds": kinds,
        "errors": dict(errors),
        "short_pages": dict(short_pages),
        "cpu": meter.report(len(requests)),
    }


async def run_mixed(
    base: str, token: str, requests: list[tuple[str, str]], concurrency: int, meter_factory: Any
) -> dict[str, Any]:
    """Several agents refreshing their lists at once: throughput and latency under load."""
    clients = make_clients(base, token, concurrency)
    latencies: list[float] = []
    errors: Tally[str] = Tally()

    async def worker(client: httpx.AsyncClient, work: Iterator[tuple[str, str]]) -> None:
        for _, path in work:
            t0 = time.perf_counter()
            r = await client.get(path)
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors[str(r.status_code)] += 1

    try:
        work = iter(requests)
        async with meter_factory() as meter:
            await asyncio.gather(*(worker(c, work) for c in clients))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return {
        "requests": len(requests),
        "concurrency": concurrency,
        "errors": dict(errors),
        "rate_per_s": round(len(requests) / meter.wall, 1),
        **latency_summary(latencies),
        "cpu": meter.report(len(requests)),
    }


# -- (c) the raw driver baseline --------------------------------------------------------------------------------


async def raw_inserts(
    url: str, backend: str, rows: list[tuple[Any, ...]], concurrency: int, pool_max: int, meter_factory: Any
) -> dict[str, Any]:
    """One INSERT per row, each its own (auto-committed) transaction, from ``concurrency`` tasks."""
    cols = ", ".join(TICKET_COLUMNS)
    latencies: list[float] = []
    work = iter(rows)
    if backend == "sqlite":
        conn = await open_sqlite(url)
        sql = f"INSERT INTO ticket ({cols}) VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"

        async def worker() -> None:
            for row in work:
                t0 = time.perf_counter()
                await conn.execute(sql, tuple(sqlite_text_time(v) for v in row))
                latencies.append(time.perf_counter() - t0)
    else:
        pool = await asyncpg.create_pool(driver_url(url), min_size=pool_max, max_size=pool_max)
        sql = f"INSERT INTO ticket ({cols}) VALUES ({', '.join(f'${i + 1}' for i in range(len(TICKET_COLUMNS)))})"

        async def worker() -> None:
            for row in work:
                t0 = time.perf_counter()
                await pool.execute(sql, *row)
                latencies.append(time.perf_counter() - t0)

    try:
        async with meter_factory() as meter:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await (conn.close() if backend == "sqlite" else pool.close())
    return {
        "rows": len(rows),
        "concurrency": concurrency,
        "rate_per_s": round(len(rows) / meter.wall, 1),
        **latency_summary(latencies),
        "cpu": meter.report(len(rows)),
    }


async def raw_create_transactions(
    url: str,
    backend: str,
    payloads: list[dict[str, Any]],
    ids: Ids,
    concurrency: int,
    pool_max: int,
    meter_factory: Any,
) -> dict[str, Any]:
    """The SQL of one API create with the raw driver: in one transaction lock and bump the counter, insert the
    ticket and its 'created' activity (and 'assigned' when assigned). No HTTP, no auth, no ORM."""
    agent_by_login = dict(zip(ids.agent_logins, ids.agent_ids))
    cols = ", ".join(TICKET_COLUMNS)
    latencies: list[float] = []
    work = iter(payloads)
    if backend == "sqlite":
        conn = await open_sqlite(url)
        lock = asyncio.Lock()  # one connection: transactions take turns (as tortoise's SQLite client does)
        ins = f"INSERT INTO ticket ({cols}) VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"
        act = (
            "INSERT INTO activity (ticket_id, kind, field, new_value, public, actor_id, actor_label, created_at) "
            "VALUES (?, ?, ?, ?, 0, ?, 'bench', ?)"
        )

        async def worker() -> None:
            for p in work:
                t0 = time.perf_counter()
                now = datetime.now(UTC)
                async with lock:
                    await conn.execute("BEGIN")
                    async with conn.execute("SELECT value FROM counter WHERE name = 'ticket'") as cur:
                        (value,) = await cur.fetchone()
                    await conn.execute("UPDATE counter SET value = ? WHERE name = 'ticket'", (value + 1,))
                    row = new_ticket_row(p, f"IT-{value + 1}", ids, agent_by_login, now)
                    cur = await conn.execute(ins, tuple(sqlite_text_time(v) for v in row))
                    tid = cur.lastrowid
                    await conn.execute(act, (tid, "created", None, row[0], ids.admin_id, str(now)))
                    if row[11] is not None:
                        await conn.execute(act, (tid, "assigned", "assignee", p["assignee"], ids.admin_id, str(now)))
                    await conn.execute("COMMIT")
                latencies.append(time.perf_counter() - t0)
    else:
        pool = await asyncpg.create_pool(driver_url(url), min_size=pool_max, max_size=pool_max)
        ins = (
            f"INSERT INTO ticket ({cols}) VALUES ({', '.join(f'${i + 1}' for i in range(len(TICKET_COLUMNS)))}) "
            "RETURNING id"
        )
        act = (
            "INSERT INTO activity (ticket_id, kind, field, new_value, public, actor_id, actor_label, created_at) "
            "VALUES ($1, $2, $3, $4, FALSE, $5, 'bench', $6)"
        )

        async def worker() -> None:
            for p in work:
                t0 = time.perf_counter()
                now = datetime.now(UTC)
                async with pool.acquire() as c, c.transaction():
                    value = await c.fetchval("SELECT value FROM counter WHERE name = 'ticket' FOR UPDATE")
                    await c.execute("UPDATE counter SET value = $1 WHERE name = 'ticket'", value + 1)
                    row = new_ticket_row(p, f"IT-{value + 1}", ids, agent_by_login, now)
                    tid = await c.fetchval(ins, *row)
                    await c.execute(act, tid, "created", None, row[0], ids.admin_id, now)
                    if row[11] is not None:
                        await c.execute(act, tid, "assigned", "assignee", p["assignee"], ids.admin_id, now)
                latencies.append(time.perf_counter() - t0)

    try:
        async with meter_factory() as meter:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await (conn.close() if backend == "sqlite" else pool.close())
    return {
        "rows": len(payloads),
        "concurrency": concurrency,
        "rate_per_s": round(len(payloads) / meter.wall, 1),
        **latency_summary(latencies),
        "cpu": meter.report(len(payloads)),
    }


async def set_counter(url: str, backend: str, value: int) -> None:
    if backend == "sqlite":
        conn = await open_sqlite(url)
        try:
            await conn.execute("UPDATE counter SET value = ? WHERE name = 'ticket'", (value,))
        finally:
            await conn.close()
    else:
        conn = await asyncpg.connect(driver_url(url))
        try:
            await conn.execute("UPDATE counter SET value = $1 WHERE name = 'ticket'", value)
        finally:
            await conn.close()


# -- one backend ------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def bench_backend(b: Backend, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"backend": b.name}
    pool_max = Settings().database.pool_max

    # (a) creation over HTTP
    url = await b.new_database("api")
    log(f"{b.name}: preparing {Settings.model_validate({'database': {'url': url}}).database.redacted_url()}")
    ids = await prepare_database(url, rng)
    payloads = [api_payload(rng, ids.agent_logins, ids.person_ids) for _ in range(args.creates)]
    warm = [json.dumps(api_payload(rng, ids.agent_logins, ids.person_ids)).encode() for _ in range(args.warmup)]
    bodies = [json.dumps(p).encode() for p in payloads]
    server = start_server(url, workdir)
    stamp = args.started.strftime("%Y%m%d-%H%M%S")

    def spy(phase: str) -> Spy:
        out = RESULTS_DIR / f"profile-{stamp}-{b.name}-{phase}.txt" if args.profile_server else None
        if out is not None:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            result.setdefault("profiles", {})[phase] = str(out.relative_to(ROOT))
        return Spy(server.process.pid, out)

    pids = b.db_pids(url)
    try:
        meter = lambda: CpuMeter(server.process.pid, pids)
        log(f"{b.name}: (a) {args.creates} POST /tickets, {args.concurrency} clients")
        with spy("create"):
            result["create"] = await run_creates(server.base_url, ids.token, bodies, warm, args.concurrency, meter)
        c = result["create"]
        log(f"{b.name}: create {c['rate_per_s']}/s p50 {c['p50_ms']} ms p99 {c['p99_ms']} ms errors {c['errors']}")

        # (b) list/filter at --tickets
        log(f"{b.name}: (b) seeding up to {args.tickets} tickets")
        result["seed"] = await seed(url, b.name, ids, args.tickets, rng, args.sqlite_analyze)
        log(f"{b.name}: seeded {result['seed']}")
        total = result["seed"]["total"]
        kinds = list(LIST_KINDS)
        reqs = await list_requests(server.base_url, ids.token, total, kinds, args.list_requests, rng, ids.agent_logins)
        log(f"{b.name}: {len(reqs)} list requests, one at a time")
        expect_full = {"first_page", "sort_priority", "deep_created", "deep_priority", "q_common"}
        with spy("list"):
            result["list"] = await run_lists(server.base_url, ids.token, reqs, args.list_warmup, meter, expect_full)
        result["list"]["tickets"] = total
        if args.mixed_requests:
            mixed = [r for r in reqs if r[0] != "q_rare"] * (1 + args.mixed_requests // max(len(reqs), 1))
            mixed = mixed[: args.mixed_requests]
            log(f"{b.name}: {len(mixed)} mixed list requests (no q_rare), {args.mixed_concurrency} clients")
            result["list_mixed"] = await run_mixed(server.base_url, ids.token, mixed, args.mixed_concurrency, meter)
    finally:
        server.stop()
        lines = server.log_lines()
        result["server"] = {
            "log_lines": len(lines),
            "access_log_lines": sum(' HTTP/1.1" ' in x for x in lines),
            "exit_code": server.process.returncode,
            "errors": [x for x in lines if " ERROR " in x][:5],
        }

    # (c) the raw driver baseline, in a fresh database of the same schema
    raw_url = await b.new_database("raw")
    raw_ids = await prepare_database(raw_url, random.Random(args.seed))
    now = datetime.now(UTC)
    raw_payloads = (
        payloads[: args.raw_rows]
        if args.raw_rows <= len(payloads)
        else [api_payload(rng, ids.agent_logins, ids.person_ids) for _ in range(args.raw_rows)]
    )
    raw_agent = dict(zip(raw_ids.agent_logins, raw_ids.agent_ids))
    rows = [new_ticket_row(p, f"IT-{i + 1}", raw_ids, raw_agent, now) for i, p in enumerate(raw_payloads)]
    raw_meter = lambda: CpuMeter(None, b.db_pids(raw_url))
    log(f"{b.name}: (c) raw {len(rows)} single-row INSERTs, {args.concurrency} tasks")
    result["raw_insert"] = await raw_inserts(raw_url, b.name, rows, args.concurrency, pool_max, raw_meter)
    await set_counter(raw_url, b.name, len(rows))
    log(f"{b.name}: (c) raw {len(rows)} create-equivalent transactions, {args.concurrency} tasks")
    result["raw_create_txn"] = await raw_create_transactions(
        raw_url, b.name, raw_payloads, raw_ids, args.concurrency, pool_max, raw_meter
    )
    create_rate = result["create"]["rate_per_s"]
    result["ratio_create_vs_raw_insert"] = round(create_rate / result["raw_insert"]["rate_per_s"], 3)
    result["ratio_create_vs_raw_txn"] = round(create_rate / result["raw_create_txn"]["rate_per_s"], 3)
    if isinstance(b, PostgresBackend):
        result["postgres_version"] = b.server_version
    result["targets"] = targets(result)
    return result


def targets(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    worst_kind, worst = max(((k, v["p99_ms"]) for k, v in r["list"]["kinds"].items()), key=lambda kv: kv[1])
    failing = sorted(k for k, v in r["list"]["kinds"].items() if v["p99_ms"] >= LIST_P99_TARGET_MS)
    out["list_p99_lt_30ms"] = {
        "pass": not failing and not r["list"]["errors"],
        "worst_kind": worst_kind,
        "worst_p99_ms": worst,
        "failing_kinds": failing,
    }
    if r["backend"] == "sqlite":
        rate = r["create"]["rate_per_s"]
        out["sqlite_create_ge_500"] = {
            "pass": rate >= SQLITE_CREATE_TARGET and not r["create"]["errors"],
            "rate_per_s": rate,
        }
    return out


# -- output -----------------------------------------------------------------------------------------------------


def git_describe() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(meta: dict[str, Any], results: list[dict[str, Any]]) -> None:
    p = print
    p()
    p(f"helpline API benchmark  {meta['started']}  commit {meta['commit']}")
    p(
        f"machine: {meta['cores']} cores {meta['cpu']}, Python {meta['python']}, load avg at start "
        f"{meta['loadavg_start']}, at end {meta['loadavg_end']}"
    )
    p()
    p("(a) POST /api/v1/tickets over HTTP  vs  (c) raw driver, same concurrency")
    hdr = (
        f"{'backend':9} {'create/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} | {'raw INSERT/s':>12} "
        f"{'ratio':>6} | {'raw txn/s':>9} {'ratio':>6} | {'server cpu':>10} {'ceiling':>8} {'db cpu':>6} "
        f"{'others':>6}"
    )
    p(hdr)
    p("-" * len(hdr))
    for r in results:
        c, ri, rt = r["create"], r["raw_insert"], r["raw_create_txn"]
        dbc = c["cpu"]["db_cpu_ms_per_req"]
        p(
            f"{r['backend']:9} {c['rate_per_s']:>9.0f} {c['p50_ms']:>7.1f} {c['p99_ms']:>7.1f} "
            f"{sum(c['errors'].values()):>4} | {ri['rate_per_s']:>12.0f} {r['ratio_create_vs_raw_insert']:>6.3f} | "
            f"{rt['rate_per_s']:>9.0f} {r['ratio_create_vs_raw_txn']:>6.3f} | "
            f"{c['cpu']['server_cpu_ms_per_req']:>7.2f} ms {c['cpu']['server_ceiling_per_s']:>8.0f} "
            f"{'-' if dbc is None else f'{dbc:.2f}':>6} {c['cpu']['other_processes_cores']:>6.2f}"
        )
    p(
        "  server cpu: CPU time of the helpline process per request; ceiling: 1000 / that, the rate one dedicated core "
        "would allow;\n  db cpu: PostgreSQL backends' ms per request; others: cores used meanwhile by processes not in "
        "this benchmark"
    )
    p()
    total = results[0]["list"]["tickets"] if results else 0
    p(f"(b) GET /api/v1/tickets at {total:,} tickets, one client, p50 / p99 ms (target p99 < {LIST_P99_TARGET_MS:.0f})")
    names = [r["backend"] for r in results]
    hdr = f"{'kind':15}" + "".join(f" {n:>22}" for n in names) + "   what"
    p(hdr)
    p("-" * len(hdr))
    for kind, what in LIST_KINDS.items():
        cells = []
        for r in results:
            k = r["list"]["kinds"].get(kind)
            cells.append(
                "-"
                if k is None
                else f"{k['p50_ms']:.1f} / {k['p99_ms']:.1f} {'ok' if k['p99_ms'] < LIST_P99_TARGET_MS else 'SLOW'}"
            )
        p(f"{kind:15}" + "".join(f" {c:>22}" for c in cells) + f"   {what}")
    for r in results:
        if r["list"]["errors"] or r["list"]["short_pages"]:
            p(f"  {r['backend']}: errors {r['list']['errors']} short pages {r['list']['short_pages']}")
    for r in results:
        cpu = r["list"]["cpu"]
        dbc = cpu["db_cpu_ms_per_req"]
        p(
            f"  {r['backend']}: server cpu {cpu['server_cpu_ms_per_req']:.2f} ms/req"
            + ("" if dbc is None else f", db cpu {dbc:.2f} ms/req")
            + f", other processes used {cpu['other_processes_cores']:.2f} of {meta['cores']} cores meanwhile"
        )
    for r in results:
        m = r.get("list_mixed")
        if m:
            p(
                f"mixed list load ({r['backend']}): {m['concurrency']} clients, {m['rate_per_s']:.0f} req/s, "
                f"p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms, errors {sum(m['errors'].values())}"
            )
    p()
    p("targets")
    for r in results:
        t = r["targets"]["list_p99_lt_30ms"]
        extra = f" (slow: {', '.join(t['failing_kinds'])})" if t["failing_kinds"] else ""
        p(
            f"  list/filter p99 < 30 ms at {r['list']['tickets']:,} [{r['backend']}]: {pf(t['pass'])}  "
            f"worst {t['worst_kind']} {t['worst_p99_ms']:.1f} ms{extra}"
        )
    for r in results:
        t = r["targets"].get("sqlite_create_ge_500")
        if t:
            p(f"  creation >= 500/s on SQLite: {pf(t['pass'])}  {t['rate_per_s']:.0f}/s")
    for r in results:
        s = r["server"]
        if s["access_log_lines"] or s["errors"]:
            p(f"  note [{r['backend']}]: server log has {s['access_log_lines']} access lines, errors: {s['errors']}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("HELPLINE_BENCH_POSTGRES_URL")
        or os.environ.get("HELPLINE_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/test",
        help="a server and a database to connect to for CREATE/DROP DATABASE (default: %(default)s)",
    )
    ap.add_argument("--creates", type=int, default=10_000, help="measured POST /tickets (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=300, help="unmeasured POSTs first (default %(default)s)")
    ap.add_argument("--concurrency", type=int, default=32, help="HTTP clients / raw tasks (default %(default)s)")
    ap.add_argument("--tickets", type=int, default=100_000, help="tickets in the table for (b) (default %(default)s)")
    ap.add_argument(
        "--list-requests", type=int, default=300, help="measured requests per list kind (default %(default)s)"
    )
    ap.add_argument(
        "--list-warmup", type=int, default=10, help="unmeasured requests per list kind (default %(default)s)"
    )
    ap.add_argument(
        "--mixed-requests",
        type=int,
        default=1000,
        help="list requests from --mixed-concurrency clients at once; 0: skip (default %(default)s)",
    )
    ap.add_argument("--mixed-concurrency", type=int, default=8)
    ap.add_argument("--raw-rows", type=int, default=10_000, help="rows for the raw baselines (default %(default)s)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke run: 1,000 creates, 10,000 tickets, 50 requests per kind",
    )
    ap.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE on SQLite after seeding (helpline "
        "does not, so the default measures without planner statistics)",
    )
    ap.add_argument(
        "--profile-server",
        action="store_true",
        help="sample the server with py-spy during (a) and (b); collapsed stacks go to bench/results/ "
        "(timings are then a little worse)",
    )
    ap.add_argument("--seed", type=int, default=20240601, help="random seed of the test data")
    ap.add_argument("--no-uvloop", action="store_true", help="run the client on the default asyncio loop")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite files, server log)")
    ap.add_argument("--json", type=Path, help="write the results here (default: bench/results/api-<time>.json)")
    args = ap.parse_args(argv)
    if args.quick:  # smaller defaults; sizes given explicitly still win
        quick = {
            "creates": 1000,
            "warmup": 100,
            "tickets": 10_000,
            "list_requests": 50,
            "mixed_requests": 200,
            "raw_rows": 1000,
        }
        for name, value in quick.items():
            if getattr(args, name) == ap.get_default(name):
                setattr(args, name, value)
    if args.tickets < args.creates + args.warmup:
        ap.error("--tickets must be at least --creates + --warmup")
    return args


async def main_async(args: argparse.Namespace) -> int:
    started = args.started = datetime.now(UTC)
    meta = {
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": git_describe(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "client_loop": "asyncio" if args.no_uvloop else "uvloop",
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("postgres_url", "started")
        },
    }
    workdir = Path(tempfile.mkdtemp(prefix="helpline-bench-"))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    try:
        for name in backends:
            b: Backend = SqliteBackend(workdir) if name == "sqlite" else PostgresBackend(args.postgres_url)
            bdir = workdir / name
            bdir.mkdir()
            if isinstance(b, SqliteBackend):
                b.workdir = bdir
            try:
                results.append(await bench_backend(b, args, bdir))
            finally:
                await b.cleanup()
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(meta, results)
    out = args.json or RESULTS_DIR / f"api-{started:%Y%m%d-%H%M%S}-{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nresults: {out}")
    return 0


def run_loop(coro: Any, uvloop_wanted: bool) -> int:
    """Run the benchmark's coroutine on uvloop (as ``helpline serve`` does) unless told not to or missing."""
    if uvloop_wanted:
        try:
            import uvloop

            return uvloop.run(coro)
        except ImportError:
            pass
    return asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_loop(main_async(args), not args.no_uvloop)


if __name__ == "__main__":
    raise SystemExit(main())
