"""Work lists ("views") of the agent desk, their counts, and every agent's load.

A view is a named :class:`TicketFilter` for the agent looking, with its natural order:

* ``unassigned``: open (new, open, pending) and nobody has it;
* ``mine``: open and assigned to the agent looking;
* ``team``: every open ticket;
* ``callbacks``: open, and a caller waits to be called back (tickets/callbacks.py), the one waiting longest first;
* ``waiting``: waiting on the requester (the workflow's ``pending``);
* ``at_risk``: open, with an SLA target breached or past a warning (tickets/sla/report.py ``risky_clocks``);
* ``resolved``: resolved or closed in the last :data:`RECENT`.

Every view but ``callbacks`` shows the most recently updated tickets first. Each count is one indexed query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count

from tickets.listing import SORTS, Sort, TicketFilter, count_tickets, matching
from tickets.models import Agent, TicketStatus

#: The statuses of a ticket still being worked on.
OPEN = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
#: How far back "recently resolved" goes.
RECENT = timedelta(days=7)
#: The callbacks view's order: the call back owed longest first.
OLDEST_CALLBACK = Sort("callback", "callback_since", False)
#: The views, in the order the desk shows them.
VIEW_IDS = ("unassigned", "mine", "team", "callbacks", "waiting", "at_risk", "resolved")


@dataclass(frozen=True)
class View:
    """A work list as seen by one agent at one moment."""

    id: str
    where: TicketFilter
    sort: Sort


def view(view_id: str, agent_id: int | None, now: datetime) -> View:
    """The view ``view_id`` for the agent ``agent_id`` at ``now`` (``KeyError`` for an unknown id)."""
    updated = SORTS["-updated"]
    where = {
        "unassigned": TicketFilter(statuses=OPEN, unassigned=True),
        # no agent (a system caller) has no tickets: id 0 is nobody's
        "mine": TicketFilter(statuses=OPEN, assignee_ids=(agent_id or 0,)),
        "team": TicketFilter(statuses=OPEN),
        "callbacks": TicketFilter(callback_owed=True),
        "waiting": TicketFilter(statuses=(TicketStatus.PENDING,)),
        "at_risk": TicketFilter(statuses=OPEN, at_risk=True),
        "resolved": TicketFilter(done_since=now - RECENT),
    }[view_id]
    return View(view_id, where, OLDEST_CALLBACK if view_id == "callbacks" else updated)


async def view_counts(agent_id: int | None, now: datetime) -> list[tuple[str, int]]:
    """Every view's id and how many tickets it holds, in :data:`VIEW_IDS` order."""
    return [(view_id, await count_tickets(view(view_id, agent_id, now).where)) for view_id in VIEW_IDS]


@dataclass(frozen=True)
class AgentLoad:
    """An agent's share of the open tickets."""

    login: str
    name: str
    open: int
    at_risk: int


@dataclass(frozen=True)
class TeamLoad:
    agents: list[AgentLoad]
    unassigned: int


async def team_load() -> TeamLoad:
    """Every active agent's open tickets and how many of them are at risk (most loaded first; a deactivated agent
    only while they still hold some), and how many open tickets nobody has. Grouped queries, whatever the number
    of tickets."""
    open_ = await _per_assignee(matching(TicketFilter(statuses=OPEN)))
    risky = await _per_assignee(matching(TicketFilter(statuses=OPEN, at_risk=True)))
    agents = await Agent.filter(Q(active=True) | Q(id__in=list(open_))).order_by("login")
    rows = [AgentLoad(a.login, a.display_name, open_.get(a.id, 0), risky.get(a.id, 0)) for a in agents]
    rows.sort(key=lambda r: (-r.open, -r.at_risk, r.login))
    return TeamLoad(rows, await count_tickets(TicketFilter(statuses=OPEN, unassigned=True)))


async def _per_assignee(query: Any) -> dict[int, int]:
    rows = await (
        query.filter(assignee_id__isnull=False)
        .annotate(n=Count("id"))
        .group_by("assignee_id")
        .values_list("assignee_id", "n")
    )
    return {int(agent_id): int(n) for agent_id, n in rows}
