"""/api/v1/people: requesters."""

from __future__ import annotations

from tickets.models import CallerAlias, Person, Role
from tickets.person_glance import at_a_glance
from web.api import Api, Call, Reply
from web.http import cursor
from web.resources.render import call_out, person_out, ticket_out
from web.schemas.people import (
    AliasCreate,
    AliasOut,
    PeopleQuery,
    PersonCreate,
    PersonDetail,
    PersonGlance,
    PersonOut,
    PersonPage,
    PersonPatch,
)

api = Api()
PAGES = cursor.IdPages("people")


@api.post(
    "/people",
    summary="Add a person (requester)",
    role=Role.AGENT,
    body=PersonCreate,
    response=PersonOut,
    status=201,
    errors=(409, 422),
    tag="people",
)
async def create_person(call: Call) -> PersonOut:
    return person_out(await call.runtime.people.create(**call.body.model_dump()))


@api.get(
    "/people",
    summary="Find people by name, email, phone or department",
    role=Role.AGENT,
    query=PeopleQuery,
    response=PersonPage,
    errors=(400,),
    tag="people",
)
async def list_people(call: Call) -> PersonPage:
    q: PeopleQuery = call.query
    rows = await call.runtime.people.find(text=q.q, after=PAGES.after(q.cursor), limit=q.limit + 1)
    rows, next_cursor = PAGES.page(rows, q.limit)
    return PersonPage(items=[person_out(p) for p in rows], next=next_cursor)


@api.get(
    "/people/{person_id}",
    summary="Read a person, with their local aliases",
    role=Role.AGENT,
    response=PersonDetail,
    errors=(404,),
    tag="people",
)
async def get_person(call: Call) -> PersonDetail:
    person = await call.runtime.people.get(call.id_param("person_id", "person"))
    return _detail(person, await call.runtime.aliases.of_person(person.id))


@api.get(
    "/people/{person_id}/summary",
    summary="A person at a glance: who they are, their tickets (open first) and recent calls",
    role=Role.AGENT,
    response=PersonGlance,
    errors=(404,),
    tag="people",
)
async def person_summary(call: Call) -> PersonGlance:
    glance = await at_a_glance(await call.runtime.people.get(call.id_param("person_id", "person")))
    return PersonGlance(
        person=_detail(glance.person, glance.aliases),
        open_tickets=glance.open_tickets,
        tickets=[ticket_out(t) for t in glance.tickets],
        calls=[call_out(c) for c in glance.calls],
    )


@api.post(
    "/people/{person_id}/aliases",
    summary="Link a number to this person (a local alias: this number is ...)",
    role=Role.AGENT,
    body=AliasCreate,
    response=AliasOut,
    status=201,
    alt_responses={200: AliasOut},
    errors=(404, 409, 422),
    tag="people",
)
async def add_alias(call: Call) -> Reply:
    body: AliasCreate = call.body
    alias, new = await call.runtime.aliases.add(call.actor, call.id_param("person_id", "person"), body.number)
    return Reply(alias_out(alias), status=201 if new else 200)


@api.delete(
    "/people/{person_id}/aliases/{alias_id}",
    summary="Remove a local alias",
    role=Role.AGENT,
    response=AliasOut,
    errors=(404,),
    tag="people",
)
async def delete_alias(call: Call) -> AliasOut:
    alias = await call.runtime.aliases.remove(
        call.actor, call.id_param("person_id", "person"), call.id_param("alias_id", "alias")
    )
    return alias_out(alias)


@api.patch(
    "/people/{person_id}",
    summary="Change a person",
    role=Role.AGENT,
    body=PersonPatch,
    response=PersonOut,
    errors=(404, 409, 422),
    tag="people",
)
async def update_person(call: Call) -> PersonOut:
    b: PersonPatch = call.body
    changes = {name: getattr(b, name) for name in b.model_fields_set}
    return person_out(await call.runtime.people.update(call.id_param("person_id", "person"), changes))


def alias_out(alias: CallerAlias) -> AliasOut:
    return AliasOut(
        id=alias.id,
        person_id=alias.person_id,
        number=alias.number,
        created_by=alias.created_by_label,
        created_at=alias.created_at,
    )


def _detail(person: Person, aliases: list[CallerAlias]) -> PersonDetail:
    return PersonDetail(**dict(person_out(person)), aliases=[alias_out(a) for a in aliases])
