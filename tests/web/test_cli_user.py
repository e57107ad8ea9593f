"""``helpline user add|password``: a console password asked for on a terminal (not echoed), taken from a file or
stdin in scripts, and otherwise none, said so with the command that sets one. Stdout stays the token alone."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from web.app import create_app
from web.settings import load_settings

V1 = "/api/v1"
SECRET = "tangerine koala 42"


class Cli:
    """``helpline`` against a fresh SQLite database, off a terminal or on one (a pseudo-terminal)."""

    def __init__(self, tmp_path: Path, database: Path) -> None:
        self.tmp_path = tmp_path
        self.url = f"sqlite://{database}"
        self.env = {**os.environ, "HELPLINE_DATABASE_URL": self.url}
        self.env.pop("HELPLINE_CONFIG", None)

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "web.cli", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.tmp_path,
        )

    def on_terminal(self, *args: str, answers: list[str], stderr: int | None = None) -> tuple[int, str]:
        """Run on a pseudo-terminal that is the command's controlling terminal (as getpass wants); type each answer
        after a prompt ending in ": ". The exit code and all the terminal showed (``stderr``: elsewhere)."""
        master, slave = os.openpty()

        def own_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave if stderr is None else stderr,
            env=self.env,
            cwd=self.tmp_path,
            start_new_session=True,
            preexec_fn=own_terminal,
        )
        os.close(slave)
        shown = b""
        deadline = time.monotonic() + 30
        pending = list(answers)
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # the command ended and closed the terminal
                        break
                    if not chunk:
                        break
                    shown += chunk
                    if pending and shown.endswith(b": "):  # a prompt, waiting (getpass flushes typed-ahead keys)
                        os.write(master, pending.pop(0).encode() + b"\n")
                elif process.poll() is not None:
                    break
            code = process.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            os.close(master)
            if process.poll() is None:
                process.kill()
        return code, shown.decode("utf-8", "replace")

    def login(self, login: str, password: str) -> tuple[int, str]:
        with TestClient(create_app(load_settings(environ={"HELPLINE_DATABASE_URL": self.url}))) as client:
            r = client.post(f"{V1}/session", json={"login": login, "password": password})
            return r.status_code, str(r.json().get("type", "")) if r.status_code != 201 else ""


@pytest.fixture
def cli(tmp_path: Path, sqlite_template: Path) -> Iterator[Cli]:
    database = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, database)
    yield Cli(tmp_path, database)


def token_only(out: str) -> bool:
    return len(out.splitlines()) == 1 and out.startswith("hl_")


def test_off_a_terminal_there_is_no_prompt_and_no_password_and_it_says_so(cli: Cli) -> None:
    added = cli.run("user", "add", "ada", "--role", "admin")
    assert added.returncode == 0, added.stderr
    assert token_only(added.stdout), "stdout is the token alone: TOKEN=$(helpline user add ...) keeps working"
    assert "ada has no console password yet" in added.stderr and "helpline user password ada" in added.stderr
    assert "password:" not in added.stderr, "no prompt a script would hang on"
    assert cli.login("ada", SECRET) == (401, "urn:helpline:problem:no-password")


def test_a_password_file_or_stdin_sets_it_without_showing_it(cli: Cli) -> None:
    secret_file = cli.tmp_path / "ada.password"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    added = cli.run("user", "add", "ada", "--role", "admin", "--password-file", str(secret_file))
    assert added.returncode == 0, added.stderr
    assert token_only(added.stdout) and SECRET not in added.stdout + added.stderr
    assert "no console password" not in added.stderr
    assert cli.login("ada", SECRET) == (201, "")
    piped = cli.run("user", "add", "bo", "--password-file", "-", stdin="пароль для Бо\n")
    assert piped.returncode == 0, piped.stderr
    assert cli.login("bo", "пароль для Бо") == (201, ""), "a Cyrillic password survives"
    changed = cli.run("user", "password", "bo", "--password-file", str(secret_file))
    assert changed.returncode == 0 and cli.login("bo", SECRET) == (201, "")
    missing = cli.run("user", "add", "cy", "--password-file", str(cli.tmp_path / "nope"))
    assert missing.returncode == 1 and "cannot read the password file" in missing.stderr
    both = cli.run("user", "add", "cy", "--password", "--no-password")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_on_a_terminal_it_asks_twice_without_echo(cli: Cli) -> None:
    code, shown = cli.on_terminal("user", "add", "ada", "--role", "admin", answers=[SECRET, SECRET])
    assert code == 0, shown
    assert "console password (empty: none):" in shown and "again:" in shown
    assert SECRET not in shown, "the password is not echoed"
    assert cli.login("ada", SECRET) == (201, "")

    code, shown = cli.on_terminal("user", "add", "bo", answers=[SECRET, "a different one"])
    assert code == 1 and "the two passwords differ" in shown


def test_on_a_terminal_enter_or_no_password_skips_it_and_captured_messages_mean_no_prompt(cli: Cli) -> None:
    code, shown = cli.on_terminal("user", "add", "bo", answers=[""])  # Enter: no password, said so
    assert code == 0 and "bo has no console password yet" in shown, shown
    assert cli.login("bo", SECRET) == (401, "urn:helpline:problem:no-password")
    code, shown = cli.on_terminal("user", "add", "cy", "--no-password", answers=[])
    assert code == 0 and "password:" not in shown and "cy has no console password yet" in shown
    code, shown = cli.on_terminal("user", "add", "dee", answers=[], stderr=subprocess.DEVNULL)
    assert code == 0 and "password:" not in shown, "messages captured (a test, a log): nobody to ask"
