"""Settings: one TOML file plus environment overrides and secret files, validated at start-up.

One module per section (``web``, ``database``, ``tickets``, ``directory``, ``pbx``, ``sla``, ``notify``, ``live``,
``console``, ``log``); :mod:`~web.settings.loader` reads them, :mod:`~web.settings.secrets` fills secrets from
files and the environment, :mod:`~web.settings.errors` names what is wrong. docs/configuration.md lists every key.
"""

from web.settings.base import Duration, parse_duration, redact_url
from web.settings.console import ConsoleSettings
from web.settings.database import DEFAULT_DATABASE_URL, DatabaseSettings
from web.settings.directory import DirectorySettings
from web.settings.live import LiveSettings
from web.settings.loader import CONFIG_ENV, ENV_PREFIX, ConfigError, load_settings
from web.settings.log import LogSettings
from web.settings.pbx import PbxSettings
from web.settings.root import Settings
from web.settings.tickets import TicketSettings
from web.settings.web import WebSettings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_DATABASE_URL",
    "ENV_PREFIX",
    "ConfigError",
    "ConsoleSettings",
    "DatabaseSettings",
    "DirectorySettings",
    "Duration",
    "LiveSettings",
    "LogSettings",
    "PbxSettings",
    "Settings",
    "TicketSettings",
    "WebSettings",
    "load_settings",
    "parse_duration",
    "redact_url",
]
