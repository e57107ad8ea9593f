"""SLA figures: targets met and breached in a period, by policy, metric, group or agent; the clocks at risk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from tickets.models import Agent, SlaClock, SlaState, Ticket

#: The moments both databases can store: a report's period is clipped to them.
REPORT_START = datetime(1970, 1, 1, tzinfo=UTC)
REPORT_END = datetime(9000, 1, 1, tzinfo=UTC)
GROUPINGS = ("policy", "metric", "group", "agent")


@dataclass(frozen=True)
class ReportRow:
    """Targets of one key (a policy, metric, group or agent login; None: no group / no agent)."""

    key: str | None
    met: int
    breached: int

    @property
    def met_percent(self) -> float | None:
        total = self.met + self.breached
        return round(100 * self.met / total, 1) if total else None


@dataclass(frozen=True)
class SlaReport:
    since: datetime
    until: datetime
    by: str
    rows: list[ReportRow]
    total: ReportRow


async def sla_report(since: datetime, until: datetime, by: str, metrics: Sequence[str] = ()) -> SlaReport:
    """Targets met (stopped in time) and breached (missed) from ``since`` to ``until``, grouped ``by``: a target
    counts in the period its outcome happened in."""
    since, until = max(since, REPORT_START), min(until, REPORT_END)
    met_rows = SlaClock.filter(state=SlaState.MET, stopped_at__gte=since, stopped_at__lt=until)
    breached_rows = SlaClock.filter(breached_at__gte=since, breached_at__lt=until)
    if metrics:
        met_rows, breached_rows = (
            met_rows.filter(metric__in=list(metrics)),
            breached_rows.filter(metric__in=list(metrics)),
        )
    outcomes = [(c, "met") for c in await met_rows] + [(c, "breached") for c in await breached_rows]
    keys = await _keys(by, [c for c, _ in outcomes])
    met: Counter[str | None] = Counter()
    breached: Counter[str | None] = Counter()
    for clock, outcome in outcomes:
        (met if outcome == "met" else breached)[keys[clock.id]] += 1
    rows = [ReportRow(k, met[k], breached[k]) for k in sorted(set(met) | set(breached), key=lambda k: (k is None, k))]
    return SlaReport(since, until, by, rows, ReportRow(None, sum(met.values()), sum(breached.values())))


async def _keys(by: str, clocks: list[SlaClock]) -> dict[int, str | None]:
    if by in ("policy", "metric"):
        return {c.id: getattr(c, by) for c in clocks}
    ticket_ids = {c.ticket_id for c in clocks}
    column = "group" if by == "group" else "assignee_id"
    tickets = dict(await Ticket.filter(id__in=ticket_ids).values_list("id", column)) if ticket_ids else {}
    if by == "agent":
        agent_ids = {a for a in tickets.values() if a is not None}
        logins = dict(await Agent.filter(id__in=agent_ids).values_list("id", "login")) if agent_ids else {}
        tickets = {t: logins.get(a) for t, a in tickets.items()}
    return {c.id: tickets.get(c.ticket_id) for c in clocks}


@dataclass(frozen=True)
class AtRisk:
    """A running clock, with its ticket and the assignee's login."""

    clock: SlaClock
    ticket: Ticket
    assignee: str | None


async def at_risk(limit: int, metrics: Sequence[str] = ()) -> list[AtRisk]:
    """Running clocks (not paused, not stopped), the soonest due first."""
    rows = SlaClock.filter(paused=False, stopped_at__isnull=True)  # index sla_clock_open_due_idx
    if metrics:
        rows = rows.filter(metric__in=list(metrics))
    clocks = await rows.order_by("due_at", "id").limit(limit)
    tickets = {t.id: t for t in await Ticket.filter(id__in={c.ticket_id for c in clocks})} if clocks else {}
    assignees = {t.assignee_id for t in tickets.values() if t.assignee_id is not None}
    logins = dict(await Agent.filter(id__in=assignees).values_list("id", "login")) if assignees else {}
    return [AtRisk(c, tickets[c.ticket_id], logins.get(tickets[c.ticket_id].assignee_id)) for c in clocks]


def risky_clocks() -> QuerySet[SlaClock]:
    """The clocks that put their ticket at risk: not stopped, and breached, or running past a warning threshold
    (a warning was announced in the current cycle). A clock paused by a waiting status counts only once breached.
    (Index sla_clock_open_ticket_idx: the open clocks.)"""
    return SlaClock.filter(stopped_at__isnull=True).filter(
        Q(breached_at__isnull=False) | Q(paused=False, warned__not="")
    )
