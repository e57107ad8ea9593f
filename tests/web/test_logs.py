"""Structured logs: one JSON object per line, request ids, and no configured secret ever written.

The full-flow test runs ``helpline serve`` in a subprocess at DEBUG with every secret configured (PBX, directory,
Twilio, Slack, console key, metrics token, database password, an API token), pointed at real local services (the
AMI replay of 20 calls, the Samba AD DC, the Twilio and Slack fakes), replays the calls, makes API calls and a
failed login, then reads everything the process wrote.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from tests.support.notify import FROM
from tests.support.notify_fakes import (
    AUTH_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    FakeTwilio,
    LoopbackServer,
    providers_toml,
)
from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import ReplayProcess, Team, pbx_config, run_cli, start_server, stop_server
from tests.support.services import PostgresDatabase, service_missing
from tests.support.waiting import wait_until
from tickets.models import Agent
from web import logs
from web.runtime import db
from web.settings import Settings, load_settings

# random-looking, so that a fragment of one found in the logs is a leak, not an ordinary word
CONSOLE_KEY = "cK4-vQ9zR2mT7wX1yB6nL3pD8fH5jG0s-xyz"
METRICS_TOKEN = "mT8-qW3eR6tY1uI4oP7aS2dF"
DB_PASSWORD = "Db7kQ2-x9Vm4pLr8Tn3Wy6Zs"  # 24 characters: the third the ORM used to show is 8
WRONG_PASSWORD = "Wz4-Ln8Rq2Jv6"
ADMIN_PASSWORD = "Ad5-Hk9Tm3Xw7Qe"
#: A fragment this long of a secret in a log gives too much away (a prefix narrows a guess; a third of a password is
#: a third of it).
FRAGMENT = 6


def fragments(secret: str, n: int = FRAGMENT) -> set[str]:
    """Every run of ``n`` characters of ``secret`` (any longer piece contains one)."""
    return {secret[i : i + n] for i in range(len(secret) - n + 1)}


def leaked_fragments(text: str, secrets: dict[str, str], innocent: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Which fragments of which secrets ``text`` holds; a fragment that is part of an ``innocent`` word the logs
    rightly contain (a secret chosen by others may hold an ordinary word) does not count."""
    found = {
        name: sorted(f for f in fragments(value) if f in text and not any(f in word for word in innocent))
        for name, value in secrets.items()
    }
    return {name: pieces for name, pieces in found.items() if pieces}


def random_part(password_hash: str) -> str:
    """The salt and digest of an argon2 hash (what precedes them only names the algorithm and its costs)."""
    return password_hash.rsplit("$", 2)[-2] + "$" + password_hash.rsplit("$", 1)[-1]


def test_a_secret_in_a_message_extra_or_traceback_is_masked_and_each_line_is_json() -> None:
    settings = Settings.model_validate(
        {"web": {"metrics_token": METRICS_TOKEN}, "database": {"url": f"postgres://u:{DB_PASSWORD}@db/helpline"}}
    )
    redactor = logs.Redactor()
    redactor.add_settings(settings)
    redactor.learn("api-token-learnt-from-a-header")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(redactor))
    logger = logging.getLogger("test_logs.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "token %s and url %s",
            METRICS_TOKEN,
            settings.database.url.get_secret_value(),
            extra={"pbx": "main", "header": "Bearer api-token-learnt-from-a-header", "count": 3},
        )
        try:
            raise ValueError(f"bad password {DB_PASSWORD}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert METRICS_TOKEN not in text and DB_PASSWORD not in text and "api-token-learnt" not in text
    first, second = logs.parse_lines(text.splitlines())
    assert first["message"] == "token *** and url postgres://u:***@db/helpline"
    assert first["level"] == "warning" and first["logger"] == "test_logs.masking" and first["ts"].endswith("+00:00")
    assert first["pbx"] == "main" and first["count"] == 3 and first["header"] == "Bearer ***"
    assert "ValueError: bad password ***" in second["exc"]


def write_notify(path: Path, twilio_url: str, slack_url: str) -> None:
    with path.open("a") as f:
        f.write(f"""
{providers_toml(twilio_url, slack_url, FROM)}
[[notify.people]]
name = "ivan"
phone = "+15550002222"

[[notify.policies]]
name = "sla"
match = {{ event = ["sla.breached"] }}
steps = [{{ after = "0m", notify = ["person:ivan", "slack:#it-oncall"] }}]
""")


def test_a_full_run_logs_json_lines_with_request_ids_and_no_secret(
    database_url: str, tmp_path: Path, pbx_replay: ReplayProcess, samba_ad: SambaAD
) -> None:
    if database_url.startswith("postgres"):  # the test cluster trusts local users: the password is only carried
        database_url = database_url.replace("postgres://postgres@", f"postgres://postgres:{DB_PASSWORD}@", 1)
    twilio_server = LoopbackServer(FakeTwilio().app()).start()
    slack_server = LoopbackServer(FakeSlack().app()).start()
    config = pbx_config(tmp_path, pbx_replay)
    write_notify(config, twilio_server.url, slack_server.url)
    env = {
        **directory_environ(samba_ad),
        "HELPLINE_CONFIG": str(config),
        "HELPLINE_LOG_FORMAT": "json",
        "HELPLINE_LOG_LEVEL": "debug",
        "HELPLINE_CONSOLE_SECRET_KEY": CONSOLE_KEY,
        "HELPLINE_WEB_METRICS_TOKEN": METRICS_TOKEN,
        "HELPLINE_DATABASE_URL": database_url,
    }
    add = subprocess.run(
        [sys.executable, "-m", "web.cli", "user", "add", "ada", "--role", "admin", "--password"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **env},
    )
    assert add.returncode == 0, add.stderr
    api_token = add.stdout.strip().splitlines()[-1]
    start_env = {k: v for k, v in env.items() if k != "HELPLINE_CONFIG"}
    server = start_server(database_url, tmp_path, {**start_env, "HELPLINE_CONFIG": str(config)})
    try:
        auth = {"Authorization": f"Bearer {api_token}"}

        def pbx() -> dict[str, object]:
            return dict(httpx.get(f"{server.base_url}/api/v1/pbx", headers=auth, timeout=5).json()["items"][0])

        wait_until(lambda: int(pbx()["facts_applied"]) >= 60, 60, what="60 call facts applied", details=pbx, every=0.2)
        tickets = httpx.get(f"{server.base_url}/api/v1/tickets", headers={**auth, "X-Request-ID": "flow-1"}, timeout=5)
        assert tickets.status_code == 200 and tickets.headers["x-request-id"] == "flow-1"
        assert httpx.get(f"{server.base_url}/api/v1/tickets/IT-999999", headers=auth, timeout=5).status_code == 404
        assert (
            httpx.get(
                f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5
            ).status_code
            == 200
        )
        failed = httpx.post(
            f"{server.base_url}/api/v1/session", json={"login": "ada", "password": WRONG_PASSWORD}, timeout=5
        )
        assert failed.status_code in (401, 403)
    finally:
        stop_server(server)
        twilio_server.stop()
        slack_server.stop()

    text = server.log()
    secrets = {
        "pbx secret": pbx_replay.secret,
        "directory password": samba_ad.password,
        "twilio": AUTH_TOKEN,
        "slack bot": BOT_TOKEN,
        "slack signing": SIGNING_SECRET,
        "console key": CONSOLE_KEY,
        "metrics token": METRICS_TOKEN,
        "api token": api_token,
        "database password": DB_PASSWORD,
        "a wrong password": WRONG_PASSWORD,
    }
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    secrets.update({"admin password": ADMIN_PASSWORD, "admin password hash": random_part(admin_hash(database_url))})
    # the test directory's service password holds "Telephony": the logger web.runtime.telephony and the attribute
    # otherTelephone (the sync logs the names it reads) are not leaks
    innocent = ("web.runtime.telephony", "otherTelephone")
    assert not leaked_fragments(text, secrets, innocent), "pieces of secrets in the logs"
    lines = logs.parse_lines(text.splitlines())  # every line is one JSON object
    assert len(lines) > 20 and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "debug" for line in lines)
    flow = [line for line in lines if line.get("request_id") == "flow-1"]
    assert any(line["logger"] == "uvicorn.access" and "/api/v1/tickets" in line["message"] for line in flow), flow
    assert any("PBX main" in line["message"] or "AMI main" in line["message"] for line in lines)
    assert json.dumps(lines)  # round-trips


def admin_hash(database_url: str) -> str:
    async def read() -> str:
        await db.open_orm(load_settings(environ={"HELPLINE_DATABASE_URL": database_url}).database)
        try:
            return str((await Agent.get(login="ada")).password_hash)
        finally:
            await db.close_orm()

    return str(asyncio.run(read()))


def test_only_tokens_that_authenticated_are_masked_so_nobody_can_blank_words_out_of_the_logs(
    client: TestClient, team: Team
) -> None:
    word = f"Everything{uuid.uuid4().hex[:8]}"
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {word}"}).status_code == 401
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Basic {word}"}).status_code == 401
    assert logs.redactor.redact(f"ticket about {word}") == f"ticket about {word}", "an unverified value was learnt"
    assert client.get("/api/v1/tickets", headers=team.header(team.agent)).status_code == 200
    assert logs.redactor.redact(f"token {team.agent} seen") == "token *** seen"


def test_the_orm_start_up_line_shows_no_part_of_the_database_password(
    postgres_database: PostgresDatabase | None,
) -> None:
    if postgres_database is None:
        service_missing("the database password test needs PostgreSQL (HELPLINE_TEST_POSTGRES_URL)")
    assert postgres_database is not None
    url = postgres_database.url.replace("postgres://postgres@", f"postgres://postgres:{DB_PASSWORD}@", 1)
    settings = load_settings(
        environ={"HELPLINE_DATABASE_URL": url, "HELPLINE_LOG_LEVEL": "debug", "HELPLINE_LOG_FORMAT": "json"}
    )
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("tortoise").level)
    logs.configure(settings, stream)
    try:

        async def open_and_close() -> None:
            await db.open_orm(settings.database)
            await db.close_orm()

        asyncio.run(open_and_close())
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.getLogger("tortoise").setLevel(saved[2])
        logging.captureWarnings(False)
    text = stream.getvalue()
    assert "Tortoise-ORM startup" in text, "the line under test was not written"
    assert not leaked_fragments(text, {"database password": DB_PASSWORD})


def test_debug_configured_after_a_quieter_level_brings_the_orm_lines_back() -> None:
    """A process (or a reload) that configures logging at info and then at debug gets the ORM's debug lines."""
    root, orm = logging.getLogger(), logging.getLogger("tortoise")
    saved = (list(root.handlers), root.level, orm.level)
    try:
        logs.configure(load_settings(environ={"HELPLINE_LOG_LEVEL": "info"}), io.StringIO())
        assert not orm.isEnabledFor(logging.INFO)
        logs.configure(load_settings(environ={"HELPLINE_LOG_LEVEL": "debug"}), io.StringIO())
        assert orm.isEnabledFor(logging.DEBUG)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        orm.setLevel(saved[2])
        logging.captureWarnings(False)


def test_setting_a_password_at_debug_logs_no_part_of_its_hash(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": f"sqlite://{path}",
        "HELPLINE_LOG_LEVEL": "debug",
        "HELPLINE_LOG_FORMAT": "json",
    }
    env.pop("HELPLINE_CONFIG", None)

    def helpline(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, cwd=tmp_path, stdin=stdin)

    added = helpline("user", "add", "carol", "--password", stdin="first password\n")
    changed = helpline("user", "password", "carol", stdin="Zq7-Kw9x-Mv3p-Ty5\n")
    assert added.returncode == 0 and changed.returncode == 0, added.stderr + changed.stderr
    assert any('"level": "debug"' in line for line in changed.stderr.splitlines()), "not logged at DEBUG"

    async def stored() -> str:
        await db.open_orm(load_settings(environ={"HELPLINE_DATABASE_URL": f"sqlite://{path}"}).database)
        try:
            return str((await Agent.get(login="carol")).password_hash)
        finally:
            await db.close_orm()

    password_hash = asyncio.run(stored())
    assert not leaked_fragments(
        changed.stderr, {"password hash": random_part(password_hash), "password": "Zq7-Kw9x-Mv3p-Ty5"}
    )
