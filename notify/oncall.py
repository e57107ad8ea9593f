"""Who is on call: each schedule's rotation with the overrides set through the API, and those overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notify.models import OnCallOverride
from notify.policy import Roster
from notify.schedule import Override, Shift
from tickets.errors import InvalidField, NotFound

#: Overrides that ended longer ago than this no longer matter to anyone's shifts.
KEEP_ENDED = timedelta(days=1)


@dataclass(frozen=True)
class ScheduleNow:
    """One schedule: who is on call at a moment, and its shifts up to a later one."""

    name: str
    timezone: str
    now: str
    shifts: list[Shift]


class OnCall:
    """The roster's schedules and the overrides stored in the database."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster

    async def overrides(self, now: datetime) -> dict[str, list[Override]]:
        """Overrides set through the API that still matter at ``now``, by schedule (later ones win)."""
        rows = await OnCallOverride.filter(end__gt=now - KEEP_ENDED).order_by("id")
        out: dict[str, list[Override]] = {}
        for row in rows:
            out.setdefault(row.schedule, []).append(Override(row.start, row.end, row.person, row.reason, 1 + row.id))
        return out

    async def schedules(self, now: datetime, until: datetime) -> list[ScheduleNow]:
        """Every schedule: who is on call at ``now`` and the shifts until ``until``, overrides included."""
        extra = await self.overrides(now)
        out = []
        for name, schedule in self.roster.schedules.items():
            more = extra.get(name, [])
            out.append(
                ScheduleNow(name, str(schedule.tz), schedule.on_call(now, more), schedule.shifts(now, until, more))
            )
        return out

    @staticmethod
    async def current_overrides(now: datetime, limit: int = 500) -> list[OnCallOverride]:
        """The overrides that have not ended, the earliest first."""
        return await OnCallOverride.filter(end__gt=now).order_by("start", "id").limit(limit)

    async def add_override(
        self, *, schedule: str, person: str, start: datetime, end: datetime, reason: str, by: str, now: datetime
    ) -> OnCallOverride:
        """Put ``person`` on call for ``schedule`` from ``start`` to ``end``; both must be in the roster."""
        if schedule not in self.roster.schedules:
            raise InvalidField("schedule", f"there is no schedule {schedule!r} ([[notify.schedules]])")
        if person not in self.roster.people:
            raise InvalidField("person", f"{person!r} is not in [[notify.people]]")
        return await OnCallOverride.create(
            schedule=schedule, person=person, start=start, end=end, reason=reason, created_by=by, created_at=now
        )

    @staticmethod
    async def remove_override(override_id: int) -> OnCallOverride:
        """Remove an override; returns it as it was."""
        row = await OnCallOverride.get_or_none(id=override_id)
        if row is None:
            raise NotFound(f"override {override_id} does not exist")
        await OnCallOverride.filter(id=override_id).delete()
        return row
