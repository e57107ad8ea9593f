"""One watcher per process re-checks the credentials of every open event stream, every :data:`CHECK_EVERY` seconds.

A stream ends (its client reconnects and is refused, or is served under its new role) when

* its agent is deactivated or removed, or their role changed;
* its bearer token was revoked;
* its console session ended: logged out (on any instance: the shared marks), expired, or the agent's password
  changed;

and an agent's other changes (extension, name) are applied to the open stream at once, so the filter of what the
agent sees uses the agent as the database has it now. The check costs at most three queries per round for all
streams together (agents, unrevoked tokens, ended sessions), none when no stream is open. Revocations made on
another instance are seen the same way: they are in the shared database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tickets.models import Agent, ApiToken
from web.auth.sessions import SESSION_ENDED, fingerprint
from web.http.shared_marks import CHUNK, SharedMarks
from web.live.open_streams import OpenStream, OpenStreams
from web.tasks import Periodic

log = logging.getLogger(__name__)
#: Seconds between two checks: a revoked credential's stream ends within this (plus the queries' time).
CHECK_EVERY = 2.0


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class CredentialWatch(Periodic):
    """Ends or updates the streams of ``streams`` whose credentials changed (see the module's description)."""

    what = "live events: the check of open streams' credentials"

    def __init__(self, streams: OpenStreams, marks: SharedMarks, every: float = CHECK_EVERY) -> None:
        super().__init__(every)
        self.streams = streams
        self.marks = marks

    async def tick(self) -> None:
        await self.check()

    async def check(self) -> None:
        """One round: read what the open streams' credentials are now, end or update the streams."""
        open_now = [s for s in self.streams.streams if s.ended is None]
        if not open_now:
            return
        agents: dict[int, Agent] = {}
        for ids in _chunks({s.agent.id for s in open_now}):
            agents.update((a.id, a) for a in await Agent.filter(id__in=ids))
        tokens: set[tuple[str, int]] = set()
        for hashes in _chunks({s.token_hash for s in open_now if s.token_hash}):
            rows = await ApiToken.filter(token_hash__in=hashes, revoked_at__isnull=True).values_list(
                "token_hash", "agent_id"
            )
            tokens.update((str(h), int(a)) for h, a in rows)
        ended = await self.marks.marked(SESSION_ENDED, {s.session.sid for s in open_now if s.session})
        now = time.time()
        for stream in open_now:
            reason = _why_it_ends(stream, agents.get(stream.agent.id), tokens, ended, now)
            if reason is not None:
                log.info("live events: ended a stream of %s: %s", stream.agent.login, reason)
                stream.end(reason)
                self.streams.closed[reason] += 1
            else:
                stream.agent = agents[stream.agent.id]


def _why_it_ends(
    stream: OpenStream, agent: Agent | None, tokens: set[tuple[str, int]], ended: set[str], now: float
) -> str | None:
    if agent is None or not agent.active:
        return "agent_deactivated"
    if agent.role != stream.agent.role:
        return "role_changed"
    if stream.token_hash is not None and (stream.token_hash, agent.id) not in tokens:
        return "token_revoked"
    session = stream.session
    if session is not None:
        if session.sid in ended:
            return "logged_out"
        if session.expires <= now:
            return "session_expired"
        if fingerprint(agent.password_hash) != session.fingerprint:
            return "password_changed"
    return None
