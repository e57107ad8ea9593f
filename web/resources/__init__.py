"""HTTP resources: each module declares its operations on its own :class:`web.api.Api` and translates between HTTP
and the services (no business rules here). :func:`apis` lists them all: the app's routes and the OpenAPI document."""

from __future__ import annotations

from web.api import Api


def apis() -> list[Api]:
    """Every resource's operations (the OpenAPI document and the app's routes are made of them)."""
    from web.resources import (
        agents,
        calls,
        canned,
        directory,
        me,
        notify,
        pbx,
        people,
        phone,
        queues,
        service,
        sla,
        ticket_links,
        tickets,
        views,
    )

    return [
        service.root,
        service.api,
        tickets.api,
        ticket_links.api,
        canned.api,
        calls.api,
        pbx.api,
        directory.api,
        people.api,
        views.api,  # before agents: /agents/load, not /agents/{agent_id}
        phone.api,
        agents.api,
        me.api,
        sla.api,
        notify.api,
        queues.api,
    ]
