"""The real thing: `helpline` commands and `helpline serve` (uvicorn) in subprocesses, talking HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

import tickets.migrations
from tests.support.servers import Server, start_server, stop_server
from tests.support.services import PG_ENV, service_missing
from web import cli
from web.runtime import db


def helpline(
    *args: str, database_url: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HELPLINE_DATABASE_URL": database_url, **(env or {})}
    full_env.pop("HELPLINE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_curl_style_lifecycle_against_a_real_server(server: Server, database_url: str, tmp_path: Path) -> None:
    added = helpline(
        "user",
        "add",
        "ada",
        "--role",
        "admin",
        "--extension",
        "100",
        "--name",
        "Ада",
        database_url=database_url,
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("hl_") and token not in added.stderr

    anonymous = httpx.get(f"{server.base_url}/api/v1/tickets")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["type"] == "urn:helpline:problem:unauthenticated"

    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        created = http.post("/api/v1/tickets", json={"title": "ไม่สามารถพิมพ์ได้", "urgency": "high"})
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        assert http.get(f"/api/v1/tickets/{number}").json()["title"] == "ไม่สามารถพิมพ์ได้"
        assert http.patch(f"/api/v1/tickets/{number}", json={"description": "3rd floor"}).status_code == 200
        assert http.post(f"/api/v1/tickets/{number}/assign", json={"assignee": "ada"}).status_code == 200
        assert http.post(f"/api/v1/tickets/{number}/comments", json={"body": "on it"}).status_code == 201
        done = http.post(f"/api/v1/tickets/{number}/transitions", json={"to": "resolved", "resolution": "toner"})
        assert done.json()["status"] == "resolved"
        closed = http.post(f"/api/v1/tickets/{number}/transitions", json={"to": "closed"})
        assert closed.json()["status"] == "closed"
        listed = http.get("/api/v1/tickets", params={"status": "closed"}).json()
        assert [t["number"] for t in listed["items"]] == [number] and listed["next"] is None
        history = http.get(f"/api/v1/tickets/{number}/activity").json()["items"]
        assert [e["kind"] for e in history] == [
            "created",
            "field_changed",
            "assigned",
            "comment",
            "status_changed",
            "status_changed",
        ]
        assert http.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"
    assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ready"}
    status = httpx.get(f"{server.base_url}/api/v1/status", headers={"Authorization": f"Bearer {token}"})
    assert status.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert token not in server.log(), "tokens are never logged"


def test_serve_creates_and_migrates_an_empty_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'new' / 'helpline.sqlite3'}"
    srv = start_server(url, tmp_path)
    try:
        assert httpx.get(f"{srv.base_url}/readyz").status_code == 200
    finally:
        stop_server(srv)
    status = helpline("db", "status", database_url=url, cwd=tmp_path)
    assert status.returncode == 0 and "up to date" in status.stdout


def test_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'helpline.sqlite3'}"
    assert helpline("--version", database_url=url, cwd=tmp_path).stdout.startswith("helpline ")
    for command in (["serve"], ["db", "upgrade"], ["db", "status"], ["user", "add"], ["user", "token"]):
        shown = helpline(*command, "--help", database_url=url, cwd=tmp_path)
        assert shown.returncode == 0 and "usage: helpline" in shown.stdout
    assert helpline("user", database_url=url, cwd=tmp_path).returncode == 2
    bad_login = helpline("user", "add", "Not Valid", database_url=url, cwd=tmp_path)
    assert bad_login.returncode == 1 and "lowercase letters" in bad_login.stderr
    assert helpline("user", "add", "bo", database_url=url, cwd=tmp_path).returncode == 0
    again = helpline("user", "add", "bo", database_url=url, cwd=tmp_path)
    assert again.returncode == 1 and "helpline user token bo" in again.stderr
    token = helpline("user", "token", "bo", database_url=url, cwd=tmp_path)
    assert token.returncode == 0 and token.stdout.startswith("hl_")
    assert helpline("user", "token", "nobody", database_url=url, cwd=tmp_path).returncode == 1
    bad_config = helpline("serve", database_url=url, cwd=tmp_path, env={"HELPLINE_WEB_PORT": "99999"})
    assert bad_config.returncode == 2 and "[web] port" in bad_config.stderr


def test_config_is_accepted_before_or_after_the_command(tmp_path: Path) -> None:
    """`helpline --config FILE COMMAND` (as the README shows it), `helpline db --config FILE status` and
    `helpline db status --config FILE` all read FILE."""
    database = tmp_path / "from-the-config-file.sqlite3"
    config = tmp_path / "helpline.toml"
    config.write_text(f'[database]\nurl = "sqlite://{database}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "web.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    upgraded = run("--config", str(config), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert database.exists() and not (tmp_path / "var").exists(), "the file's database, not the default one"
    for args in (
        ("-c", str(config), "db", "status"),
        ("db", "--config", str(config), "status"),
        ("db", "status", "--config", str(config)),
        ("db", "status", "-c", str(config)),
    ):
        status = run(*args)
        assert status.returncode == 0 and "up to date" in status.stdout, (args, status)
    added = run(f"--config={config}", "user", "add", "ada", "--role", "admin")
    assert added.returncode == 0 and added.stdout.startswith("hl_"), added.stderr
    assert run("user", "token", "ada", "-c", str(config)).returncode == 0
    missing = run("--config", str(tmp_path / "nope.toml"), "db", "status")
    assert missing.returncode == 2 and "nope.toml: configuration file not found" in missing.stderr
    # given twice, the one after the command wins (it is the nearer one)
    other = tmp_path / "other.toml"
    other.write_text(f'[database]\nurl = "sqlite://{tmp_path / "other.sqlite3"}"\n', encoding="utf-8")
    assert run("--config", str(config), "db", "status", "--config", str(other)).returncode == 1  # empty database


def test_user_add_refuses_a_name_with_control_characters(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'helpline.sqlite3'}"
    for name in ("Bob\r\nX-Injected: 1", "Bob\tSmith", "\u200b"):
        added = helpline("user", "add", "bob", "--name", name, database_url=url, cwd=tmp_path)
        assert added.returncode == 1 and "display_name: must" in added.stderr, added
        assert "hl_" not in added.stdout
    added = helpline("user", "add", "bob", "--name", "Боб สมชาย", database_url=url, cwd=tmp_path)
    assert added.returncode == 0, added.stderr


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "status"], ["user", "add", "zoe"]])
def test_unreachable_database_is_a_clear_failure(tmp_path: Path, command: list[str]) -> None:
    """Not "empty database: 9 pending migrations" (db status said so): the database cannot be reached, exit 1."""
    url = "postgres://nobody@127.0.0.1:1/helpline"
    result = helpline(*command, database_url=url, cwd=tmp_path)
    assert result.returncode == 1, result
    assert "cannot use the database postgres://nobody@127.0.0.1:1/helpline" in result.stderr
    assert "pending" not in result.stdout + result.stderr and "empty database" not in result.stdout
    assert "Traceback" not in result.stderr


def test_a_login_postgresql_refuses_is_a_clear_failure(tmp_path: Path) -> None:
    """A reachable server that refuses the role: no traceback, exit 1, the password masked."""
    base = os.environ.get(PG_ENV)
    if not base:
        service_missing(f"{PG_ENV} is not set")
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(netloc=f"no_such_role_x:s3cret@{parts.hostname}:{parts.port or 5432}"))
    result = helpline("db", "status", database_url=url, cwd=tmp_path)
    assert result.returncode == 1, result
    assert "cannot use the database" in result.stderr and "no_such_role_x" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


# -- a schema that is behind: the next release ships a migration this database has not had ------------------

SECOND_MIGRATION = """
from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [ops.RunSQL("CREATE TABLE future_feature (id INTEGER PRIMARY KEY)",
                             reverse_sql="DROP TABLE future_feature")]
"""


@pytest.fixture
def next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "next_release_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(Path(tickets.migrations.__file__).parent / "0001_initial.py", package)
    (package / "0002_future_feature.py").write_text(SECOND_MIGRATION)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(db.APPS, "tickets", {**db.APPS["tickets"], "migrations": "next_release_migrations"})


def test_serve_refuses_a_schema_that_is_behind_until_db_upgrade(
    database_url: str, next_release: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HELPLINE_DATABASE_URL", database_url)
    monkeypatch.delenv("HELPLINE_CONFIG", raising=False)
    assert cli.main(["db", "status"]) == 1
    assert "schema behind: 1 pending migrations: tickets.0002_future_feature" in capsys.readouterr().out
    assert cli.main(["serve", "--port", "1"]) == 1
    assert "back it up, then run: helpline db upgrade" in capsys.readouterr().err
    assert cli.main(["db", "upgrade"]) == 0
    assert "applied 1 migrations: tickets.0002_future_feature" in capsys.readouterr().out
    assert cli.main(["db", "status"]) == 0
