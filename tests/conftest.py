"""Test fixtures: every database test runs on SQLite and, when HELPLINE_TEST_POSTGRES_URL is set, on PostgreSQL.

* SQLite: the schema is migrated once into a template file; each test gets a fresh copy.
* PostgreSQL: one database per test session (``helpline_test_<random>``), migrated once, emptied between tests and
  dropped at the end, so nothing is left behind.
* ``HELPLINE_REQUIRE_ALL=1`` (CI) turns "PostgreSQL not configured" into a failure instead of a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from starlette.testclient import TestClient

from tests.waiting import GENEROUS, quietly, wait_until
from tickets.agent_service import AgentService
from tickets.models import Role
from web.runtime import db
from web.app import create_app
from web.settings import Settings, load_settings

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


#: The suite runs under libfaketime (``suite-in-the-future.sh``): see :func:`queue_timeouts`.
UNDER_LIBFAKETIME = "faketime" in os.environ.get("LD_PRELOAD", "") and bool(os.environ.get("FAKETIME"))


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


def machine_clock(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without libfaketime, for the servers tests start that must keep the machine's clock when the
    suite runs with a shifted one (``suite-in-the-future.sh``): the shared Samba DC (other runs use it too), and
    redis-server (it cannot run under libfaketime). Like PostgreSQL, they are services outside the run."""
    env = {k: v for k, v in environ.items() if not k.startswith("FAKETIME")}
    preload = [lib for lib in env.pop("LD_PRELOAD", "").split() if "faketime" not in lib]
    if preload:
        env["LD_PRELOAD"] = " ".join(preload)
    return env


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


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``port``."""
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(database_url: str, tmp_path: Path, extra_env: dict[str, str] | None = None,
                 preexec_fn: Any = None) -> Server:
    """``helpline serve`` in a subprocess on a free loopback port; waits until /healthz answers. ``preexec_fn`` runs
    in the child before it starts (e.g. to lower its open-file limit)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "HELPLINE_CONFIG"}
    env.update({"HELPLINE_DATABASE_URL": database_url, "HELPLINE_WEB_PORT": str(port), "HELPLINE_WEB_HOST": "127.0.0.1",
                **(extra_env or {})})
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=tmp_path, preexec_fn=preexec_fn)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"helpline serve exited with {process.returncode}:\n{log_path.read_text()}")
        return bool(quietly(lambda: httpx.get(base + "/healthz", timeout=1).status_code == 200, httpx.HTTPError)())

    try:
        wait_until(healthy, GENEROUS, what="helpline serve answering /healthz", details=log_path.read_text, every=0.05)
    except AssertionError:
        process.kill()
        raise
    return Server(base, process, log_path)


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 10 s; returns once the process is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_server(server: Server) -> None:
    stop_process(server.process)


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
    try:
        wait_until(lambda: listening(port), what="helpline pbx replay listening")
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


# -- Active Directory: a real Samba AD DC on loopback (tests/ad/) ---------------------------------------------------

AD_ENV = "HELPLINE_TEST_AD"
#: Where the fixture provisions the DC when HELPLINE_TEST_AD is not set (kept running: the next run reuses it).
AD_DIR = os.environ.get("HELPLINE_TEST_AD_DIR", "/tmp/helpline-test-ad")
AD_SCRIPTS = Path(__file__).parent / "ad"


@dataclass(frozen=True)
class SambaAD:
    """The test directory, as ``tests/ad/samba_ad_up.sh`` describes it in its env file."""

    url: str              #: ldaps://127.0.0.1:636
    starttls_url: str     #: ldap://127.0.0.1:389
    base_dn: str
    bind_dn: str          #: the read-only service account (UPN)
    password: str
    admin_dn: str
    admin_password: str
    ca_file: str
    server_name: str      #: the name in the DC's certificate
    directory: Path

    def pid(self) -> int:
        return int((self.directory / "run" / "samba.pid").read_text().strip())

    def dn(self, rdn: str) -> str:
        return f"{rdn},{self.base_dn}"


def read_env_file(path: Path) -> dict[str, str]:
    """``export NAME='value'`` lines -> {NAME: value}."""
    import shlex

    out = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, _, value = parts[1].partition("=")
            out[name] = value
    return out


@pytest.fixture(scope="session")
def samba_ad_session() -> SambaAD:
    """The Samba AD DC: from HELPLINE_TEST_AD (an env file), else started here when running as root."""
    path = os.environ.get(AD_ENV)
    if not path:
        if os.geteuid() != 0:
            service_missing(f"directory tests need a Samba AD DC: as root, run tests/ad/samba_ad_up.sh DIR and set "
                            f"{AD_ENV}=DIR/env (or run the tests as root, which starts one in {AD_DIR})")
        env = {**machine_clock(os.environ), "SAMBA_AD_PYTHON": sys.executable}
        started = time.monotonic()
        run = subprocess.run([str(AD_SCRIPTS / "samba_ad_up.sh"), AD_DIR], env=env, capture_output=True, text=True,
                             timeout=600)
        if run.returncode != 0:
            service_missing(f"tests/ad/samba_ad_up.sh {AD_DIR} failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
        if time.monotonic() - started > 2:
            print(f"\nSamba AD DC up in {AD_DIR} after {time.monotonic() - started:.1f} s", file=sys.stderr)
        path = f"{AD_DIR}/env"
    file = Path(path)
    if not file.is_file():
        service_missing(f"{AD_ENV}={path}: no such file (samba_ad_up.sh writes DIR/env)")
    values = read_env_file(file)
    ad = SambaAD(url=values["LDAP_URL"], starttls_url=values["LDAP_STARTTLS_URL"], base_dn=values["LDAP_BASE_DN"],
                 bind_dn=values["LDAP_BIND_DN"], password=values["LDAP_BIND_PASSWORD"],
                 admin_dn=values["LDAP_ADMIN_DN"], admin_password=values["LDAP_ADMIN_PASSWORD"],
                 ca_file=values["LDAP_CA_CERT"], server_name=values["LDAP_TLS_SERVER_NAME"],
                 directory=Path(values["SAMBA_AD_DIR"]))
    host, port = urlsplit(ad.url).hostname or "127.0.0.1", urlsplit(ad.url).port or 636
    with socket.socket() as probe:
        probe.settimeout(2)
        if probe.connect_ex((host, port)) != 0:
            service_missing(f"{AD_ENV}={path}: nothing listens on {host}:{port} (is samba running? "
                            f"tests/ad/samba_ad_up.sh {ad.directory})")
    problem = dc_clock_problem(ad)
    if problem:
        service_missing(problem)
    return ad


#: A DC clock this far ahead of the run's is not the machine's: the DC was started under a shifted clock.
AD_CLOCK_TOLERANCE = timedelta(minutes=5)


def dc_clock_problem(ad: SambaAD) -> str | None:
    """Why the DC's clock makes it unusable for this run, or None.

    The DC judges passwords and stamps changes by its own clock. Run on the machine's clock, it serves a run whose
    clock is shifted ahead (nothing in the directory tests compares the two clocks). A DC started under a shifted
    clock (libfaketime) finds the seeded passwords expired: clock skew, not a date bomb; say so instead of
    letting every directory test fail with "password expired"."""
    import ssl

    from ldap3 import BASE, NONE, Connection, Server as LdapServer, Tls

    parts = urlsplit(ad.url)
    server = LdapServer(parts.hostname or "127.0.0.1", port=parts.port or 636, use_ssl=True,
                        tls=Tls(validate=ssl.CERT_NONE), get_info=NONE, connect_timeout=5)
    fix = (f"restart it on the machine's clock: tests/ad/samba_ad_down.sh {ad.directory} && "
           f"tests/ad/samba_ad_up.sh {ad.directory} (see docs/development.md, Active Directory)")
    now = datetime.now(UTC)
    try:
        anonymous = Connection(server, receive_timeout=10)
        anonymous.open()
        anonymous.search("", "(objectClass=*)", BASE, attributes=["currentTime"])
        raw = str(anonymous.response[0]["raw_attributes"]["currentTime"][0], "ascii")  # 20261207221300.0Z
        anonymous.unbind()
        dc_now = datetime.strptime(raw[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except Exception as exc:  # the tests themselves say what is wrong with the DC
        print(f"\ncould not read the Samba AD DC's clock: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if dc_now - now > AD_CLOCK_TOLERANCE:
        ahead = dc_now - now
        return (f"the Samba AD DC's clock reads {dc_now:%Y-%m-%d %H:%M} UTC, "
                f"{f'{ahead.days} days' if ahead.days else f'{ahead.seconds // 60} minutes'} ahead of this run's "
                f"({now:%Y-%m-%d %H:%M} UTC): it was started under a shifted clock (libfaketime) and finds the "
                f"directory's passwords expired. Clock skew, not a date bomb: {fix}")
    for account, password in ((ad.bind_dn, ad.password), (ad.admin_dn, ad.admin_password)):
        try:
            conn = Connection(server, account, password, receive_timeout=10)
            bound = conn.bind()
            message = str(conn.result.get("message", ""))
            conn.unbind()
        except Exception:  # the tests themselves say what is wrong with the DC
            return None
        if not bound and ("data 532" in message or "data 773" in message):
            return (f"the Samba AD DC says the password of {account} expired ({message.strip()}): a DC started under a "
                    f"shifted clock (libfaketime) judges passwords by it (its rootDSE may still show "
                    f"{dc_now:%Y-%m-%d %H:%M} UTC). Clock skew, not a date bomb: {fix}")
    return None


@contextlib.contextmanager
def _ad_lock(ad: SambaAD, exclusive: bool) -> Iterator[SambaAD]:
    """Test sessions share one DC; a test that freezes or stops it runs while no other session's test uses it."""
    import fcntl

    try:
        lock = open(ad.directory / "tests.lock", "a")
    except OSError:  # not ours to write (another user's DC): run unlocked
        yield ad
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield ad
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def samba_ad(samba_ad_session: SambaAD) -> Iterator[SambaAD]:
    """The test DC, for a test that only reads it."""
    with _ad_lock(samba_ad_session, exclusive=False) as ad:
        yield ad


@pytest.fixture
def samba_ad_exclusive(samba_ad_session: SambaAD) -> Iterator[SambaAD]:
    """The test DC, for a test that freezes or stops it (do not ask for ``samba_ad`` as well)."""
    with _ad_lock(samba_ad_session, exclusive=True) as ad:
        yield ad


def directory_environ(ad: SambaAD, **overrides: str) -> dict[str, str]:
    """``HELPLINE_DIRECTORY_*`` settings for the test directory (US numbers; the PBX's outside-line prefix is 9)."""
    env = {"HELPLINE_DIRECTORY_SERVERS": ad.url, "HELPLINE_DIRECTORY_DEFAULT_REGION": "US", "HELPLINE_DIRECTORY_BIND_DN": ad.bind_dn,
           "HELPLINE_DIRECTORY_PASSWORD": ad.password, "HELPLINE_DIRECTORY_BASE_DN": ad.base_dn,
           "HELPLINE_DIRECTORY_CA_FILE": ad.ca_file, "HELPLINE_DIRECTORY_TLS_SERVER_NAME": ad.server_name,
           "HELPLINE_DIRECTORY_VIP_GROUP": ad.dn("CN=VIP,OU=Groups,OU=Corp"),
           "HELPLINE_DIRECTORY_DIALLING_PREFIXES": "9", "HELPLINE_DIRECTORY_CONNECT_TIMEOUT": "2s",
           "HELPLINE_DIRECTORY_RECEIVE_TIMEOUT": "3s", "HELPLINE_DIRECTORY_RETRIES": "0"}
    env.update({f"HELPLINE_DIRECTORY_{k.upper()}": v for k, v in overrides.items()})
    return env
