"""Phone calls into tickets: each call fact from the PBX listener is one unit of work (or part of one: the
listener records a burst of facts in one transaction, see tickets.transaction).

* offered: the Call row (unique on pbx + Linkedid), and a new ticket, or the caller's open ticket when they called
  about it within the repeat window. The ticket is titled with the person the caller was identified as (else the
  name the phone sent, which the Call row keeps) and the number as normalised (its ``caller_number`` too);
* queued: a call offered by dialplan context entered a queue: the Call row (and the live events) carry it;
* ringing / answered: who rang and who answered (agents mapped by extension, else by name; an unknown agent is kept
  by name); the answering agent gets an unassigned ticket and a new ticket opens;
* ended: the outcome, wait and talk time; a call nobody answered asks for a call back ("Missed call - call back",
  which starts the SLA callback clock), unless there is no number to call back (withheld, anonymous, unknown):
  "Missed call", no callback clock.

The title follows the calls while no agent has changed it: "Call from ..." when a call is offered or answered,
"Missed call - call back: ..." (or "Missed call: ..." without a number) when one ends unanswered. Once an agent
edited the title (its history shows it), calls never rename the ticket again.

Every step is idempotent: a call's state only moves forward, so a fact applied twice (replays, reconnects, a
second instance) changes nothing the second time. The caller lookup runs before the transaction (it may ask a
directory server): :meth:`CallIntake.identify`, whose answer ``offered`` takes when it has been asked already.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from tortoise.exceptions import IntegrityError

from directory import NO_NUMBER, CallerNumber, NumberPolicy
from tickets.actor import Actor
from tickets.calls.callers import CallerLookup, CallerMatch, MatchStatus, PeopleByPhone
from tickets.events import (
    CallAnsweredEvent,
    CallEndedEvent,
    CallOfferedEvent,
    CallQueuedEvent,
    CallRingingEvent,
    no_publisher,
)
from tickets.models import Agent, Call, CallOutcome, CallState, Channel, Person, Ticket, TicketStatus
from tickets.sla.clocks import MISSED_CALL
from tickets.ticket_service import CallNote, TicketService
from tickets.transaction import in_unit_of_work, publish_after_commit, unit_of_work

log = logging.getLogger(__name__)

CALL_TITLE = "Call from "
MISSED_TITLE = "Missed call - call back: "
#: A missed call with no number to call back (withheld, anonymous, unknown).
UNREACHABLE_TITLE = "Missed call: "
#: The title prefixes calls give a ticket (the rest of the title is the caller).
TITLES = (CALL_TITLE, MISSED_TITLE, UNREACHABLE_TITLE)
_PHONE_TEXT = re.compile(r"\+?[0-9][0-9 ()./-]*")
#: Ticket statuses a repeat call may be linked to.
LINKABLE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
#: The call events the intake publishes (each a member of ``DomainEvent``).
_CallEventKind = type[CallOfferedEvent | CallQueuedEvent | CallRingingEvent | CallAnsweredEvent | CallEndedEvent]
OUTCOME_TEXT = {
    CallOutcome.ANSWERED: "answered",
    CallOutcome.ABANDONED: "the caller hung up while waiting",
    CallOutcome.TIMEOUT: "nobody answered before the queue timed out",
    CallOutcome.HUNG_UP_BEFORE_QUEUE: "the caller hung up before reaching the queue",
    CallOutcome.INTERRUPTED: "the call was cut off (the PBX restarted or the connection was lost)",
}

#: The states of a call that is not over.
OPEN_STATES = (CallState.OFFERED, CallState.RINGING, CallState.ANSWERED)


@dataclass(frozen=True)
class IntakeSettings:
    repeat_window: timedelta = timedelta(hours=24)
    #: How caller numbers are read ([directory] default_region, dialling prefixes, extensions).
    numbers: NumberPolicy = field(default_factory=NumberPolicy)


def clean(text: str | None, limit: int) -> str:
    """PBX text made storable: no NUL characters, no lone surrogates, at most ``limit`` characters."""
    if not text:
        return ""
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


class CallIntake:
    """Applies call facts to calls and tickets on behalf of the PBX ``pbx:<name>``."""

    def __init__(
        self, tickets: TicketService, lookup: CallerLookup | None = None, settings: IntakeSettings | None = None
    ) -> None:
        self.tickets = tickets
        self.lookup = lookup or PeopleByPhone()
        self.settings = settings or IntakeSettings()
        #: Calls from numbers written without +<country code> while no default region is set (they cannot be
        #: normalised: ``helpline check`` warns about them).
        self.national_without_region = 0

    # -- facts -------------------------------------------------------------------------------------------------

    @staticmethod
    async def open_calls(pbx: str) -> list[tuple[str, bool]]:
        """The calls of ``pbx`` not yet ended, as (Linkedid, answered): after a resync, those the PBX no longer
        has ended while nobody listened. Reads only the open calls (index on pbx + state), however many there are."""
        rows = await Call.filter(pbx=pbx, state__in=OPEN_STATES).values_list("linkedid", "state")
        return [(str(linkedid), state == CallState.ANSWERED) for linkedid, state in rows]

    async def identify(self, caller_number: str) -> CallerMatch:
        """Who the caller is (never raises: a failed lookup is ``unavailable``). Call it outside any transaction."""
        return await self._lookup(self.settings.numbers.parse(clean(caller_number, 64)))

    async def offered(
        self,
        *,
        pbx: str,
        linkedid: str,
        at: datetime,
        caller_number: str,
        caller_name: str,
        queue: str | None,
        match: CallerMatch | None = None,
    ) -> Call:
        """A call reached the IT line: record it and open (or link) its ticket. ``match``: :meth:`identify`'s
        answer for ``caller_number``, if already asked."""
        existing = await Call.get_or_none(pbx=pbx, linkedid=linkedid)
        if existing is not None:
            return existing
        caller_number = clean(caller_number, 64)
        number = self.settings.numbers.parse(caller_number)
        self._count_national(number)
        if match is None:
            match = await self._lookup(number)
        actor = Actor.system(f"pbx:{pbx}")
        tickets = self.tickets
        name = clean(caller_name, 200)
        try:
            async with unit_of_work():
                queue = clean(queue, 64) or None
                repeat_of = await self._repeat_ticket_id(number, match, at)
                person = await _person_name(match)
                who = _caller_text(person or name, number)
                if repeat_of is not None:
                    ticket = await tickets.record_call(
                        actor, repeat_of, CallNote("linked", f"{who} called again ({_queue_text(queue)})")
                    )
                else:
                    ticket = await tickets.create(
                        actor,
                        title=f"{CALL_TITLE}{who}"[:200],
                        channel=Channel.PHONE,
                        description=_description(who, name if person else "", queue, match, await _candidates(match)),
                        requester_id=match.person_id,
                        caller_number=callback_number(number),
                        call=CallNote("offered", f"{who} is calling ({_queue_text(queue)})"),
                    )
                # the unique (pbx, linkedid) makes a second instance's insert fail and roll all of this back
                call = await Call.create(
                    pbx=pbx,
                    linkedid=linkedid,
                    caller_number=caller_number,
                    caller_e164=number.e164,
                    caller_key=number.key,
                    caller_name=name,
                    queue=queue,
                    state=CallState.OFFERED,
                    started_at=at,
                    updated_at=at,
                    ticket_id=ticket.id,
                    opened_ticket=repeat_of is None,
                )
                await self._announce(CallOfferedEvent, call, ticket, candidates=tuple(match.candidates))
        except IntegrityError:
            if in_unit_of_work():
                raise  # the outer change is lost: its owner records the facts one by one
            recorded = await Call.get_or_none(pbx=pbx, linkedid=linkedid)
            if recorded is None:  # not a race with another instance: the database refused the call
                raise
            return recorded  # another instance recorded this call first
        return call

    async def queued(self, *, pbx: str, linkedid: str, at: datetime, queue: str) -> Call | None:
        """A call offered before any queue (by dialplan context) entered ``queue``: it is in that queue from now on
        (who sees its screen pop and its place on the queue board follow from it)."""
        async with unit_of_work():
            call = await self._call(pbx, linkedid)
            if call is None or call.queue is not None or call.state == CallState.ENDED:
                return call
            call.queue, call.updated_at = clean(queue, 64) or None, at
            await call.save(update_fields=["queue", "updated_at"])
            await self._announce(CallQueuedEvent, call)
        return call

    async def ringing(
        self, *, pbx: str, linkedid: str, at: datetime, agent_name: str, agent_extension: str | None
    ) -> Call | None:
        """An agent's phone rings for the call (the screen pop will hang on this)."""
        async with unit_of_work():
            call = await self._call(pbx, linkedid)
            if call is None or CallState(call.state).rank > CallState.RINGING.rank:
                return call
            agent = await self._agent(agent_name, agent_extension)
            call.state = CallState.RINGING
            call.agent_id, call.agent_name = (agent.id if agent else None), clean(agent_name, 200) or None
            call.agent_extension = clean(agent_extension, 32) or None
            call.updated_at = at
            await call.save(update_fields=["state", "agent_id", "agent_name", "agent_extension", "updated_at"])
            await self._announce(CallRingingEvent, call)
        return call

    async def answered(
        self, *, pbx: str, linkedid: str, at: datetime, agent_name: str, agent_extension: str | None, wait_seconds: int
    ) -> Call | None:
        """An agent answered: the call gets its agent, the ticket an owner, and a new ticket opens."""
        tickets = self.tickets
        async with unit_of_work():
            call = await self._call(pbx, linkedid)
            if call is None or CallState(call.state).rank >= CallState.ANSWERED.rank:
                return call
            agent = await self._agent(agent_name, agent_extension)
            call.state = CallState.ANSWERED
            call.agent_id, call.agent_name = (agent.id if agent else None), clean(agent_name, 200) or None
            call.agent_extension = clean(agent_extension, 32) or None
            call.wait_seconds, call.answered_at, call.updated_at = max(wait_seconds, 0), at, at
            await call.save(
                update_fields=[
                    "state",
                    "agent_id",
                    "agent_name",
                    "agent_extension",
                    "wait_seconds",
                    "answered_at",
                    "updated_at",
                ]
            )
            if call.ticket_id is not None:
                await self._ticket_answered(tickets, call.ticket_id, call, agent)
            await self._announce(CallAnsweredEvent, call)
        return call

    async def ended(
        self,
        *,
        pbx: str,
        linkedid: str,
        at: datetime,
        outcome: CallOutcome,
        wait_seconds: int | None,
        talk_seconds: int | None,
        ended_by: str | None = None,
        voicemail: bool = False,
        hangup_cause: str | None = None,
    ) -> Call | None:
        """The call is over: record how it ended; a missed call asks for a call back."""
        tickets = self.tickets
        async with unit_of_work():
            call = await self._call(pbx, linkedid)
            if call is None or call.state == CallState.ENDED:
                return call
            call.state, call.outcome, call.ended_at, call.updated_at = CallState.ENDED, outcome, at, at
            if wait_seconds is not None:
                call.wait_seconds = max(wait_seconds, 0)
            call.talk_seconds = max(talk_seconds, 0) if talk_seconds is not None else None
            call.ended_by = clean(ended_by, 16) or None
            call.voicemail, call.hangup_cause = voicemail, clean(hangup_cause, 64) or None
            await call.save(
                update_fields=[
                    "state",
                    "outcome",
                    "ended_at",
                    "updated_at",
                    "wait_seconds",
                    "talk_seconds",
                    "ended_by",
                    "voicemail",
                    "hangup_cause",
                ]
            )
            if call.ticket_id is not None:
                await self._ticket_ended(tickets, call.ticket_id, call)
            await self._announce(CallEndedEvent, call)
        return call

    # -- helpers -----------------------------------------------------------------------------------------------

    async def _announce(
        self, kind: _CallEventKind, call: Call, ticket: Ticket | None = None, candidates: tuple[int, ...] = ()
    ) -> None:
        """Publish what happened to ``call`` once the unit of work commits (the live console listens)."""
        publish = self.tickets.publish
        if publish is no_publisher:
            return
        number, requester_id = (ticket.number, ticket.requester_id) if ticket is not None else (None, None)
        if ticket is None and call.ticket_id is not None:
            row = await Ticket.filter(id=call.ticket_id).first().values("number", "requester_id")
            if row:
                number, requester_id = row["number"], row["requester_id"]
        outcome = call.outcome.value if isinstance(call.outcome, CallOutcome) else call.outcome
        await publish_after_commit(
            publish,
            kind(
                pbx=call.pbx,
                linkedid=call.linkedid,
                call_id=call.id,
                ticket_id=call.ticket_id,
                ticket_number=number,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                requester_id=requester_id,
                queue=call.queue,
                at=call.updated_at,
                agent_id=call.agent_id,
                agent_extension=call.agent_extension,
                agent_name=call.agent_name,
                opened_ticket=call.opened_ticket,
                outcome=outcome,
                wait_seconds=call.wait_seconds,
                candidates=candidates,
                callback_number=callback_number(self.settings.numbers.parse(call.caller_number)),
            ),
        )

    def _count_national(self, number: CallerNumber) -> None:
        if self.settings.numbers.region is None and number.national:
            self.national_without_region += 1
            if self.national_without_region == 1:
                log.warning(
                    "a call came from %s, a number without +<country code>, and [directory] default_region "
                    "is not set: such numbers are not normalised (repeat calls are not linked, callers not "
                    "identified). Set default_region to the PBX's country.",
                    number.raw,
                )

    async def _lookup(self, number: CallerNumber) -> CallerMatch:
        try:
            return await self.lookup.lookup(number)
        except Exception:  # a failing directory must not lose the call
            log.exception("caller lookup failed for %s", number.raw)
            return CallerMatch(MatchStatus.UNAVAILABLE)

    async def _repeat_ticket_id(self, number: CallerNumber, match: CallerMatch, at: datetime) -> int | None:
        """The open ticket of an earlier call from the same phone (or person) within the repeat window (its id)."""
        since = at - self.settings.repeat_window
        linkable = [s.value for s in LINKABLE]
        if number.key is not None:
            # the tickets of the latest calls from this phone (usually none: no join needed to learn that)
            recent = cast(
                list[int],
                await (  # flat: values, not tuples (tortoise's types)
                    Call.filter(caller_key=number.key, started_at__gte=since, ticket_id__isnull=False)
                    .order_by("-started_at")
                    .limit(20)
                    .values_list("ticket_id", flat=True)
                ),
            )
            if recent:
                open_ids = set(
                    cast(
                        list[int],
                        await Ticket.filter(id__in=set(recent), status__in=linkable).values_list("id", flat=True),
                    )
                )
                for ticket_id in recent:
                    if ticket_id in open_ids:
                        return int(ticket_id)
        if match.person_id is not None:
            latest = cast(
                int | None,
                await (  # flat: the value or None, not a tuple (tortoise's types)
                    Ticket.filter(
                        requester_id=match.person_id, channel=Channel.PHONE, status__in=linkable, updated_at__gte=since
                    )
                    .order_by("-updated_at")
                    .first()
                    .values_list("id", flat=True)
                ),
            )
            return None if latest is None else int(latest)
        return None

    @staticmethod
    async def _call(pbx: str, linkedid: str) -> Call | None:
        return await Call.select_for_update().get_or_none(pbx=pbx, linkedid=linkedid)

    @staticmethod
    async def _agent(name: str, extension: str | None) -> Agent | None:
        """The helpline agent behind a queue member: by extension, else by display name."""
        if extension:
            agent = await Agent.get_or_none(extension=extension)
            if agent is not None:
                return agent
        return await Agent.filter(display_name=name).order_by("id").first() if name else None

    async def _ticket_answered(self, tickets: TicketService, ticket_id: int, call: Call, agent: Agent | None) -> None:
        pbx_actor = Actor.system(f"pbx:{call.pbx}")
        who = agent.login if agent else (call.agent_name or "an unknown agent")
        # the answering agent takes the ticket if nobody has it and picks it up: that is its first response; the
        # caller got through, so a "missed call" title is one no more
        await tickets.record_call(
            pbx_actor,
            ticket_id,
            CallNote("answered", f"Answered by {who} after {_duration(call.wait_seconds)}"),
            assign_to=agent,
            open_as=Actor.of(agent) if agent else pbx_actor,
            retitle=(TITLES, CALL_TITLE),
        )

    async def _ticket_ended(self, tickets: TicketService, ticket_id: int, call: Call) -> None:
        outcome = CallOutcome(call.outcome)
        pbx_actor = Actor.system(f"pbx:{call.pbx}")
        missed = outcome.missed and call.answered_at is None  # a call cut off after the answer was not missed
        reachable = callback_number(self.settings.numbers.parse(call.caller_number)) is not None
        waited = f"after {_duration(call.wait_seconds)}" + ("; a voicemail was left" if call.voicemail else "")
        if not missed and outcome is CallOutcome.INTERRUPTED:
            summary = "The answered call was cut off (the PBX restarted or the connection was lost)" + (
                f" after {call.talk_seconds} s of talk" if call.talk_seconds is not None else ""
            )
        elif not missed:
            talk = f"after {call.talk_seconds} s of talk" if call.talk_seconds is not None else "(talk time unknown)"
            summary = f"Call ended {talk}" + (f", hung up by the {call.ended_by}" if call.ended_by else "")
        elif reachable:  # begins with MISSED_CALL: the SLA's callback clock starts
            summary = f"{MISSED_CALL}: {OUTCOME_TEXT[outcome]} {waited}. Call back."
        else:  # nobody to call back: no callback clock that could only breach
            summary = (
                f"Unanswered call: {OUTCOME_TEXT[outcome]} {waited}. No number to call back (withheld or unknown)."
            )
        missed_title = MISSED_TITLE if reachable else UNREACHABLE_TITLE
        await tickets.record_call(
            pbx_actor, ticket_id, CallNote(outcome.value, summary), retitle=(TITLES, missed_title) if missed else None
        )


def callback_number(number: CallerNumber) -> str | None:
    """The number to call the caller back on, as tickets show it: E.164, an extension, or a number no region could
    read as dialled; None when there is none (withheld, anonymous, unknown, not a phone number)."""
    if number.e164 or number.extension:
        return number.e164 or number.extension
    raw = number.raw
    return raw if raw.lower() not in NO_NUMBER and _PHONE_TEXT.fullmatch(raw) else None


def _duration(seconds: int | None) -> str:
    return "an unknown time" if seconds is None else f"{seconds} s"


async def _person_name(match: CallerMatch) -> str:
    """The name of the one person the caller was identified as ("" if not exactly one)."""
    if match.status is not MatchStatus.UNIQUE or match.person_id is None:
        return ""
    name = await Person.filter(id=match.person_id).first().values_list("name", flat=True)
    return str(name or "")


def _caller_text(name: str, number: CallerNumber) -> str:
    shown = callback_number(number)
    if shown is None:
        shown = (
            "an unknown number"
            if number.raw.lower() in ("", "<unknown>", "unknown")
            else ("a withheld number" if number.raw.lower() in NO_NUMBER else number.raw)
        )
    return f"{name} ({shown})" if name and name.lower() not in ("anonymous", "unknown") else shown


def _queue_text(queue: str | None) -> str:
    return f"queue {queue}" if queue else "no queue yet"


async def _candidates(match: CallerMatch) -> list[str]:
    """The people an ambiguous number belongs to, as the agent picks among them: "Name (department, id 7)"."""
    if match.status is not MatchStatus.AMBIGUOUS:
        return []
    rows = await Person.filter(id__in=match.candidates).order_by("name").values_list("id", "name", "department")
    return [f"{name} ({department + ', ' if department else ''}id {pid})" for pid, name, department in rows]


def _description(who: str, phone_name: str, queue: str | None, match: CallerMatch, candidates: list[str]) -> str:
    """``phone_name``: the name the phone sent, when the caller was identified as someone (then ``who`` names them)."""
    lines = [f"Phone call from {who}, {_queue_text(queue)}."]
    if phone_name and phone_name.lower() not in ("anonymous", "unknown"):
        lines.append(f'The phone showed the name "{phone_name}".')
    if match.status is MatchStatus.AMBIGUOUS:
        lines.append(f"Several people have this number: {'; '.join(candidates)}. Pick the requester.")
    elif match.status is MatchStatus.UNAVAILABLE:
        lines.append(
            "The caller could not be looked up (directory unavailable); the requester is set when the "
            "directory answers again."
        )
    if match.stale:
        lines.append(
            "Identified from the last good copy of the directory: the directory could not be reached "
            "since. Check who is calling."
        )
    return "\n".join(lines)
