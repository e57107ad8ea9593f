"""SLA over HTTP: a ticket's clocks and timeline, the clocks at risk, the met/breached report (JSON or CSV), and the
configured policies and calendars."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, timedelta, timezone

from starlette.responses import Response

from tickets.models import Agent, Role, SlaClock, SlaEvent, SlaState, Ticket, TicketStatus
from tickets.sla.clocks import SlaEngine
from tickets.sla.policy import Metric
from web.api import Api, Call
from web.http.problems import ApiError
from web.schemas.common import (SlaAtRisk, SlaAtRiskItem, SlaAtRiskQuery, SlaCalendarList, SlaCalendarOut, SlaClockOut,
                         SlaEventOut, SlaMatchOut, SlaPolicyList, SlaPolicyOut, SlaReport, SlaReportQuery, SlaReportRow,
                         SlaTimeline)

api = Api()
REPORT_START = datetime(1970, 1, 1, tzinfo=timezone.utc)
REPORT_END = datetime(9000, 1, 1, tzinfo=timezone.utc)


def clock_out(row: SlaClock, engine: SlaEngine, now: datetime) -> SlaClockOut:
    """A clock as the API shows it, measured at ``now``."""
    elapsed = engine.elapsed(row, now).total_seconds()
    target = row.target_seconds
    return SlaClockOut(
        metric=row.metric, policy=row.policy, calendar=row.calendar, state=SlaState(row.state).value,
        paused=row.paused, target_seconds=target, elapsed_seconds=int(elapsed), remaining_seconds=int(target - elapsed),
        percent_used=round(100 * elapsed / target, 1) if target else 100.0, started_at=row.started_at,
        due_at=row.due_at, breached_at=row.breached_at, stopped_at=row.stopped_at,
        warned=sorted(engine.warned(row)),
    )


async def ticket_clocks(call: Call, ticket_id: int) -> list[SlaClockOut]:
    engine = call.services.sla or SlaEngine()
    rows = await SlaClock.filter(ticket_id=ticket_id).order_by("id")
    now = call.services.tickets.clock()
    return [clock_out(row, engine, now) for row in rows]


@api.get("/tickets/{ref}/sla", summary="The SLA clocks of a ticket and their timeline", role=Role.AGENT,
         response=SlaTimeline, errors=(404,), tag="sla")
async def ticket_sla(call: Call) -> SlaTimeline:
    ticket = await call.services.tickets.get(call.path("ref"))
    events = await SlaEvent.filter(ticket_id=ticket.id).order_by("id").limit(1000)
    return SlaTimeline(
        clocks=await ticket_clocks(call, ticket.id),
        events=[SlaEventOut(id=e.id, metric=e.metric, kind=e.kind, threshold=e.threshold, detail=e.detail, at=e.at)
                for e in events],
    )


@api.get("/sla/at-risk", summary="Running SLA clocks, the soonest breach first", role=Role.AGENT,
         query=SlaAtRiskQuery, response=SlaAtRisk, tag="sla")
async def sla_at_risk(call: Call) -> SlaAtRisk:
    q: SlaAtRiskQuery = call.query
    rows = SlaClock.filter(paused=False, stopped_at__isnull=True)  # index sla_clock_open_due_idx
    if q.metric:
        rows = rows.filter(metric__in=q.metric)
    clocks = await rows.order_by("due_at", "id").limit(q.limit)
    tickets = {t.id: t for t in await Ticket.filter(id__in={c.ticket_id for c in clocks})} if clocks else {}
    assignees = {t.assignee_id for t in tickets.values() if t.assignee_id is not None}
    logins = dict(await Agent.filter(id__in=assignees).values_list("id", "login")) if assignees else {}
    engine = call.services.sla or SlaEngine()
    now = call.services.tickets.clock()
    items = []
    for c in clocks:
        t = tickets[c.ticket_id]
        items.append(SlaAtRiskItem(ticket_id=t.id, number=t.number, title=t.title, priority=t.priority,
                                   status=TicketStatus(t.status), assignee=logins.get(t.assignee_id),
                                   clock=clock_out(c, engine, now)))
    return SlaAtRisk(items=items)


@api.get("/reports/sla", summary="SLA targets met and breached per policy, metric, group or agent",
         role=Role.AGENT, query=SlaReportQuery, response=SlaReport, errors=(400,), tag="sla",
         alt_media={"text/csv": "with format=csv: key,met,breached,met_percent, one row per key, then the total"})
async def sla_report(call: Call) -> SlaReport | Response:
    q: SlaReportQuery = call.query
    until = q.until or call.services.tickets.clock()
    try:
        since = q.since or until - timedelta(days=30)
    except OverflowError:  # until in January of year 1
        since = until
    if since.tzinfo is None or until.tzinfo is None:
        raise ApiError(400, "invalid-query", "since and until need a time zone, e.g. 2026-11-01T00:00:00Z",
                       field_errors=[{"field": "since" if since.tzinfo is None else "until", "detail": "no time zone"}])
    if since >= until:
        raise ApiError(400, "invalid-query", "since must be before until",
                       field_errors=[{"field": "since", "detail": "not before until"}])
    since, until = max(since, REPORT_START), min(until, REPORT_END)  # what both databases store
    met_rows = SlaClock.filter(state=SlaState.MET, stopped_at__gte=since, stopped_at__lt=until)
    breached_rows = SlaClock.filter(breached_at__gte=since, breached_at__lt=until)
    if q.metric:
        met_rows, breached_rows = met_rows.filter(metric__in=q.metric), breached_rows.filter(metric__in=q.metric)
    outcomes = [(c, "met") for c in await met_rows] + [(c, "breached") for c in await breached_rows]
    keys = await _report_keys(q.by, [c for c, _ in outcomes])
    met: Counter[str | None] = Counter()
    breached: Counter[str | None] = Counter()
    for clock, outcome in outcomes:
        (met if outcome == "met" else breached)[keys[clock.id]] += 1
    rows = [_report_row(k, met[k], breached[k]) for k in sorted(set(met) | set(breached), key=lambda k: (k is None, k))]
    report = SlaReport(since=since, until=until, by=q.by, rows=rows,
                       total=_report_row(None, sum(met.values()), sum(breached.values())))
    return _csv(report) if q.format == "csv" else report


def _csv(report: SlaReport) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.by, "met", "breached", "met_percent"])
    for row in report.rows:
        writer.writerow([_cell(row.key), row.met, row.breached, "" if row.met_percent is None else row.met_percent])
    t = report.total
    writer.writerow(["total", t.met, t.breached, "" if t.met_percent is None else t.met_percent])
    name = f"sla-{report.by}-{report.since.date().isoformat()}-{report.until.date().isoformat()}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _cell(value: str | None) -> str:
    """A key as a spreadsheet cell: never read as a formula (CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def _report_keys(by: str, clocks: list[SlaClock]) -> dict[int, str | None]:
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


def _report_row(key: str | None, met: int, breached: int) -> SlaReportRow:
    total = met + breached
    return SlaReportRow(key=key, met=met, breached=breached,
                        met_percent=round(100 * met / total, 1) if total else None)


@api.get("/sla/policies", summary="The SLA policies, in the order they are tried", role=Role.AGENT,
         response=SlaPolicyList, tag="sla")
async def sla_policies(call: Call) -> SlaPolicyList:
    engine: SlaEngine = call.services.sla or SlaEngine()
    items = []
    for p in engine.book.policies:
        seconds = {m: int(t.total_seconds()) for m, t in p.targets.items()}
        items.append(SlaPolicyOut(
            name=p.name, match=SlaMatchOut(**p.conditions.describe()), calendar=p.calendar.name,
            first_response_seconds=seconds.get(Metric.FIRST_RESPONSE),
            resolution_seconds=seconds.get(Metric.RESOLUTION),
            callback_seconds=seconds.get(Metric.CALLBACK), warn_at=list(p.warn_at),
            pause_statuses=sorted(p.pause_statuses)))
    return SlaPolicyList(items=items)


@api.get("/sla/calendars", summary="The business calendars (24x7 is built in)", role=Role.AGENT,
         response=SlaCalendarList, tag="sla")
async def sla_calendars(call: Call) -> SlaCalendarList:
    engine: SlaEngine = call.services.sla or SlaEngine()
    return SlaCalendarList(items=[SlaCalendarOut(**cal.describe()) for cal in engine.book.calendars.values()])
