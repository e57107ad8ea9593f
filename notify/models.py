"""Storage of alerting (tortoise-orm, app label ``notify``): alerts, their deliveries (the outbox), overrides.

(Model docstrings become SQL table comments: no apostrophes or semicolons in them.)
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, TypeAlias, cast

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from tickets.models import Ticket

#: tortoise 1.1 types every TextField as ``str``; a nullable one holds None too (the cast changes nothing at run time)
_NullableText: TypeAlias = "fields.Field[str | None]"


class AlertState(str, Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(str, Enum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Alert(Model):
    """An alert about a ticket for one reason (an SLA warning or breach of a metric), escalated by a policy.

    Unique per ticket and reason: a replayed event opens nothing new.
    """

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name=False, on_delete=fields.CASCADE
    )
    ticket_id: int
    reason = fields.CharField(max_length=64)  # event, metric and due moment: sla.breached:resolution:2026-03-02T10:15
    event = fields.CharField(max_length=32)  # the domain event type that opened it
    metric = fields.CharField(max_length=24, null=True)
    policy = fields.CharField(max_length=64)
    state = fields.CharEnumField(AlertState, max_length=16, default=AlertState.OPEN)
    summary = fields.CharField(max_length=300)  # the line the messages are built from
    due_at = fields.DatetimeField(null=True)  # the SLA due moment the event was about
    opened_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by = fields.CharField(max_length=128, null=True)  # person name, agent login or slack user
    ack_channel = fields.CharField(max_length=16, null=True)  # sms, slack or api
    acknowledged_via = fields.CharField(max_length=128, null=True)  # the Slack user who clicked (id and name)
    ack_expires_at = fields.DatetimeField(null=True)  # with an ack timeout: the escalation starts again then
    cycle = fields.IntField(default=0)  # escalations started again after an expired ack
    resolved_at = fields.DatetimeField(null=True)
    # the latest permanent delivery failure, shown on the alert
    last_error = cast(_NullableText, fields.TextField(null=True))
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notify_alert"
        unique_together = (("ticket_id", "reason"),)
        indexes = [
            Index(fields=("state", "id"), name="notify_alert_state_idx"),
            Index(fields=("ack_expires_at",), name="notify_alert_ack_expires_idx"),
        ]


class Delivery(Model):
    """One message of an alert: step, round, channel and target. The outbox row the dispatcher sends.

    Unique on alert, step, round, channel and target: a crash or a replay cannot add a second one.
    """

    id = fields.IntField(primary_key=True)
    alert: fields.ForeignKeyRelation[Alert] = fields.ForeignKeyField(
        "notify.Alert", related_name="deliveries", on_delete=fields.CASCADE
    )
    alert_id: int
    step = fields.IntField()  # index of the policy step, -1 for a Slack message update after an ack
    round = fields.IntField(default=0)  # repeat round, 0 first
    channel = fields.CharField(max_length=16)  # sms, slack, slack_update
    target = fields.CharField(max_length=128)  # E.164 number, Slack channel or user id
    person = fields.CharField(max_length=64, null=True)  # the on-call person it is for
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.QUEUED)
    due_at = fields.DatetimeField()  # when its step fires
    next_attempt_at = fields.DatetimeField()  # when the dispatcher takes it next
    attempts = fields.IntField(default=0)
    lease_until = fields.DatetimeField(null=True)  # while sending: a claim older than this was lost in a crash
    provider_id = fields.CharField(max_length=64, null=True)  # Twilio message SID or Slack message ts
    provider_channel = fields.CharField(max_length=64, null=True)  # the Slack channel id the message went to
    provider_status = fields.CharField(max_length=16, null=True)  # from Twilio status callbacks
    # the SMS text, fixed at the first attempt (a crash recovery looks for it)
    text = cast(_NullableText, fields.TextField(null=True))
    error_code = fields.CharField(max_length=64, null=True)
    last_error = cast(_NullableText, fields.TextField(null=True))
    sent_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notify_delivery"
        unique_together = (("alert_id", "step", "round", "channel", "target"),)
        indexes = [
            Index(fields=("status", "next_attempt_at"), name="notify_delivery_due_idx"),
            Index(fields=("provider_id",), name="notify_delivery_provider_idx"),
        ]


class OnCallOverride(Model):
    """Somebody on call for a schedule from start to end instead of the rotation, set through the API."""

    id = fields.IntField(primary_key=True)
    schedule = fields.CharField(max_length=64)
    person = fields.CharField(max_length=64)
    start = fields.DatetimeField()
    end = fields.DatetimeField()
    reason = fields.CharField(max_length=200, default="")
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notify_override"
        indexes = [Index(fields=("schedule", "end"), name="notify_override_schedule_idx")]
