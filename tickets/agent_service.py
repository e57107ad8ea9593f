"""Agents (the IT team) and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from tickets.clock import Clock, utcnow
from tickets.errors import Conflict, InvalidField, NotFound
from tickets.languages import language_problem, time_zone_problem
from tickets.models import Agent, ApiToken, Role

TOKEN_PREFIX = "hl_"
#: ``last_used_at`` is written at most this often per token, so that reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: How long a successful token lookup is trusted without asking the database again, and how many are kept.
AUTH_CACHE_SECONDS = 5.0
AUTH_CACHE_SIZE = 10_000
AGENT_FIELDS = ("display_name", "role", "extension", "email", "active")
#: What an agent may change of their own record; None puts the default back.
PREFERENCES = {"language": language_problem, "time_zone": time_zone_problem}


def hash_token(secret: str) -> str:
    """What is stored for a token: its SHA-256 (the token has 256 random bits, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AgentService:
    """Creates agents, issues and checks their tokens."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self._recent: dict[str, tuple[Agent, int, float]] = {}

    async def create(
        self,
        *,
        login: str,
        display_name: str,
        role: Role = Role.AGENT,
        extension: str | None = None,
        email: str | None = None,
    ) -> Agent:
        now = self.clock()
        if await Agent.exists(login=login):
            raise Conflict(f"an agent with login {login!r} already exists")
        await self._check_extension(extension, None)
        try:
            return await Agent.create(
                login=login,
                display_name=display_name,
                role=role,
                extension=extension,
                email=email,
                created_at=now,
                updated_at=now,
            )
        except IntegrityError:
            raise Conflict(f"an agent with login {login!r} or extension {extension!r} already exists") from None

    async def get(self, agent_id: int) -> Agent:
        agent = await Agent.get_or_none(id=agent_id) if 0 < agent_id < 2**31 else None
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        return agent

    async def by_login(self, login: str) -> Agent | None:
        return await Agent.get_or_none(login=login)

    async def find(self, *, active: bool | None = None, after: int | None = None, limit: int = 50) -> list[Agent]:
        query = Agent.all()
        if active is not None:
            query = query.filter(active=active)
        if after is not None:
            query = query.filter(id__gt=after)
        return await query.order_by("id").limit(limit)

    async def update(self, agent_id: int, changes: Mapping[str, Any]) -> Agent:
        unknown = set(changes) - set(AGENT_FIELDS)
        if unknown:
            raise InvalidField(sorted(unknown)[0], "cannot be changed")
        async with in_transaction():
            agent = await self.get(agent_id)
            if "extension" in changes:
                await self._check_extension(changes["extension"], agent.id)
            await self._keep_an_admin(agent, changes)
            for name, value in changes.items():
                setattr(agent, name, value)
            agent.updated_at = self.clock()
            try:
                await agent.save()
            except IntegrityError:
                raise Conflict("another agent already has that extension") from None
        self._forget(agent_id=agent.id)
        return agent

    async def set_password(self, agent_id: int, password_hash: str | None) -> Agent:
        """Store the agent's console password hash (None: no console login); ends their sessions."""
        agent = await self.get(agent_id)
        agent.password_hash, agent.updated_at = password_hash, self.clock()
        await agent.save(update_fields=["password_hash", "updated_at"])
        self._forget(agent_id=agent.id)
        return agent

    async def set_preferences(self, agent_id: int, changes: Mapping[str, str | None]) -> Agent:
        """Store the agent's console language and time zone (a None value: follow the defaults again)."""
        for name, value in changes.items():
            check = PREFERENCES.get(name)
            if check is None:
                raise InvalidField(name, "is not a preference")
            problem = None if value is None else check(value)
            if problem:
                raise InvalidField(name, problem)
        agent = await self.get(agent_id)
        if not changes:
            return agent
        for name, value in changes.items():
            setattr(agent, name, value)
        agent.updated_at = self.clock()
        await agent.save(update_fields=[*changes, "updated_at"])
        self._forget(agent_id=agent.id)
        return agent

    async def issue_token(self, agent_id: int, name: str = "default") -> tuple[ApiToken, str]:
        """A new token for the agent; the secret is returned here and never again."""
        agent = await self.get(agent_id)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = await ApiToken.create(
            agent=agent,
            name=name,
            token_hash=hash_token(secret),
            hint=secret[: len(TOKEN_PREFIX) + 4],
            created_at=self.clock(),
        )
        return token, secret

    async def tokens(self, agent_id: int) -> list[ApiToken]:
        await self.get(agent_id)
        return await ApiToken.filter(agent_id=agent_id).order_by("id")

    async def revoke_token(self, agent_id: int, token_id: int) -> ApiToken:
        token = await ApiToken.get_or_none(id=token_id, agent_id=agent_id) if 0 < token_id < 2**31 else None
        if token is None:
            raise NotFound(f"agent {agent_id} has no token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = self.clock()
            await token.save(update_fields=["revoked_at"])
        self._forget(token_id=token.id)
        return token

    async def authenticate(self, secret: str) -> Agent | None:
        """The active agent owning this unrevoked token, or ``None``.

        A successful lookup is remembered for :data:`AUTH_CACHE_SECONDS` (every API request authenticates, and
        the lookup was the most expensive query of a ticket creation). Revoking a token or changing an agent
        through this service forgets it at once; another helpline instance notices within that time.
        """
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
            return None
        key = hash_token(secret)
        cached = self._recent.get(key)
        if cached is not None and cached[2] > time.monotonic():
            return cached[0]
        # one query (a join), not two
        token = await ApiToken.filter(token_hash=key, revoked_at__isnull=True).select_related("agent").first()
        if token is None or not token.agent.active:
            self._recent.pop(key, None)
            return None
        now = self.clock()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            await ApiToken.filter(id=token.id).update(last_used_at=now)
        if len(self._recent) >= AUTH_CACHE_SIZE:
            self._recent.clear()
        self._recent[key] = (token.agent, token.id, time.monotonic() + AUTH_CACHE_SECONDS)
        return token.agent

    def _forget(self, *, agent_id: int | None = None, token_id: int | None = None) -> None:
        for key, (agent, cached_token_id, _) in list(self._recent.items()):
            if agent.id == agent_id or cached_token_id == token_id:
                del self._recent[key]

    @staticmethod
    async def _keep_an_admin(agent: Agent, changes: Mapping[str, Any]) -> None:
        """Refuse to demote or deactivate the last active admin: nobody could manage agents any more."""
        stays_admin = changes.get("role", agent.role) == Role.ADMIN and changes.get("active", agent.active)
        if agent.role == Role.ADMIN and agent.active and not stays_admin:
            if not await Agent.filter(role=Role.ADMIN, active=True).exclude(id=agent.id).exists():
                raise Conflict(f"{agent.login} is the last active admin; make another agent admin first")

    @staticmethod
    async def _check_extension(extension: str | None, agent_id: int | None) -> None:
        if extension is None:
            return
        holder = await Agent.get_or_none(extension=extension)
        if holder is not None and holder.id != agent_id:
            raise Conflict(f"extension {extension} already belongs to agent {holder.login}")
