"""SLA over HTTP: a ticket's clocks and timeline, the clocks at risk, the met/breached report (JSON or CSV), and the
configured policies and calendars."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from starlette.responses import Response

from tickets.models import Role, SlaClock, SlaEvent, SlaState, TicketStatus
from tickets.sla import report as figures
from tickets.sla.clocks import SlaEngine
from tickets.sla.policy import Metric
from web.api import Api, Call
from web.http.problems import ApiError
from web.schemas.sla import (
    SlaAtRisk,
    SlaAtRiskItem,
    SlaAtRiskQuery,
    SlaCalendarList,
    SlaCalendarOut,
    SlaClockOut,
    SlaEventOut,
    SlaMatchOut,
    SlaPolicyList,
    SlaPolicyOut,
    SlaReport,
    SlaReportQuery,
    SlaReportRow,
    SlaTimeline,
)

api = Api()


def clock_out(row: SlaClock, engine: SlaEngine, now: datetime) -> SlaClockOut:
    """A clock as the API shows it, measured at ``now``."""
    elapsed = engine.elapsed(row, now).total_seconds()
    target = row.target_seconds
    return SlaClockOut(
        metric=row.metric,
        policy=row.policy,
        calendar=row.calendar,
        state=SlaState(row.state).value,
        paused=row.paused,
        target_seconds=target,
        elapsed_seconds=int(elapsed),
        remaining_seconds=int(target - elapsed),
        percent_used=round(100 * elapsed / target, 1) if target else 100.0,
        started_at=row.started_at,
        due_at=row.due_at,
        breached_at=row.breached_at,
        stopped_at=row.stopped_at,
        warned=sorted(engine.warned(row)),
    )


async def ticket_clocks(call: Call, ticket_id: int) -> list[SlaClockOut]:
    engine = call.runtime.sla
    rows = await SlaClock.filter(ticket_id=ticket_id).order_by("id")
    now = call.runtime.tickets.clock()
    return [clock_out(row, engine, now) for row in rows]


@api.get(
    "/tickets/{ref}/sla",
    summary="The SLA clocks of a ticket and their timeline",
    role=Role.AGENT,
    response=SlaTimeline,
    errors=(404,),
    tag="sla",
)
async def ticket_sla(call: Call) -> SlaTimeline:
    ticket = await call.runtime.tickets.get(call.path("ref"))
    events = await SlaEvent.filter(ticket_id=ticket.id).order_by("id").limit(1000)
    return SlaTimeline(
        clocks=await ticket_clocks(call, ticket.id),
        events=[
            SlaEventOut(id=e.id, metric=e.metric, kind=e.kind, threshold=e.threshold, detail=e.detail, at=e.at)
            for e in events
        ],
    )


@api.get(
    "/sla/at-risk",
    summary="Running SLA clocks, the soonest breach first",
    role=Role.AGENT,
    query=SlaAtRiskQuery,
    response=SlaAtRisk,
    tag="sla",
)
async def sla_at_risk(call: Call) -> SlaAtRisk:
    q: SlaAtRiskQuery = call.query
    engine, now = call.runtime.sla, call.runtime.tickets.clock()
    return SlaAtRisk(
        items=[
            SlaAtRiskItem(
                ticket_id=r.ticket.id,
                number=r.ticket.number,
                title=r.ticket.title,
                priority=r.ticket.priority,
                status=TicketStatus(r.ticket.status),
                assignee=r.assignee,
                clock=clock_out(r.clock, engine, now),
            )
            for r in await figures.at_risk(q.limit, q.metric or ())
        ]
    )


@api.get(
    "/reports/sla",
    summary="SLA targets met and breached per policy, metric, group or agent",
    role=Role.AGENT,
    query=SlaReportQuery,
    response=SlaReport,
    errors=(400,),
    tag="sla",
    alt_media={"text/csv": "with format=csv: key,met,breached,met_percent, one row per key, then the total"},
)
async def sla_report(call: Call) -> SlaReport | Response:
    q: SlaReportQuery = call.query
    until = q.until or call.runtime.tickets.clock()
    try:
        since = q.since or until - timedelta(days=30)
    except OverflowError:  # until in January of year 1
        since = until
    if since.tzinfo is None or until.tzinfo is None:
        raise ApiError(
            400,
            "invalid-query",
            "since and until need a time zone, e.g. 2026-11-01T00:00:00Z",
            field_errors=[{"field": "since" if since.tzinfo is None else "until", "detail": "no time zone"}],
        )
    if since >= until:
        raise ApiError(
            400,
            "invalid-query",
            "since must be before until",
            field_errors=[{"field": "since", "detail": "not before until"}],
        )
    found = await figures.sla_report(since, until, q.by, q.metric or ())
    report = SlaReport(
        since=found.since,
        until=found.until,
        by=found.by,
        rows=[_report_row(r) for r in found.rows],
        total=_report_row(found.total),
    )
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
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _cell(value: str | None) -> str:
    """A key as a spreadsheet cell: never read as a formula (CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _report_row(row: figures.ReportRow) -> SlaReportRow:
    return SlaReportRow(key=row.key, met=row.met, breached=row.breached, met_percent=row.met_percent)


@api.get(
    "/sla/policies",
    summary="The SLA policies, in the order they are tried",
    role=Role.AGENT,
    response=SlaPolicyList,
    tag="sla",
)
async def sla_policies(call: Call) -> SlaPolicyList:
    engine: SlaEngine = call.runtime.sla
    items = []
    for p in engine.book.policies:
        seconds = {m: int(t.total_seconds()) for m, t in p.targets.items()}
        items.append(
            SlaPolicyOut(
                name=p.name,
                match=SlaMatchOut(**p.conditions.describe()),
                calendar=p.calendar.name,
                first_response_seconds=seconds.get(Metric.FIRST_RESPONSE),
                resolution_seconds=seconds.get(Metric.RESOLUTION),
                callback_seconds=seconds.get(Metric.CALLBACK),
                warn_at=list(p.warn_at),
                pause_statuses=sorted(p.pause_statuses),
            )
        )
    return SlaPolicyList(items=items)


@api.get(
    "/sla/calendars",
    summary="The business calendars (24x7 is built in)",
    role=Role.AGENT,
    response=SlaCalendarList,
    tag="sla",
)
async def sla_calendars(call: Call) -> SlaCalendarList:
    engine: SlaEngine = call.runtime.sla
    return SlaCalendarList(items=[SlaCalendarOut(**cal.describe()) for cal in engine.book.calendars.values()])
