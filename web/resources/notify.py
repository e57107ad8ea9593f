"""/api/v1/oncall (who is on call, overrides) and /api/v1/alerts (alerts, their deliveries, acks by API)."""

from __future__ import annotations

from datetime import timedelta

from notify.models import Alert, AlertState, Delivery, OnCallOverride
from notify.oncall import OnCall
from tickets.models import Role
from web.api import Api, Call, Reply
from web.http.problems import ApiError
from web.runtime.notify import NotifyRuntime
from web.schemas.notify import (
    AlertList,
    AlertOut,
    AlertQuery,
    DeliveryOut,
    OnCallOut,
    OnCallQuery,
    OverrideIn,
    OverrideList,
    OverrideOut,
    ScheduleOnCall,
    ShiftOut,
)

api = Api()


def _alerting(call: Call) -> NotifyRuntime | None:
    return call.runtime.alerting


@api.get(
    "/oncall",
    summary="Who is on call now and the shifts of the coming days, per schedule",
    role=Role.AGENT,
    query=OnCallQuery,
    response=OnCallOut,
    tag="alerting",
)
async def oncall(call: Call) -> OnCallOut:
    q: OnCallQuery = call.query
    now = call.runtime.tickets.clock()
    until = now + timedelta(days=q.days)
    alerting = _alerting(call)
    schedules = await alerting.alerts.oncall.schedules(now, until) if alerting is not None else []
    return OnCallOut(
        at=now,
        until=until,
        schedules=[
            ScheduleOnCall(
                name=s.name,
                timezone=s.timezone,
                now=s.now,
                shifts=[ShiftOut(start=f.start, end=f.end, person=f.person, override=f.override) for f in s.shifts],
            )
            for s in schedules
        ],
    )


def _override_out(row: OnCallOverride) -> OverrideOut:
    return OverrideOut(
        id=row.id,
        schedule=row.schedule,
        person=row.person,
        start=row.start,
        end=row.end,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@api.get(
    "/oncall/overrides",
    summary="On-call overrides that have not ended",
    role=Role.AGENT,
    response=OverrideList,
    tag="alerting",
)
async def list_overrides(call: Call) -> OverrideList:
    rows = await OnCall.current_overrides(call.runtime.tickets.clock())
    return OverrideList(items=[_override_out(r) for r in rows])


@api.post(
    "/oncall/overrides",
    summary="Put somebody on call for a while (a holiday, a swap)",
    role=Role.SUPERVISOR,
    body=OverrideIn,
    response=OverrideOut,
    status=201,
    tag="alerting",
)
async def create_override(call: Call) -> Reply:
    b: OverrideIn = call.body
    alerting = _alerting(call)
    if alerting is None:
        raise ApiError(
            422,
            "invalid-field",
            "schedule: no on-call schedules are configured ([[notify.schedules]])",
            field_errors=[{"field": "schedule", "detail": "unknown schedule"}],
        )
    row = await alerting.alerts.oncall.add_override(
        schedule=b.schedule,
        person=b.person,
        start=b.start,
        end=b.end,
        reason=b.reason,
        by=call.actor.label,
        now=call.runtime.tickets.clock(),
    )
    return Reply(_override_out(row), status=201)


@api.delete(
    "/oncall/overrides/{override_id}",
    summary="Remove an override",
    role=Role.SUPERVISOR,
    response=OverrideOut,
    tag="alerting",
)
async def delete_override(call: Call) -> OverrideOut:
    return _override_out(await OnCall.remove_override(call.id_param("override_id", "override")))


async def _alert_out(alert: Alert) -> AlertOut:
    rows = await Delivery.filter(alert_id=alert.id).order_by("round", "step", "id")
    deliveries = [
        DeliveryOut(
            id=d.id,
            step=d.step,
            round=d.round,
            channel=d.channel,
            target=d.target,
            person=d.person,
            status=d.status.value if hasattr(d.status, "value") else d.status,
            due_at=d.due_at,
            attempts=d.attempts,
            provider_id=d.provider_id,
            provider_status=d.provider_status,
            error_code=d.error_code,
            last_error=d.last_error,
            sent_at=d.sent_at,
        )
        for d in rows
    ]
    return AlertOut(
        id=alert.id,
        ticket_id=alert.ticket_id,
        reason=alert.reason,
        policy=alert.policy,
        state=AlertState(alert.state).value,
        summary=alert.summary,
        opened_at=alert.opened_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_via=alert.acknowledged_via,
        ack_channel=alert.ack_channel,
        resolved_at=alert.resolved_at,
        last_error=alert.last_error,
        deliveries=deliveries,
    )


@api.get(
    "/alerts",
    summary="Alerts, newest first, with their deliveries and failures",
    role=Role.AGENT,
    query=AlertQuery,
    response=AlertList,
    tag="alerting",
)
async def list_alerts(call: Call) -> AlertList:
    q: AlertQuery = call.query
    query = Alert.all()
    if q.state:
        query = query.filter(state__in=q.state)
    alerts = await query.order_by("-id").limit(q.limit)
    return AlertList(items=[await _alert_out(a) for a in alerts])


@api.post(
    "/alerts/{alert_id}/ack",
    summary="Acknowledge an alert: its escalation stops",
    role=Role.AGENT,
    response=AlertOut,
    errors=(409,),
    tag="alerting",
)
async def ack_alert(call: Call) -> AlertOut:
    alert_id = call.id_param("alert_id", "alert")
    alert = await Alert.get_or_none(id=alert_id)
    if alert is None:
        raise ApiError(404, "not-found", f"alert {alert_id} does not exist")
    alerting = _alerting(call)
    if alert.state != AlertState.OPEN or alerting is None:
        raise ApiError(409, "conflict", f"alert {alert_id} is {AlertState(alert.state).value}, not open")
    await alerting.alerts.acknowledge([alert.id], call.actor.label, "api", actor=call.actor)
    return await _alert_out(await Alert.get(id=alert.id))
