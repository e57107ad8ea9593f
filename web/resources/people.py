"""/api/v1/people: requesters."""

from __future__ import annotations

from tickets.models import Role
from web.api import Api, Call
from web.http import cursor
from web.resources.render import person_out
from web.schemas.people import PeopleQuery, PersonCreate, PersonOut, PersonPage, PersonPatch

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
    "/people/{person_id}", summary="Read a person", role=Role.AGENT, response=PersonOut, errors=(404,), tag="people"
)
async def get_person(call: Call) -> PersonOut:
    return person_out(await call.runtime.people.get(call.id_param("person_id", "person")))


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
