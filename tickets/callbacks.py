"""Calls owed: whether a ticket's caller is waiting to be called back (the "callbacks" work list).

The same rule as the SLA callback clock (tickets/sla/clocks.py), kept on the ticket whatever the SLA policies say:
a call nobody answered, from a number that can be called back (the intake's history line begins with
``Missed call``), makes a call back owed from then on; the next agent action on the ticket (a comment, a status
change) or an answered call settles it; so does the ticket being resolved or closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tickets.models import Activity, ActivityKind, Ticket, TicketStatus
from tickets.sla.clocks import MISSED_CALL
from tickets.workflow import DONE


def owed_since(ticket: Ticket, entries: Iterable[Activity], now: datetime) -> datetime | None:
    """Since when a call back is owed on ``ticket`` after the change ``entries`` describe (None: none is)."""
    if TicketStatus(ticket.status) in DONE:
        return None
    since = ticket.callback_since
    for entry in entries:
        if entry.kind == ActivityKind.CALL:
            if entry.new_value == "answered":
                since = None
            elif (entry.body or "").startswith(MISSED_CALL):
                since = since or now
        elif entry.actor_id is not None and entry.kind in (ActivityKind.COMMENT, ActivityKind.STATUS_CHANGED):
            since = None
    return since
