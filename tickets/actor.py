"""Who does something: an agent, or a part of the system (the PBX listener, the SLA engine)."""

from __future__ import annotations

from dataclasses import dataclass

from tickets.models import Agent, Role


@dataclass(frozen=True)
class Actor:
    """The author of a change, as recorded in the activity log."""

    label: str
    role: Role
    agent_id: int | None = None

    @classmethod
    def of(cls, agent: Agent) -> Actor:
        return cls(label=agent.login, role=agent.role, agent_id=agent.id)

    @classmethod
    def system(cls, name: str) -> Actor:
        """A non-human actor such as ``pbx:main``; it may do anything an admin may."""
        return cls(label=name, role=Role.ADMIN)

    @property
    def is_agent(self) -> bool:
        return self.agent_id is not None

    def at_least(self, role: Role) -> bool:
        return self.role.rank >= role.rank
