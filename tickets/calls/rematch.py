"""After a good directory sync: give a requester to phone tickets opened while the caller could not be identified.

A call that came in while the directory had never been synced (or from a number added to AD since the last sync)
opened a ticket without a requester. Once a sync completes, tickets opened since the previous good sync that still
have no requester, are still open, and whose caller number now matches exactly one person get that person, through
the ticket service (so the change is in the ticket's history, by ``directory``). Ambiguous numbers stay for the
agent to pick.
"""

from __future__ import annotations

import logging
from datetime import datetime

from directory import CallerNumber
from tickets.actor import Actor
from tickets.calls.callers import CallerLookup, MatchStatus
from tickets.errors import DomainError
from tickets.models import Channel, Ticket, TicketStatus
from tickets.ticket_service import TicketService

log = logging.getLogger(__name__)
ACTOR = Actor.system("directory")
OPEN = [TicketStatus.NEW.value, TicketStatus.OPEN.value, TicketStatus.PENDING.value]
LIMIT = 1000


async def rematch_requesters(lookup: CallerLookup, tickets: TicketService, since: datetime | None) -> int:
    """Set the requester of unmatched phone tickets created after ``since`` (all, if None); returns how many."""
    query = Ticket.filter(
        channel=Channel.PHONE, requester_id__isnull=True, caller_number__isnull=False, status__in=OPEN
    )
    if since is not None:
        query = query.filter(created_at__gte=since)
    matched = 0
    rows = await query.order_by("id").limit(LIMIT).values_list("id", "caller_number", "version")
    for ticket_id, caller_number, version in rows:
        match = await lookup.lookup(CallerNumber.parse(caller_number or ""))
        if match.status is not MatchStatus.UNIQUE or match.person_id is None:
            continue
        try:
            await tickets.update(ACTOR, ticket_id, {"requester_id": match.person_id}, if_version=version)
        except DomainError as exc:  # closed or changed meanwhile (an agent picked someone): leave it
            log.info("directory: ticket %s not re-matched: %s", ticket_id, exc)
            continue
        matched += 1
    if matched:
        log.info("directory: %d phone tickets got their requester after the sync", matched)
    return matched
