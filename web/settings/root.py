"""All of helpline's settings: one model with a field per section."""

from __future__ import annotations

from pydantic import Field, field_validator

from web.settings.base import Section, unique_names
from web.settings.console import ConsoleSettings
from web.settings.database import DatabaseSettings
from web.settings.directory import DirectorySettings
from web.settings.live import LiveSettings
from web.settings.log import LogSettings
from web.settings.notify import NotifySettings
from web.settings.pbx import PbxSettings
from web.settings.sla import SlaSettings
from web.settings.tickets import TicketSettings
from web.settings.web import WebSettings


class Settings(Section):
    """All of helpline's settings."""

    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    directory: DirectorySettings = DirectorySettings()
    pbx: list[PbxSettings] = Field(default_factory=list)
    tickets: TicketSettings = TicketSettings()
    sla: SlaSettings = SlaSettings()
    notify: NotifySettings = NotifySettings()
    live: LiveSettings = LiveSettings()
    console: ConsoleSettings = ConsoleSettings()
    log: LogSettings = LogSettings()
    source: str = Field("defaults", exclude=True)

    @field_validator("pbx")
    @classmethod
    def _unique_names(cls, value: list[PbxSettings]) -> list[PbxSettings]:
        unique_names([p.name for p in value], "pbx")
        return value
