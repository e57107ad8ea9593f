"""Domain objects -> response shapes."""

from __future__ import annotations

from tickets import workflow
from tickets.models import Activity, Agent, ApiToken, Call, Person, Ticket, TicketStatus
from web.schemas.agents import AgentOut, TokenOut
from web.schemas.calls import CallOut
from web.schemas.common import AgentRef, PersonRef
from web.schemas.people import PersonOut
from web.schemas.tickets import ActivityOut, TicketLink, TicketOut


def person_ref(p: Person | None) -> PersonRef | None:
    if p is None:
        return None
    return PersonRef(
        id=p.id, name=p.name, email=p.email, phone=p.phone, department=p.department, title=p.title, vip=p.vip
    )


def person_out(p: Person) -> PersonOut:
    return PersonOut(
        id=p.id,
        name=p.name,
        email=p.email,
        phone=p.phone,
        department=p.department,
        title=p.title,
        vip=p.vip,
        external_id=p.external_id,
        office=p.office,
        country=p.country,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def agent_ref(a: Agent | None) -> AgentRef | None:
    if a is None:
        return None
    return AgentRef(id=a.id, login=a.login, display_name=a.display_name, extension=a.extension)


def agent_out(a: Agent) -> AgentOut:
    return AgentOut(
        id=a.id,
        login=a.login,
        display_name=a.display_name,
        extension=a.extension,
        role=a.role,
        email=a.email,
        active=a.active,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut(
        id=t.id, name=t.name, hint=t.hint, created_at=t.created_at, last_used_at=t.last_used_at, revoked_at=t.revoked_at
    )


def ticket_out(t: Ticket) -> TicketOut:
    """Needs ``requester`` and ``assignee`` fetched."""
    status = TicketStatus(t.status)
    return TicketOut(
        id=t.id,
        number=t.number,
        title=t.title,
        description=t.description,
        type=t.type,
        status=status,
        priority=t.priority,
        impact=t.impact,
        urgency=t.urgency,
        channel=t.channel,
        requester=person_ref(t.requester),
        caller_number=t.caller_number,
        assignee=agent_ref(t.assignee),
        group=t.group,
        resolution=t.resolution,
        reopen_count=t.reopen_count,
        version=t.version,
        allowed_transitions=list(workflow.allowed_for(status, merged=t.merged_into_id is not None)),
        created_at=t.created_at,
        updated_at=t.updated_at,
        first_response_at=t.first_response_at,
        resolved_at=t.resolved_at,
        closed_at=t.closed_at,
    )


def activity_out(a: Activity, *, on: str | None = None) -> ActivityOut:
    """``on``: the number of the ticket the entry was written on, when it is not the ticket asked about."""
    return ActivityOut(
        id=a.id,
        kind=a.kind.value if hasattr(a.kind, "value") else a.kind,
        field=a.field,
        old=a.old_value,
        new=a.new_value,
        body=a.body,
        public=a.public,
        actor=a.actor_label,
        created_at=a.created_at,
        ticket=on,
    )


def ticket_link(t: Ticket) -> TicketLink:
    return TicketLink(id=t.id, number=t.number, title=t.title, status=TicketStatus(t.status))


def call_out(c: Call) -> CallOut:
    """Needs ``agent`` fetched."""
    return CallOut(
        id=c.id,
        pbx=c.pbx,
        linkedid=c.linkedid,
        ticket_id=c.ticket_id,
        opened_ticket=c.opened_ticket,
        state=c.state.value,
        outcome=c.outcome.value if c.outcome else None,
        caller_number=c.caller_number,
        caller_e164=c.caller_e164,
        caller_name=c.caller_name,
        queue=c.queue,
        agent=c.agent.login if c.agent else None,
        agent_name=c.agent_name,
        agent_extension=c.agent_extension,
        wait_seconds=c.wait_seconds,
        talk_seconds=c.talk_seconds,
        ended_by=c.ended_by,
        voicemail=c.voicemail,
        hangup_cause=c.hangup_cause,
        started_at=c.started_at,
        answered_at=c.answered_at,
        ended_at=c.ended_at,
    )
