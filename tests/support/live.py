"""Helpers for the live-event tests: an SSE client in a thread, agents with passwords on a server's database."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from tickets.agent_service import AgentService
from tickets.models import Role
from web.auth.passwords import hash_password
from web.runtime import db
from web.settings import Settings

try:
    from tests.support.waiting import GENEROUS, wait_until
except ImportError:  # imported as a top-level module (tests/ on sys.path)
    from tests.support.waiting import GENEROUS, wait_until  # type: ignore[no-redef]

PASSWORD = "correct horse battery"


def run_elsewhere(coro: Any) -> Any:
    """Run ``coro`` to completion on a fresh event loop in another thread (Playwright's sync API owns this one)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


@dataclass
class Event:
    id: str | None
    type: str
    data: dict[str, Any]


@dataclass
class SseClient:
    """Reads ``GET /api/v1/events`` of a real server in a thread, parsing frames into :class:`Event` s."""

    url: str
    headers: dict[str, str]
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    #: Set when the server ended the stream (not when :meth:`close` did).
    ended: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SseClient:
        threading.Thread(target=self._run, daemon=True).start()
        assert self.ready.wait(GENEROUS), f"the stream did not open (status {self.status})"
        return self

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:  # the server went away (the test stops it)
            pass
        finally:
            if not self.stop.is_set():
                self.ended.set()
            self.ready.set()

    def _read(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as http:
            with http.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.ready.set()
                    return
                frame: dict[str, str] = {}
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        if line.strip() == ": ready":
                            self.ready.set()
                    elif line == "":
                        if "event" in frame:
                            self.events.append(Event(frame.get("id"), frame["event"], json.loads(frame["data"])))
                        frame = {}
                    else:
                        name, _, value = line.partition(":")
                        frame[name] = value[1:] if value.startswith(" ") else value

    def close(self) -> None:
        self.stop.set()

    def wait_for(self, predicate: Any, timeout: float = GENEROUS) -> Event:
        """The first event so far or to come that ``predicate`` accepts."""
        return wait_until(
            lambda: next((e for e in list(self.events) if predicate(e)), None),
            timeout,
            what="a matching event",
            details=lambda: [(e.type, e.id) for e in self.events],
        )

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def add_agents(settings: Settings, *specs: tuple[str, Role, str | None]) -> dict[str, str]:
    """Agents (login, role, extension) with the console password :data:`PASSWORD`; returns login -> API token."""

    async def run() -> dict[str, str]:
        await db.open_orm(settings.database)
        try:
            agents, tokens = AgentService(), {}
            for login, role, extension in specs:
                agent = await agents.create(
                    login=login, display_name=login.title() + " Agent", role=role, extension=extension
                )
                await agents.set_password(agent.id, hash_password(PASSWORD))
                tokens[login] = (await agents.issue_token(agent.id))[1]
            return tokens
        finally:
            await db.close_orm()

    return dict(run_elsewhere(run()))


def login(base_url: str, login_name: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client holding a console session (cookie) with its CSRF token as a default header."""
    client = httpx.Client(base_url=base_url, timeout=10)
    r = client.post("/api/v1/session", json={"login": login_name, "password": password})
    assert r.status_code == 201, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client
