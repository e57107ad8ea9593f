"""The event streams this process serves: who holds them, with which credential, and how many may be open.

A stream is admitted only below two caps: ``[live] max_streams_per_agent`` per agent (8; beyond it ``429``) and
``[live] max_streams`` for the process (beyond it ``503``). The process cap defaults to the open-file limit less a
quarter of it (at least 128 files), which stays free for API requests, the database pool, the PBX and the rest: one
token holding streams cannot exhaust the process's files and make every request (``/healthz`` included) fail.
The caps count this process only; several instances each have their own.

:class:`web.live.credential_watch.CredentialWatch` re-checks the credentials of every open stream and ends or
updates the :class:`OpenStream` objects kept here.
"""

from __future__ import annotations

import resource
from collections import Counter
from dataclasses import dataclass, field

from tickets.models import Agent
from web.auth.sessions import Session
from web.http.problems import ApiError
from web.live.broker import Subscription

#: Files kept free for everything but streams: a quarter of the limit, at least this many.
RESERVED_FILES = 128
#: Assumed when the open-file limit is unlimited.
UNLIMITED_FILES = 65536
#: Seconds a refused client is asked to wait.
RETRY_AFTER = 10


def default_max_streams(open_files: int | None = None) -> int:
    """Streams a process with ``open_files`` (default: its soft ``RLIMIT_NOFILE``) may serve."""
    if open_files is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        open_files = UNLIMITED_FILES if soft == resource.RLIM_INFINITY else soft
    return max(1, open_files - max(RESERVED_FILES, open_files // 4))


@dataclass(eq=False)
class OpenStream:
    """One open ``GET /api/v1/events``: the agent as last read from the database, and what authenticated it."""

    agent: Agent
    token_hash: str | None = None  #: the bearer token's SHA-256, when a token authenticated the stream
    session: Session | None = None  #: the console session, when its cookie authenticated the stream
    feed: Subscription | None = None
    ended: str | None = None  #: why the stream was ended (None: still open)

    def end(self, reason: str) -> None:
        """End the stream now: its client reconnects (and is refused, or gets what its new role allows)."""
        if self.ended is None:
            self.ended = reason
            if self.feed is not None:
                self.feed.end()


@dataclass
class OpenStreams:
    """The streams of this process, within their caps."""

    per_agent: int
    per_process: int
    streams: set[OpenStream] = field(default_factory=set)
    by_agent: Counter[int] = field(default_factory=Counter)
    #: Streams refused (``agent_cap``, ``process_cap``) and ended by the credential watch (by reason).
    refused: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)

    def admit(self, agent: Agent, token_hash: str | None, session: Session | None) -> OpenStream:
        """A new stream for ``agent``; raises a ``429`` or ``503`` :class:`ApiError` past a cap."""
        retry = {"Retry-After": str(RETRY_AFTER)}
        if self.by_agent[agent.id] >= self.per_agent:
            self.refused["agent_cap"] += 1
            raise ApiError(
                429,
                "too-many-streams",
                f"{agent.login} already has {self.per_agent} event streams open here (the most allowed); "
                "close a console tab, or raise [live] max_streams_per_agent",
                headers=retry,
            )
        if len(self.streams) >= self.per_process:
            self.refused["process_cap"] += 1
            raise ApiError(
                503,
                "stream-capacity",
                f"this instance serves {self.per_process} event streams already (its most); try again "
                "later or another instance",
                headers=retry,
            )
        stream = OpenStream(agent, token_hash, session)
        self.streams.add(stream)
        self.by_agent[agent.id] += 1
        return stream

    def release(self, stream: OpenStream) -> None:
        """The stream's connection is closed."""
        if stream in self.streams:
            self.streams.discard(stream)
            self.by_agent[stream.agent.id] -= 1
            if self.by_agent[stream.agent.id] <= 0:
                del self.by_agent[stream.agent.id]
