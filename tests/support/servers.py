"""Real helpline processes and fakes on loopback: free ports, helpline serve, helpline pbx replay, the API's team of
agents."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import GENEROUS, quietly, wait_until


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


def start_server(
    database_url: str, tmp_path: Path, extra_env: dict[str, str] | None = None, preexec_fn: Any = None
) -> Server:
    """``helpline serve`` in a subprocess on a free loopback port; waits until /healthz answers. ``preexec_fn`` runs
    in the child before it starts (e.g. to lower its open-file limit)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "HELPLINE_CONFIG"}
    env.update(
        {
            "HELPLINE_DATABASE_URL": database_url,
            "HELPLINE_WEB_PORT": str(port),
            "HELPLINE_WEB_HOST": "127.0.0.1",
            **(extra_env or {}),
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            preexec_fn=preexec_fn,
        )
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


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``helpline ARGS`` as an operator runs it (this interpreter, ``env``, in ``cwd``), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


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
