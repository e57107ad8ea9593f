"""The Active Directory client: bind with failover, paged search of people, classified errors.

ldap3 is blocking: :class:`DirectoryClient` is plain synchronous code, and :class:`AsyncDirectory` runs it in a
small thread pool so the event loop never waits on a domain controller. Each operation opens its own connection
(syncs are minutes apart; a fresh bind also notices a changed password or a DC that came back).

What it guards against (each measured against Samba AD, see ``../shared/notes/ldap3-and-samba-ad.md``):

* no timeouts means blocking forever: ``connect_timeout`` and ``receive_timeout`` are always set;
* ldap3's ServerPool stalls 10 s per cycle and RESTARTABLE up to 60 s: failover and retry are done here, bounded
  (``retries`` rounds over the servers, short backoff);
* ldap3 never raises on ``sizeLimitExceeded``: every page's result is checked, a truncated search is an error;
* a manual ``open(); start_tls()`` reads the schema anonymously and fails on AD: the server info is never read;
* ``searchResRef`` continuation references are skipped;
* the bind's AD sub-code (``data 52e``, ``533``, ``775``) is kept in the error.

Imports nothing of helpline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ldap3 import BASE, NONE, SUBTREE, SYNC, Connection, Server, Tls
from ldap3.utils.conv import escape_filter_chars

from directory.errors import DirectoryError, ErrorKind, bind_failure, classify

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_PHONE_ATTRIBUTES = ("telephoneNumber", "mobile", "ipPhone", "otherTelephone", "homePhone", "otherMobile")
PEOPLE_FILTER = "(&(objectCategory=person)(objectClass=user))"
IN_CHAIN = "1.2.840.113556.1.4.1941"  #: LDAP_MATCHING_RULE_IN_CHAIN: membership through nested groups
PAGED_RESULTS = "1.2.840.113556.1.4.319"
UAC_DISABLED = 0x2
MIN_LIVE_DIGITS = 6  #: a live search by fewer national digits than this is not made
BASE_ATTRIBUTES = (
    "objectGUID",
    "distinguishedName",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "cn",
    "givenName",
    "sn",
    "department",
    "title",
    "mail",
    "manager",
    "userAccountControl",
    "uSNChanged",
    "c",  #: the person's country (ISO 3166 two-letter code): how their numbers written without +<code> are read
    "physicalDeliveryOfficeName",  #: the office (AD's "Office" field)
)


@dataclass(frozen=True)
class DirectoryConfig:
    """How to reach the directory. ``password`` never appears in ``repr`` or logs."""

    servers: tuple[str, ...]
    bind_dn: str
    password: str = field(repr=False)
    base_dn: str = ""
    starttls: bool = False
    ca_file: str | None = None
    tls_verify: bool = True
    tls_server_name: str | None = None
    connect_timeout: float = 5.0
    receive_timeout: float = 15.0  #: whole seconds (ldap3 packs it into SO_RCVTIMEO as an integer)
    retries: int = 1  #: extra rounds over all servers after the first one failed
    retry_delay: float = 0.5
    page_size: int = 500
    phone_attributes: tuple[str, ...] = DEFAULT_PHONE_ATTRIBUTES
    user_filter: str = PEOPLE_FILTER
    vip_group: str | None = None


@dataclass(frozen=True)
class DirectoryPerson:
    """One user object as read from the directory."""

    guid: str
    dn: str
    account: str | None
    name: str
    department: str | None
    title: str | None
    mail: str | None
    manager_dn: str | None
    phones: tuple[tuple[str, str], ...]  #: (attribute, value as written in the directory)
    disabled: bool
    vip: bool = False
    usn_changed: int | None = None
    country: str | None = None  #: AD's ``c`` as written (``DE``, ``th``); see :func:`directory.numbers.region_of`
    office: str | None = None  #: AD's ``physicalDeliveryOfficeName``


@dataclass(frozen=True)
class DcIdentity:
    """Which domain controller answered: its NTDS Settings DN and its database's invocationId.

    The invocationId changes when a DC's database is restored, so update sequence numbers from before are void.
    """

    name: str
    invocation_id: str


@dataclass(frozen=True)
class UsnWatermark:
    """Where a sync left off: the DC, its ``highestCommittedUSN`` read before the search, and the search scope."""

    dc: DcIdentity
    usn: int
    scope: str  #: fingerprint of base_dn, user_filter, phone attributes and vip_group (see :func:`search_scope`)


@dataclass(frozen=True)
class FetchResult:
    """People under the base DN: every one (a complete read), or with ``changes_only`` those changed since a
    watermark. A failed or truncated read raises instead."""

    people: list[DirectoryPerson]
    server: str
    pages: int
    seconds: float
    changes_only: bool = False
    #: the DC and its USN read before this search (None: the server has no USNs, e.g. OpenLDAP)
    watermark: UsnWatermark | None = None
    #: objectGUIDs of every member of vip_group (always complete, also for ``changes_only``); None: no vip_group
    vip_guids: frozenset[str] | None = None
    #: why a read asked for changes only was a complete one after all
    full_reason: str | None = None


class DirectoryClient:
    """Synchronous: call it from a worker thread (see :class:`AsyncDirectory`)."""

    def __init__(self, config: DirectoryConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if not config.servers:
            raise ValueError("no directory servers configured")
        self.config = config
        self._sleep = sleep
        if not config.tls_verify:
            log.warning(
                "directory: TLS certificate verification is OFF ([directory] tls_verify = false): anyone on "
                "the network path can pose as the domain controller and read the service account password. "
                "Use it only in a lab; set ca_file instead."
            )

    # -- connections ---------------------------------------------------------------------------------------------

    def _server(self, uri: str) -> Server:
        parts = urlsplit(uri if "://" in uri else f"ldap://{uri}")
        use_ssl = parts.scheme.lower() == "ldaps"
        tls = None
        if use_ssl or self.config.starttls:
            c = self.config
            tls = Tls(
                validate=ssl.CERT_REQUIRED if c.tls_verify else ssl.CERT_NONE,
                ca_certs_file=c.ca_file if c.tls_verify else None,
                valid_names=[c.tls_server_name] if c.tls_server_name else None,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        return Server(
            parts.hostname or "",
            port=parts.port or (636 if use_ssl else 389),
            use_ssl=use_ssl,
            tls=tls,
            get_info=NONE,
            connect_timeout=self.config.connect_timeout,
        )

    def _bind(self, uri: str) -> Connection:
        """A bound connection to ``uri``, or a classified :class:`DirectoryError`."""
        c = self.config
        conn = Connection(
            self._server(uri),
            user=c.bind_dn,
            password=c.password,
            client_strategy=SYNC,
            auto_bind=False,
            receive_timeout=max(1, math.ceil(c.receive_timeout)),
            raise_exceptions=False,
            read_only=True,
            check_names=False,
            auto_referrals=False,
        )
        try:
            conn.open()
            if c.starttls:
                conn.start_tls()
            if not conn.bind():
                raise bind_failure(conn.result, server=uri, account=c.bind_dn)
        except DirectoryError:
            _close(conn)
            raise
        except Exception as exc:
            _close(conn)
            raise classify(exc, server=uri, account=c.bind_dn) from None
        return conn

    def _with_failover(self, operation: Callable[[Connection, str], T]) -> T:
        """Run ``operation`` on the first server that works; unreachable or slow servers pass to the next.

        Bad credentials, TLS and permission problems are not retried: they would fail the same way everywhere (and
        a retried bad password brings the service account closer to a lockout).
        """
        errors: list[DirectoryError] = []
        for round_ in range(self.config.retries + 1):
            if round_:
                self._sleep(self.config.retry_delay * (2 ** (round_ - 1)))
            for uri in self.config.servers:
                try:
                    conn = self._bind(uri)
                except DirectoryError as exc:
                    if not exc.kind.retryable:
                        raise
                    log.warning("directory: %s", exc)
                    errors.append(exc)
                    continue
                try:
                    return operation(conn, uri)
                except DirectoryError as exc:
                    if not exc.kind.retryable:
                        raise
                    log.warning("directory: %s", exc)
                    errors.append(exc)
                except Exception as exc:
                    err = classify(exc, server=uri)
                    if not err.kind.retryable:
                        raise err from None
                    log.warning("directory: %s", err)
                    errors.append(err)
                finally:
                    _close(conn)
        last = errors[-1]
        tried = ", ".join(self.config.servers)
        raise DirectoryError(
            last.kind,
            f"no directory server answered (tried {tried}, {self.config.retries + 1}x); last error: {last.message}",
            server=last.server,
        )

    # -- operations ----------------------------------------------------------------------------------------------

    def check(self) -> str:
        """Bind as the service account; returns the server that answered."""
        return self._with_failover(lambda conn, uri: uri)

    def fetch_people(
        self, on_page: Callable[[int, int], None] | None = None, since: UsnWatermark | None = None
    ) -> FetchResult:
        """Every person under ``base_dn`` (enabled and disabled), paged; VIP flags from the nested group.

        With ``since`` (the watermark of the previous sync), only people changed after it are read
        (``uSNChanged>=usn+1``), provided the same domain controller answers with the same database and the
        search scope is unchanged; otherwise everyone is read and ``full_reason`` says why. The DC's
        ``highestCommittedUSN`` is read before the search, so a change made during it is read again next time.
        ``on_page(pages, people_so_far)`` is called after each page (progress bars).
        """

        def run(conn: Connection, uri: str) -> FetchResult:
            started = time.monotonic()
            c = self.config
            mark = _watermark(conn, uri, search_scope(c))
            full_reason = None if since is None else _why_not_incremental(since, mark)
            changes_only = since is not None and full_reason is None
            attributes = list(dict.fromkeys(BASE_ATTRIBUTES + c.phone_attributes))
            vip: set[str] = set()
            if c.vip_group:
                chain = f"(&{c.user_filter}(memberOf:{IN_CHAIN}:={escape_filter_chars(c.vip_group)}))"
                for entry, _ in _paged(conn, c.base_dn, chain, ["objectGUID"], c.page_size, uri):
                    guid = _guid(_raw(entry, "objectGUID"))
                    if guid:
                        vip.add(guid)
            people: list[DirectoryPerson] = []
            pages = 0
            query = f"(&{c.user_filter}(uSNChanged>={since.usn + 1}))" if changes_only and since else c.user_filter
            for entry, page in _paged(conn, c.base_dn, query, attributes, c.page_size, uri):
                if page != pages:
                    if on_page and pages:
                        on_page(pages, len(people))
                    pages = page
                person = _person(entry, c.phone_attributes, vip)
                if person is not None:
                    people.append(person)
            if on_page:
                on_page(pages, len(people))
            return FetchResult(
                people,
                uri,
                pages,
                time.monotonic() - started,
                changes_only=changes_only,
                watermark=mark,
                vip_guids=frozenset(vip) if c.vip_group else None,
                full_reason=full_reason,
            )

        return self._with_failover(run)

    def find_by_number(
        self, digits: str | None = None, extension: str | None = None, limit: int = 20
    ) -> list[DirectoryPerson]:
        """Enabled people whose phone attributes may hold the number: ``digits`` (the national digits, found
        whatever separators the directory has between them) or ``extension`` (exact). The caller checks each
        candidate's numbers: the digit search is deliberately loose. Every value is escaped (see
        :func:`number_filter`); more than ``limit`` candidates is a :class:`DirectoryError` (SIZE_LIMIT).
        """
        c = self.config
        search_filter = number_filter(c.phone_attributes, digits=digits, extension=extension, user_filter=c.user_filter)
        if search_filter is None:
            return []

        def run(conn: Connection, uri: str) -> list[DirectoryPerson]:
            attributes = list(dict.fromkeys(BASE_ATTRIBUTES + c.phone_attributes))
            conn.search(c.base_dn, search_filter, search_scope=SUBTREE, attributes=attributes, size_limit=limit + 1)
            result = conn.result or {}
            description = str(result.get("description") or "")
            entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            if description == "sizeLimitExceeded" or len(entries) > limit:
                raise DirectoryError(ErrorKind.SIZE_LIMIT, f"more than {limit} people match this number", server=uri)
            if description != "success":
                raise DirectoryError(
                    ErrorKind.PROTOCOL,
                    f"search failed: {description} {result.get('message') or ''}".strip(),
                    server=uri,
                )
            vip: set[str] = set()
            if entries and c.vip_group:
                chain = f"(&{search_filter}(memberOf:{IN_CHAIN}:={escape_filter_chars(c.vip_group)}))"
                conn.search(c.base_dn, chain, search_scope=SUBTREE, attributes=["objectGUID"], size_limit=limit + 1)
                vip = {
                    g
                    for e in conn.response or []
                    if e.get("type") == "searchResEntry"
                    for g in [_guid(_raw(e, "objectGUID"))]
                    if g
                }
            people = [_person(e, c.phone_attributes, vip) for e in entries]
            return [p for p in people if p is not None and not p.disabled]

        return self._with_failover(run)


def search_scope(config: DirectoryConfig) -> str:
    """A fingerprint of what a sync reads: a changed base_dn, filter, attribute list or VIP group voids the
    watermark (people it did not cover before are not "changed since"); so does a helpline that reads more of each
    person (``BASE_ATTRIBUTES``): the people synced before it are read again, whole."""
    text = "\n".join(
        (
            config.base_dn.lower(),
            config.user_filter,
            ",".join(config.phone_attributes).lower(),
            (config.vip_group or "").lower(),
            ",".join(BASE_ATTRIBUTES).lower(),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def number_filter(
    attributes: Sequence[str],
    *,
    digits: str | None = None,
    extension: str | None = None,
    user_filter: str = PEOPLE_FILTER,
) -> str | None:
    """The live search for a number: enabled people with ``digits`` in order in any phone attribute (any
    separators between them), or ``extension`` exactly. Only the ASCII digits of ``digits`` are used, and at least
    ``MIN_LIVE_DIGITS`` of them (fewer would match half the company); every character is escaped with
    ``escape_filter_chars``, so ``*``, ``(``, ``)``, ``\\`` and NUL in ``extension`` match themselves, never
    everyone. None when there is nothing to search for.
    """
    terms: list[str] = []
    digits = "".join(ch for ch in digits or "" if "0" <= ch <= "9")
    if len(digits) >= MIN_LIVE_DIGITS:
        pattern = "*" + "*".join(escape_filter_chars(ch) for ch in digits) + "*"
        terms += [f"({attribute}={pattern})" for attribute in attributes]
    if extension:
        value = escape_filter_chars(extension)
        terms += [f"({attribute}={value})" for attribute in attributes]
    if not terms:
        return None
    return f"(&{user_filter}(!(userAccountControl:1.2.840.113556.1.4.803:=2))(|{''.join(terms)}))"


def _watermark(conn: Connection, uri: str, scope: str) -> UsnWatermark | None:
    """The answering DC's identity and ``highestCommittedUSN`` from its rootDSE (None: not Active Directory)."""
    conn.search("", "(objectClass=*)", search_scope=BASE, attributes=["dsServiceName", "highestCommittedUSN"])
    root = next((e for e in conn.response or [] if e.get("type") == "searchResEntry"), None)
    if root is None:
        return None
    service, usn = _text(root, "dsServiceName"), _text(root, "highestCommittedUSN")
    if not service or not usn or not usn.isdigit():
        return None
    conn.search(service, "(objectClass=*)", search_scope=BASE, attributes=["invocationId"])
    ntds = next((e for e in conn.response or [] if e.get("type") == "searchResEntry"), None)
    invocation = _guid(_raw(ntds, "invocationId")) if ntds else None
    if invocation is None:
        log.info("directory: %s reports a USN but not its invocationId: every sync will be a full one", uri)
        return None
    return UsnWatermark(DcIdentity(service, invocation), int(usn), scope)


def _why_not_incremental(since: UsnWatermark, now: UsnWatermark | None) -> str | None:
    """Why changes since ``since`` cannot be read from the DC that answered now (None: they can)."""
    if now is None:
        return "the server does not report update sequence numbers (not Active Directory)"
    if now.dc.name != since.dc.name:
        return f"another domain controller answered ({_short(since.dc.name)} before, {_short(now.dc.name)} now)"
    if now.dc.invocation_id != since.dc.invocation_id:
        return "the domain controller's database changed (new invocationId: restored from a backup?)"
    if now.scope != since.scope:
        return "base_dn, user_filter, phone_attributes or vip_group changed (or helpline reads more attributes now)"
    if now.usn < since.usn:
        return "the domain controller's update sequence number went back"
    return None


def _short(ntds_dn: str) -> str:
    """``CN=NTDS Settings,CN=DC1,CN=Servers,...`` -> ``DC1``."""
    parts = ntds_dn.split(",")
    return parts[1].partition("=")[2] if len(parts) > 1 and parts[0].upper() == "CN=NTDS SETTINGS" else ntds_dn


def _paged(conn: Connection, base: str, search_filter: str, attributes: Sequence[str], page_size: int, uri: str) -> Any:
    """Yield (entry, page number) over every page; raise on any result but success."""
    cookie: bytes | None = None
    page = 0
    while True:
        page += 1
        conn.search(
            base,
            search_filter,
            search_scope=SUBTREE,
            attributes=list(attributes),
            paged_size=page_size,
            paged_cookie=cookie,
        )
        result = conn.result or {}
        description = str(result.get("description") or "")
        if description == "sizeLimitExceeded":
            raise DirectoryError(
                ErrorKind.SIZE_LIMIT,
                "the server stopped the search at its size limit, so the "
                "list of people is incomplete (nothing was changed); is paging blocked by a proxy, "
                "or is [directory] page_size above the server's MaxPageSize (AD: 1000)?",
                server=uri,
            )
        if description == "timeLimitExceeded":
            raise DirectoryError(
                ErrorKind.TIMEOUT,
                "the server stopped the search at its time limit (nothing was changed); narrow base_dn or user_filter",
                server=uri,
            )
        if description == "insufficientAccessRights":
            raise DirectoryError(
                ErrorKind.PERMISSION, f"the service account may not search {base}: {result.get('message')}", server=uri
            )
        if description == "noSuchObject":
            raise DirectoryError(
                ErrorKind.PROTOCOL,
                f"base_dn {base!r} does not exist on the server (check [directory] base_dn)",
                server=uri,
            )
        if description != "success":
            raise DirectoryError(
                ErrorKind.PROTOCOL, f"search failed: {description} {result.get('message') or ''}".strip(), server=uri
            )
        for entry in conn.response or []:
            if entry.get("type") == "searchResEntry":
                yield entry, page
        controls = result.get("controls") or {}
        cookie = ((controls.get(PAGED_RESULTS) or {}).get("value") or {}).get("cookie")
        if not cookie:
            return


def _raw(entry: dict[str, Any], name: str) -> list[bytes]:
    raw = entry.get("raw_attributes") or {}
    for key, values in raw.items():
        if key.lower() == name.lower():
            return list(values or [])
    return []


def _text(entry: dict[str, Any], name: str) -> str | None:
    values = _raw(entry, name)
    if not values:
        return None
    value = _decode(values[0])
    return value or None


def _decode(value: bytes) -> str:
    """Directory text as storable text: invalid UTF-8 replaced, NUL characters dropped, trimmed."""
    return value.decode("utf-8", "replace").replace("\x00", "").strip()


def _guid(values: list[bytes]) -> str | None:
    if not values or len(values[0]) != 16:
        return None
    return str(uuid.UUID(bytes_le=bytes(values[0])))


def _person(entry: dict[str, Any], phone_attributes: Sequence[str], vip: set[str]) -> DirectoryPerson | None:
    guid = _guid(_raw(entry, "objectGUID"))
    if guid is None:
        return None
    phones: list[tuple[str, str]] = []
    for attribute in phone_attributes:
        for value in _raw(entry, attribute):
            text = _decode(value)
            if text:
                phones.append((attribute, text))
    try:
        uac = int(_text(entry, "userAccountControl") or 0)
    except ValueError:
        uac = 0
    try:
        usn: int | None = int(_text(entry, "uSNChanged") or "")
    except ValueError:
        usn = None
    name = (
        _text(entry, "displayName")
        or " ".join(filter(None, (_text(entry, "givenName"), _text(entry, "sn"))))
        or _text(entry, "cn")
        or _text(entry, "sAMAccountName")
        or guid
    )
    return DirectoryPerson(
        guid=guid,
        dn=str(entry.get("dn") or ""),
        account=_text(entry, "sAMAccountName"),
        name=name,
        department=_text(entry, "department"),
        title=_text(entry, "title"),
        mail=_text(entry, "mail"),
        manager_dn=_text(entry, "manager"),
        phones=tuple(phones),
        disabled=bool(uac & UAC_DISABLED),
        vip=guid in vip,
        usn_changed=usn,
        country=_text(entry, "c"),
        office=_text(entry, "physicalDeliveryOfficeName"),
    )


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except Exception:  # closing a dead socket: nothing to do
        pass


class AsyncDirectory:
    """The client for asyncio code: each call runs in a small dedicated thread pool."""

    def __init__(self, client: DirectoryClient, *, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ldap")
        return self._pool

    async def check(self) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._executor(), self.client.check)

    async def fetch_people(
        self, on_page: Callable[[int, int], None] | None = None, since: UsnWatermark | None = None
    ) -> FetchResult:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.client.fetch_people, on_page, since
        )

    async def find_by_number(self, digits: str | None = None, extension: str | None = None) -> list[DirectoryPerson]:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.client.find_by_number, digits, extension
        )

    def close(self) -> None:
        """Stop the worker threads (a running LDAP call finishes in its thread); a later call starts new ones."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
