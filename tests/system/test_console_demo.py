"""``helpline demo``: a newcomer gets a console URL and credentials, and calls from the bundled recording become
tickets with the callers' names, replay after replay."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import free_port
from tests.support.waiting import wait_until


def test_the_demo_prints_credentials_and_its_calls_become_tickets_again_and_again(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "demo", "--port", str(port), "--speed", "8", "--pause", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:

        def started() -> bool:
            assert process.poll() is None, log.read_text()
            return "password:" in log.read_text()

        wait_until(started, what="the demo's credentials", details=log.read_text, every=0.1)
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/" in text, text
        password = re.search(r"password:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        workdir = re.search(r"throwaway data in (\S+)\)", text).group(1)  # type: ignore[union-attr]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert "helpline console" in http.get("/").text
            assert http.post("/api/v1/session", json={"login": "demo", "password": password}).status_code == 201

            def calls() -> list[dict[str, object]]:
                return list(http.get("/api/v1/calls?limit=100").json()["items"])

            # the 20 calls of the recording, then the next replay's
            wait_until(
                lambda: len(calls()) > 20,
                60,
                what="the recording replayed again",
                details=lambda: f"{len(calls())} calls",
                every=0.2,
            )
            titles = [t["title"] for t in http.get("/api/v1/tickets?limit=200").json()["items"]]
            assert any("Alice Example" in t for t in titles), titles
            people = {
                t["requester"]["name"] for t in http.get("/api/v1/tickets?limit=200").json()["items"] if t["requester"]
            }
            assert "Иван Петров" in people and "Alice Example" in people, people
    finally:
        process.terminate()
        process.wait(15)
    assert not Path(workdir).exists(), "the throwaway data is deleted"
