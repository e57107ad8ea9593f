"""/api/v1/directory: how the Active Directory sync is doing."""

from __future__ import annotations

from tickets.calls.caller_index import directory_status
from tickets.models import Role
from web.api import Api, Call
from web.schemas.directory import DirectoryStatusOut

api = Api()


@api.get(
    "/directory",
    summary="The directory sync: last sync, age, counts, last error",
    role=Role.ADMIN,
    response=DirectoryStatusOut,
    tag="directory",
)
async def get_directory(call: Call) -> DirectoryStatusOut:
    settings = call.runtime.settings.directory
    status = await directory_status(settings.enabled)
    return DirectoryStatusOut(
        **vars(status), sync_interval_seconds=settings.sync_interval.total_seconds() if settings.enabled else None
    )
