"""Test fixtures: every database test runs on SQLite and, when HELPLINE_TEST_POSTGRES_URL is set, on PostgreSQL.

* SQLite: the schema is migrated once into a template file; each test gets a fresh copy.
* PostgreSQL: one database per test session (``helpline_test_<random>``), migrated once, emptied between tests and
  dropped at the end, so nothing is left behind.
* ``HELPLINE_REQUIRE_ALL=1`` (CI) turns "PostgreSQL not configured" into a failure instead of a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio
from starlette.testclient import TestClient

from tests.support.paths import AD_SCRIPTS
from tests.support.samba import AD_DIR, AD_ENV, SambaAD, ad_lock, dc_clock_problem, read_env_file
from tests.support.servers import ReplayProcess, Server, Team, free_port, listening, start_server, stop_server
from tests.support.services import (
    PG_ENV,
    UNDER_LIBFAKETIME,
    PostgresDatabase,
    machine_clock,
    pg_url,
    run_async,
    service_missing,
)
from tests.support.waiting import wait_until
from tickets.agent_service import AgentService
from tickets.models import Role
from web.app import create_app
from web.runtime import db
from web.settings import Settings, load_settings

#: Fixtures that live with their support code: the fakes of Twilio and Slack, the alerting world, the AD admin.
pytest_plugins = ["tests.support.notify", "tests.support.ad.admin"]

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def queue_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """``queue.Queue.get(timeout=...)`` times out, also under libfaketime: its 0.9.10 (Debian 12) does not intercept
    ``sem_clockwait``, which Python's timed lock waits use, so there a thread's timed wait that is not woken never
    ends. Under libfaketime such a get polls instead (``time.sleep`` works there)."""
    if not UNDER_LIBFAKETIME:
        return
    import queue

    blocking_get = queue.Queue.get

    def polling_get(self: queue.Queue[Any], block: bool = True, timeout: float | None = None) -> Any:
        if not block or timeout is None:
            return blocking_get(self, block, timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return blocking_get(self, False)
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.001)  # the poll's pace (the wait that would have blocked is the one above)

    monkeypatch.setattr(queue.Queue, "get", polling_get)


# -- PostgreSQL: one database for the whole session -----------------------------------------------------------


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
    url = pg_url(base.replace("postgresql://", "postgres://", 1), name)
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
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_database: PostgresDatabase | None
) -> str:
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


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def team(client: TestClient) -> Team:
    async def make() -> Team:
        agents = AgentService()
        tokens = {}
        for login, role, ext in (
            ("ada", Role.ADMIN, "100"),
            ("sam", Role.SUPERVISOR, "101"),
            ("alice", Role.AGENT, "102"),
            ("bob", Role.AGENT, "103"),
        ):
            agent = await agents.create(login=login, display_name=login.title(), role=role, extension=ext)
            tokens[login] = (await agents.issue_token(agent.id))[1]
        return Team(tokens["ada"], tokens["sam"], tokens["alice"], tokens["bob"])

    return client.portal.call(make)


# -- a real server ----------------------------------------------------------------------------------------------


@pytest.fixture
def pbx_replay(tmp_path: Path) -> Iterator[ReplayProcess]:
    """``helpline pbx replay`` of the 20-call recording, as fast as possible, in a subprocess."""
    port, secret = free_port(), "replay-secret"
    recording = Path(__file__).parent / "fixtures" / "ami" / "c_concurrent20_mixed.raw"
    log = (tmp_path / "replay.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "pbx",
            "replay",
            str(recording),
            "--max",
            "--port",
            str(port),
            "--username",
            "helpline",
            "--secret",
            secret,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_until(lambda: listening(port), what="helpline pbx replay listening")
        yield ReplayProcess(port, secret, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path)
    try:
        yield srv
    finally:
        stop_server(srv)


# -- Active Directory: a real Samba AD DC on loopback (tests/support/ad/) ----------------------------------------------


@pytest.fixture(scope="session")
def samba_ad_session() -> SambaAD:
    """The Samba AD DC: from HELPLINE_TEST_AD (an env file), else started here when running as root."""
    path = os.environ.get(AD_ENV)
    if not path:
        if os.geteuid() != 0:
            service_missing(
                f"directory tests need a Samba AD DC: as root, run tests/support/ad/samba_ad_up.sh DIR and set "
                f"{AD_ENV}=DIR/env (or run the tests as root, which starts one in {AD_DIR})"
            )
        env = {**machine_clock(os.environ), "SAMBA_AD_PYTHON": sys.executable}
        started = time.monotonic()
        run = subprocess.run(
            [str(AD_SCRIPTS / "samba_ad_up.sh"), AD_DIR], env=env, capture_output=True, text=True, timeout=600
        )
        if run.returncode != 0:
            service_missing(
                f"tests/support/ad/samba_ad_up.sh {AD_DIR} failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
            )
        if time.monotonic() - started > 2:
            print(f"\nSamba AD DC up in {AD_DIR} after {time.monotonic() - started:.1f} s", file=sys.stderr)
        path = f"{AD_DIR}/env"
    file = Path(path)
    if not file.is_file():
        service_missing(f"{AD_ENV}={path}: no such file (samba_ad_up.sh writes DIR/env)")
    values = read_env_file(file)
    ad = SambaAD(
        url=values["LDAP_URL"],
        starttls_url=values["LDAP_STARTTLS_URL"],
        base_dn=values["LDAP_BASE_DN"],
        bind_dn=values["LDAP_BIND_DN"],
        password=values["LDAP_BIND_PASSWORD"],
        admin_dn=values["LDAP_ADMIN_DN"],
        admin_password=values["LDAP_ADMIN_PASSWORD"],
        ca_file=values["LDAP_CA_CERT"],
        server_name=values["LDAP_TLS_SERVER_NAME"],
        directory=Path(values["SAMBA_AD_DIR"]),
    )
    host, port = urlsplit(ad.url).hostname or "127.0.0.1", urlsplit(ad.url).port or 636
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex((host, port)) != 0:
            service_missing(
                f"{AD_ENV}={path}: nothing listens on {host}:{port} (is samba running? "
                f"tests/support/ad/samba_ad_up.sh {ad.directory})"
            )
    problem = dc_clock_problem(ad)
    if problem:
        service_missing(problem)
    return ad


@pytest.fixture
def samba_ad(samba_ad_session: SambaAD) -> Iterator[SambaAD]:
    """The test DC, for a test that only reads it."""
    with ad_lock(samba_ad_session, exclusive=False) as ad:
        yield ad


@pytest.fixture
def samba_ad_exclusive(samba_ad_session: SambaAD) -> Iterator[SambaAD]:
    """The test DC, for a test that freezes or stops it (do not ask for ``samba_ad`` as well)."""
    with ad_lock(samba_ad_session, exclusive=True) as ad:
        yield ad
