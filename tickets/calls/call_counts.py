"""How the calls of a PBX went in a period, by queue: what the queue board's day counters are made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tortoise.functions import Count

from tickets.models import Call, CallOutcome

#: A call lasts hours at most: calls that started this long before the period cannot end in it.
LONGEST_CALL = timedelta(days=1)


class QueueCounts(NamedTuple):
    """The calls of one queue in a period (a tuple in the order the queue board reads)."""

    answered: int = 0  #: answered in the period (however they ended: an answer cut off later was still one)
    abandoned: int = 0  #: ended in the period: the caller hung up while waiting
    timed_out: int = 0  #: ended in the period: the queue gave up
    answered_in_time: int = 0  #: of ``answered``, those that waited at most the service-level time


async def queue_counts(pbx: str, since: datetime, until: datetime, in_time: int = 20) -> dict[str, QueueCounts]:
    """Queue -> how the calls of ``pbx`` went in [``since``, ``until``) (aware datetimes); ``in_time``: the longest
    wait (seconds) of a call answered in time. Calls in no queue, and calls that ended otherwise (hung up before the
    queue, interrupted), count nowhere."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    calls = Call.filter(pbx=pbx, queue__isnull=False, started_at__gte=since - LONGEST_CALL, started_at__lt=until)
    answered = await (
        calls.filter(answered_at__gte=since, answered_at__lt=until)
        .annotate(n=Count("id"))
        .group_by("queue")
        .values_list("queue", "n")
    )
    fast = await (
        calls.filter(answered_at__gte=since, answered_at__lt=until, wait_seconds__lte=in_time)
        .annotate(n=Count("id"))
        .group_by("queue")
        .values_list("queue", "n")
    )
    ended = await (
        calls.filter(outcome__in=[CallOutcome.ABANDONED, CallOutcome.TIMEOUT], ended_at__gte=since, ended_at__lt=until)
        .annotate(n=Count("id"))
        .group_by("queue", "outcome")
        .values_list("queue", "outcome", "n")
    )
    out: dict[str, QueueCounts] = {}
    for queue, n in answered:
        out[queue] = out.get(queue, QueueCounts())._replace(answered=int(n))
    for queue, n in fast:
        out[queue] = out.get(queue, QueueCounts())._replace(answered_in_time=int(n))
    for queue, outcome, n in ended:
        field = "abandoned" if CallOutcome(outcome) is CallOutcome.ABANDONED else "timed_out"
        out[queue] = out.get(queue, QueueCounts())._replace(**{field: int(n)})
    return out
