"""Test fixtures: every database test runs on SQLite and, when HELPLINE_TEST_POSTGRES_URL is set, on PostgreSQL.

* SQLite: the schema is migrated once into a template file; each test gets a fresh copy.
* PostgreSQL: one database per test session (``helpline_test_<random>``), migrated once, emptied between tests and
  dropped at the end, so nothing is left behind.
* ``HELPLINE_REQUIRE_ALL=1`` (CI) turns "PostgreSQL not configured" into a failure instead of a skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from starlette.testclient import TestClient

from tickets.agent_service import AgentService
from tickets.models import Role
from web import db
from web.app import create_app
from web.config import Settings, load_settings

PG_ENV = "HELPLINE_TEST_POSTGRES_URL"
REQUIRE_ALL = os.environ.get("HELPLINE_REQUIRE_ALL") == "1"
BACKENDS = ["sqlite", "postgres"]
#: Tables emptied between PostgreSQL tests (everything but the migration bookkeeping).
KEEP_TABLES = {"tortoise_migrations"}


def service_missing(what: str) -> None:
    """Skip, or fail under HELPLINE_REQUIRE_ALL=1, because ``what`` is not available."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} (HELPLINE_REQUIRE_ALL=1 forbids skipping)", pytrace=False)
    pytest.skip(what)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


# -- PostgreSQL: one database for the whole session -----------------------------------------------------------


def _pg_url(base: str, database: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/" + database))


@dataclass
class PostgresDatabase:
    url: str

    async def empty(self) -> None:
        conn = await asyncpg.connect(self.url.replace("postgres://", "postgresql://", 1))
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r["tablename"] for r in rows if r["tablename"] not in KEEP_TABLES]
            if tables:
                await conn.execute(f"TRUNCATE {', '.join(chr(34) + t + chr(34) for t in tables)} RESTART IDENTITY CASCADE")
            await conn.execute("INSERT INTO counter (name, value) VALUES ('ticket', 0)")
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase | None]:
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    name = f"helpline_test_{uuid.uuid4().hex[:10]}"
    admin_url = base.replace("postgres://", "postgresql://", 1)

    async def create() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        run_async(create())
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"{PG_ENV}={base} is set but PostgreSQL is not usable: {exc}", pytrace=False)
    url = _pg_url(base.replace("postgresql://", "postgres://", 1), name)
    settings = Settings.model_validate({"database": {"url": url}})
    run_async(_migrate(settings))
    try:
        yield PostgresDatabase(url)
    finally:
        run_async(drop())


async def _migrate(settings: Settings) -> None:
    await db.open_orm(settings.database)
    try:
        await db.upgrade(settings.database)
    finally:
        await db.close_orm()


# -- SQLite: a migrated template copied per test --------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "helpline.sqlite3"
    settings = Settings.model_validate({"database": {"url": f"sqlite://{path}"}})
    run_async(_migrate(settings))
    return path


# -- per test -------------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
                 postgres_database: PostgresDatabase | None) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "helpline.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite://{path}"
    if postgres_database is None:
        service_missing(f"PostgreSQL tests need {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)")
    assert postgres_database is not None
    run_async(postgres_database.empty())
    return postgres_database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(environ={"HELPLINE_DATABASE_URL": database_url})


@pytest_asyncio.fixture
async def orm(settings: Settings) -> AsyncIterator[Settings]:
    """Tortoise initialised on the test database, for tests of the domain without HTTP."""
    await db.open_orm(settings.database)
    try:
        yield settings
    finally:
        await db.close_orm()


@dataclass
class Team:
    """Tokens of one agent per role, for API tests."""

    admin: str
    supervisor: str
    agent: str
    other_agent: str

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    async def make() -> Team:
        agents = AgentService()
        tokens = {}
        for login, role, ext in (("ada", Role.ADMIN, "100"), ("sam", Role.SUPERVISOR, "101"),
                                 ("alice", Role.AGENT, "102"), ("bob", Role.AGENT, "103")):
            agent = await agents.create(login=login, display_name=login.title(), role=role, extension=ext)
            tokens[login] = (await agents.issue_token(agent.id))[1]
        return Team(tokens["ada"], tokens["sam"], tokens["alice"], tokens["bob"])

    return client.portal.call(make)


# -- a real server ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(database_url: str, tmp_path: Path, extra_env: dict[str, str] | None = None) -> Server:
    """``helpline serve`` in a subprocess on a free loopback port; waits until /healthz answers."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "HELPLINE_CONFIG"}
    env.update({"HELPLINE_DATABASE_URL": database_url, "HELPLINE_WEB_PORT": str(port), "HELPLINE_WEB_HOST": "127.0.0.1",
                **(extra_env or {})})
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"helpline serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return Server(base, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"helpline serve did not answer within 30 s:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class ReplayProcess:
    port: int
    secret: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def pbx_replay(tmp_path: Path) -> Iterator[ReplayProcess]:
    """``helpline pbx replay`` of the 20-call recording, as fast as possible, in a subprocess."""
    port, secret = free_port(), "replay-secret"
    recording = Path(__file__).parent / "fixtures" / "ami" / "c_concurrent20_mixed.raw"
    log = (tmp_path / "replay.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "pbx", "replay", str(recording), "--max",
                                "--port", str(port), "--username", "helpline", "--secret", secret],
                               stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield ReplayProcess(port, secret, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def pbx_config(tmp_path: Path, replay: ReplayProcess) -> Path:
    """A configuration file with one [[pbx]] pointing at ``replay``."""
    path = tmp_path / "helpline.toml"
    path.write_text(f"""
[[pbx]]
name = "main"
host = "127.0.0.1"
port = {replay.port}
username = "helpline"
secret = "{replay.secret}"
queues = ["helpdesk"]
originate_channel = "Local/{{extension}}@agents"
""")
    return path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path)
    try:
        yield srv
    finally:
        stop_server(srv)
