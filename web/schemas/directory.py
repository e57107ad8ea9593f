"""/api/v1/directory: how the Active Directory sync is doing."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DirectoryStatusOut(BaseModel):
    """The Active Directory sync and the caller index it feeds."""

    configured: bool = Field(description="false: no [directory] servers; callers match people entered by hand")
    synced: bool = Field(description="a sync has completed at least once (else lookups answer unavailable)")
    stale: bool = Field(description="the latest sync failed: callers are identified from the last good one")
    last_sync_at: datetime | None = Field(description="end of the last successful sync")
    last_attempt_at: datetime | None
    age_seconds: float | None = Field(description="seconds since the last successful sync")
    people: int = Field(description="enabled people from the directory")
    disabled_people: int
    numbers: int = Field(description="rows in the caller index (person x number)")
    sync_interval_seconds: float | None
    last_error_kind: str | None = Field(
        description="unreachable, timeout, bad_credentials, tls, tls_required, "
        "size_limit, permission, protocol, or removal_guard (a warning)"
    )
    last_error: str | None
    last_full_sync_at: datetime | None = Field(
        description="end of the last full sync (people removed from the "
        "directory are seen by full syncs only: [directory] full_sync_interval)"
    )
    dc: str | None = Field(
        description="the server the next incremental sync asks for its changes (uSNChanged); "
        "null: the next sync is a full one"
    )
