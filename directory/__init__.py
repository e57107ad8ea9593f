"""Active Directory / LDAP access and phone-number normalisation. Imports nothing of helpline.

These are the package's public names: the rest of helpline imports them from here, never from its modules (an
import-linter contract in ``.importlinter`` keeps it so).
"""

from directory.client import (
    DEFAULT_PHONE_ATTRIBUTES,
    PEOPLE_FILTER,
    AsyncDirectory,
    DcIdentity,
    DirectoryClient,
    DirectoryConfig,
    DirectoryPerson,
    FetchResult,
    UsnWatermark,
)
from directory.errors import DirectoryError, ErrorKind
from directory.numbers import NO_NUMBER, CallerNumber, NumberPolicy, region_of

__all__ = [
    "DEFAULT_PHONE_ATTRIBUTES",
    "NO_NUMBER",
    "PEOPLE_FILTER",
    "AsyncDirectory",
    "CallerNumber",
    "DcIdentity",
    "DirectoryClient",
    "DirectoryConfig",
    "DirectoryError",
    "DirectoryPerson",
    "ErrorKind",
    "FetchResult",
    "NumberPolicy",
    "UsnWatermark",
    "region_of",
]
