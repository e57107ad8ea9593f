"""Helpers for the chaos tests: real ``helpline serve`` processes sharing a fresh PostgreSQL database, a private
PostgreSQL cluster that may be restarted, a private Redis that may be killed, and the database read from outside."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from tests.support.ami import SECRET, USER
from tests.support.servers import free_port, listening, stop_process
from tests.support.services import PG_ENV, machine_clock, service_missing
from tests.support.waiting import eventually, wait_until

#: Bounds every wait of the chaos tests.
STEP_TIMEOUT = 30.0


def postgres_base() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        service_missing(f"the chaos tests need PostgreSQL: set {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)")
    assert base is not None
    return base.replace("postgresql://", "postgres://", 1)


def with_database(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path="/" + name))


def asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def fresh_database(base: str) -> AsyncIterator[str]:
    """An empty database of its own (not migrated: the instances do that), dropped afterwards."""
    name = f"helpline_chaos_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(asyncpg_url(base), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(base, name)
    finally:
        admin = await asyncpg.connect(asyncpg_url(base), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- helpline instances -------------------------------------------------------------------------------------------


def write_config(
    path: Path, ami_port: int, *, redis_url: str | None = None, username: str = USER, secret: str = SECRET
) -> Path:
    """A configuration with one [[pbx]] pointing at the local replay server (short ping: a dead peer shows fast)."""
    live = f'\n[live]\nredis_url = "{redis_url}"\n' if redis_url else ""
    path.write_text(f"""
[web]
access_log = false

[[pbx]]
name = "main"
host = "127.0.0.1"
port = {ami_port}
username = "{username}"
secret = "{secret}"
queues = ["helpdesk"]
ping_interval = "2s"
action_timeout = "2s"
{live}""")
    return path


@dataclass
class Instance:
    """One ``helpline serve`` process."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    #: A supervisor's (or admin's) API token: the checks behind /readyz are at GET /api/v1/status.
    token: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """``kill -9``: no shutdown, no logoff, no unlock; the kernel closes its sockets."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process)

    async def readyz(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=3) as http:
            return (await http.get(self.base_url + "/readyz")).json()  # type: ignore[no-any-return]

    async def status(self) -> dict[str, Any]:
        """``GET /api/v1/status`` (needs :attr:`token`): ``{"status": ..., "checks": {...}}``."""
        assert self.token, "set the instance's token first (admin_token)"
        async with httpx.AsyncClient(timeout=3, headers={"Authorization": f"Bearer {self.token}"}) as http:
            return (await http.get(self.base_url + "/api/v1/status")).json()  # type: ignore[no-any-return]

    async def pbx_check(self) -> str | None:
        """The ``pbx:main`` check of the status (``ok``, ``standby``, ...), None if the instance does not answer."""
        try:
            return (await self.status())["checks"].get("pbx:main")
        except (httpx.HTTPError, ValueError, KeyError):
            return None


def launch(name: str, database_url: str, config: Path, directory: Path, env: dict[str, str] | None = None) -> Instance:
    """Start ``helpline serve`` on a free loopback port (returns at once; see :func:`until_healthy`)."""
    port = free_port()
    log_path = directory / f"{name}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    environ.update(
        {
            "HELPLINE_CONFIG": str(config),
            "HELPLINE_DATABASE_URL": database_url,
            "HELPLINE_WEB_PORT": str(port),
            "HELPLINE_WEB_HOST": "127.0.0.1",
            **(env or {}),
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve"], env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=directory
        )
    return Instance(name, f"http://127.0.0.1:{port}", process, log_path)


async def until_healthy(instance: Instance, timeout: float = STEP_TIMEOUT) -> None:
    async with httpx.AsyncClient(timeout=1) as http:

        async def healthy() -> bool:
            if instance.process.poll() is not None:
                raise AssertionError(f"{instance.name} exited with {instance.process.returncode}:\n{instance.log()}")
            with contextlib.suppress(httpx.HTTPError):
                return (await http.get(instance.base_url + "/healthz")).status_code == 200
            return False

        await eventually(healthy, timeout, what=f"{instance.name} answering", details=instance.log, every=0.1)


async def until(
    what: str,
    check: Callable[[], bool | Awaitable[bool]],
    timeout: float = STEP_TIMEOUT,
    every: float = 0.1,
    logs: Callable[[], str] = lambda: "",
) -> float:
    """Poll ``check`` (a predicate, sync or async) until true; returns the seconds it took. Fails, naming ``what``,
    after ``timeout``."""
    started = time.monotonic()
    await eventually(check, timeout, what=what, every=every, details=logs)
    return time.monotonic() - started


async def has_check(instance: Instance, wanted: str) -> bool:
    """Whether the instance's ``pbx:main`` status check reads ``wanted``."""
    return await instance.pbx_check() == wanted


async def admin_token(database_url: str, directory: Path) -> str:
    """An admin's API token, made with ``helpline user add`` (as an operator would; off the event loop)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    environ["HELPLINE_DATABASE_URL"] = database_url
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", "user", "add", "chaos-admin", "--role", "admin"],
        env=environ,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


# -- the database, read from outside ------------------------------------------------------------------------------


@dataclass
class CallRows:
    """What the database holds about the calls of PBX ``main``."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  #: linkedid -> row
    duplicates: list[str] = field(default_factory=list)
    tickets: int = 0
    openers_per_ticket: dict[int, int] = field(default_factory=dict)

    @property
    def ended(self) -> int:
        return sum(1 for c in self.calls.values() if c["state"] == "ended")


async def call_rows(database_url: str) -> CallRows:
    conn = await asyncpg.connect(asyncpg_url(database_url), timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT linkedid, state, outcome, ticket_id, opened_ticket, agent_name FROM phone_call WHERE pbx = 'main'"
        )
        tickets = await conn.fetchval("SELECT count(*) FROM ticket")
        openers = await conn.fetch(
            "SELECT t.id, count(c.id) FILTER (WHERE c.opened_ticket) AS n FROM ticket t "
            "LEFT JOIN phone_call c ON c.ticket_id = t.id GROUP BY t.id"
        )
    finally:
        await conn.close()
    out = CallRows(tickets=tickets, openers_per_ticket={r["id"]: r["n"] for r in openers})
    for row in rows:
        if row["linkedid"] in out.calls:
            out.duplicates.append(row["linkedid"])
        out.calls[row["linkedid"]] = dict(row)
    return out


async def calls_in(database_url: str, states: Mapping[str, str]) -> CallRows:
    """The call rows once they are exactly ``states`` (linkedid -> state): what the listener makes of the events
    streamed so far (:func:`tests.support.ami.call_states`)."""
    shown: list[dict[str, str]] = [{}]

    async def reached() -> CallRows | None:
        try:
            rows = await call_rows(database_url)
        except (TimeoutError, OSError, asyncpg.PostgresError):  # the database is coming back
            return None
        shown[0] = {k: v["state"] for k, v in rows.calls.items()}
        return rows if shown[0] == dict(states) else None

    return await eventually(
        reached,
        STEP_TIMEOUT,
        what="the calls as streamed so far",
        every=0.1,
        details=lambda: {
            k: (shown[0].get(k), states.get(k)) for k in {*shown[0], *states} if shown[0].get(k) != states.get(k)
        },
    )


async def calls_ended(database_url: str, count: int) -> CallRows:
    """The call rows once ``count`` calls have ended."""

    async def ended() -> CallRows | None:
        try:
            rows = await call_rows(database_url)
        except (TimeoutError, OSError, asyncpg.PostgresError):  # the database is coming back
            return None
        return rows if rows.ended >= count else None

    return await eventually(ended, STEP_TIMEOUT, what=f"{count} calls ended", every=0.1)


def assert_exactly_once(rows: CallRows, expected: dict[str, dict[str, Any]], outcomes: dict[str, str]) -> None:
    """Every call of the recording has exactly one row, ended as recorded, with a ticket; every ticket was opened
    by exactly one call."""
    assert not rows.duplicates, f"calls recorded twice: {rows.duplicates}"
    assert sorted(rows.calls) == sorted(expected), (
        f"missing {sorted(set(expected) - set(rows.calls))}, unexpected {sorted(set(rows.calls) - set(expected))}"
    )
    for linkedid, truth in expected.items():
        call = rows.calls[linkedid]
        assert call["state"] == "ended" and call["outcome"] == outcomes[truth["outcome"]], (linkedid, truth, call)
        assert call["ticket_id"] is not None, (linkedid, call)
    assert rows.openers_per_ticket and set(rows.openers_per_ticket.values()) == {1}, rows.openers_per_ticket


# -- a private PostgreSQL cluster -------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@dataclass
class PrivateCluster:
    """A throwaway PostgreSQL cluster on a free loopback port (fsync off), run as the ``postgres`` OS user."""

    bin: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        run = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout
        )
        if run.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({run.returncode}): {run.stderr[-2000:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.directory / "data"),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "-t", "30", "stop"
        )


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A private cluster, started, removed afterwards (skipped with the reason when one cannot be made here)."""
    pg_bin = _pg_bin()
    if pg_bin is None:
        service_missing("a private PostgreSQL cluster needs initdb (/usr/lib/postgresql/*/bin)")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        service_missing("a private PostgreSQL cluster is made as the postgres OS user: run the tests as root")
    assert pg_bin is not None
    directory = Path(tempfile.mkdtemp(prefix="helpline_chaos_pg_"))
    shutil.chown(directory, "postgres", "postgres")
    cluster = PrivateCluster(pg_bin, directory, free_port())
    try:
        cluster._as_postgres(
            str(pg_bin / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            timeout=120,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- a private Redis ------------------------------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = shutil.which("redis-server")
    if server is None:
        service_missing("the Redis chaos test needs redis-server")
    assert server is not None
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=machine_clock(os.environ),
    )  # it cannot run under libfaketime
    redis = PrivateRedis(port, process)
    try:
        wait_until(lambda: listening(port), what=f"redis-server on port {port}")
        yield redis
    finally:
        redis.kill()
