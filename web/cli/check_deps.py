"""The checks of ``helpline check`` (see :mod:`web.cli.check`): each returns what it found, or raises
:class:`Failed` with what was found and the fix. None of them changes anything."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC
from typing import Any

from pbx import actions
from pbx.backoff import Backoff
from web.settings import DatabaseSettings, DirectorySettings, PbxSettings
from web.settings.notify import NotifySettings, TwilioSettings

#: Slack channel ids (public C..., private G...); anything else in a ``slack:`` target is a #name.
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
SLACK_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


class Failed(Exception):
    """A check failed: ``detail`` says what was found, ``fix`` what to change."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


class Warned(Failed):
    """Works, but something found needs the operator's attention (not a failure: the exit status stays 0)."""


# -- database ------------------------------------------------------------------------------------------------------


async def database(settings: DatabaseSettings) -> str:
    from tortoise.exceptions import ConfigurationError, DBConnectionError, OperationalError

    from web.runtime import db

    where = settings.redacted_url()
    try:
        await db.open_orm(settings)
        from tortoise import connections

        await connections.get("default").execute_query("SELECT 1")  # the migration planner hides a refusal
        pending, fresh = await db.pending_migrations(settings)
    except (DBConnectionError, OperationalError, ConfigurationError, OSError) as exc:
        raise Failed(
            f"cannot use {where}: {type(exc).__name__}: {exc}",
            "check [database] url / HELPLINE_DATABASE_URL (host, port, user, password, database name), "
            "that the server runs and accepts this host (pg_hba.conf), and that the database exists "
            "(createdb)",
        ) from None
    finally:
        await db.close_orm()
    if pending and not fresh:
        raise Failed(
            f"{where}: the schema is behind: {len(pending)} migrations pending ({', '.join(pending)})",
            "back the database up, then run: helpline db upgrade",
        )
    if pending:
        return f"{where}: empty database (helpline serve or helpline db upgrade creates the schema)"
    return f"{where}: connected, schema up to date"


# -- phone numbers -------------------------------------------------------------------------------------------------

#: How far back ``phone_numbers`` looks at the calls recorded, and how many of them it reads at most.
NUMBERS_LOOKBACK_DAYS = 30
NUMBERS_SAMPLE = 5000


async def phone_numbers(database: DatabaseSettings, directory: DirectorySettings) -> str:
    """Whether caller numbers can be normalised: with ``default_region`` set, yes; without it, a warning when calls
    of the last 30 days came from numbers written without +<country code> (they stay as dialled: not matched to
    people, repeat calls not linked). Reads the recorded calls: runs after the database check."""
    if directory.default_region:
        return f"numbers without +<country code> are read as {directory.default_region} numbers"
    from datetime import datetime, timedelta

    from tickets.models import Call
    from web.runtime import db

    policy = directory.number_policy()
    since = datetime.now(UTC) - timedelta(days=NUMBERS_LOOKBACK_DAYS)
    try:
        await db.open_orm(database)
        rows = await (
            Call.filter(caller_key__isnull=True, started_at__gte=since)
            .order_by("-started_at")
            .limit(NUMBERS_SAMPLE)
            .values_list("caller_number", flat=True)
        )
    except Exception as exc:  # an empty database (no schema yet); anything worse, the database check says
        return f"[directory] default_region is not set; no recorded calls to look at ({type(exc).__name__})"
    finally:
        await db.close_orm()
    national = [n for n in rows if policy.parse(str(n)).national]
    if national:
        raise Warned(
            f"[directory] default_region is not set and {len(national)} calls of the last "
            f"{NUMBERS_LOOKBACK_DAYS} days came from numbers without +<country code> (e.g. {national[0]}): "
            "they are kept as dialled, so their callers are not identified and each call opens a ticket",
            "set [directory] default_region to the country the PBX's calls come from (ISO code, e.g. "
            'default_region = "RU"; HELPLINE_DIRECTORY_DEFAULT_REGION), then restart helpline',
        )
    return (
        "[directory] default_region is not set; every caller number recorded in the last "
        f"{NUMBERS_LOOKBACK_DAYS} days had its +<country code>"
    )


# -- PBX -----------------------------------------------------------------------------------------------------------


def read_classes(settings: PbxSettings) -> str:
    """The manager.conf ``read`` classes this ``[[pbx]]`` needs: ``dialplan`` too with ``contexts`` (Newexten)."""
    from pbx.connection import READ_CLASSES

    return READ_CLASSES + (",dialplan" if settings.contexts else "")


async def pbx(settings: PbxSettings, timeout: float) -> str:
    """Log in, wait for FullyBooted (the ``system`` read class), then ask for CoreShowChannels (``reporting``)
    and an Originate without a channel (``originate``: Asterisk checks the permission first, then refuses the
    action for the missing channel; no call is placed)."""
    from pbx.connection import AmiActionError, AmiConnection, AmiError, ConnectionState

    step = max(1.0, min(5.0, timeout / 3))
    conn = AmiConnection(
        settings.host,
        settings.port,
        settings.username,
        settings.secret.get_secret_value(),
        name=f"check-{settings.name}",
        events="system",
        only_events={"FullyBooted"},
        connect_timeout=step,
        login_timeout=step,
        action_timeout=step,
        fully_booted_timeout=step,
        ping_interval=60.0,
        backoff=Backoff(timeout, timeout),
        auth_backoff=Backoff(timeout, timeout),
    )
    where = f"{settings.username}@{settings.host}:{settings.port}"
    try:
        await conn.start()
        while True:  # one attempt: logged in, refused, or could not connect
            status = conn.status()
            if status.state is ConnectionState.CONNECTED:
                break
            if status.state is ConnectionState.AUTH_FAILED:
                raise Failed(
                    f"{where}: login refused ({status.last_error})",
                    f"set the [[pbx]] {settings.name} secret (secret_file / HELPLINE_PBX_"
                    f"{settings.name.upper().replace('-', '_')}_SECRET) to the secret of [{settings.username}] "
                    "in Asterisk's manager.conf, and check its permit lines allow this host "
                    "(deploy/asterisk/manager_helpline.conf)",
                )
            if status.connect_failures:
                raise Failed(
                    f"{where}: cannot connect ({status.last_error})",
                    "check [[pbx]] host and port (AMI listens on 5038), that manager.conf has "
                    "enabled = yes and bindaddr reachable from here, and the firewall",
                )
            await asyncio.sleep(0.05)
        version = status.asterisk_version or "unknown version"
        while conn.status().fully_booted is None:
            await asyncio.sleep(0.05)
        missing: list[str] = []
        if not conn.status().fully_booted:
            missing.append("read class 'system' (no FullyBooted event after login)")
        try:
            await actions.core_show_channels(conn)
        except AmiActionError as exc:
            missing.append(f"write class 'reporting' (CoreShowChannels: {exc.message.get('Message')})")
        if not await actions.may_originate(conn):
            missing.append("write class 'originate' (click to call)")
        if not await actions.may_pause(conn):
            missing.append("write class 'agent' (QueuePause: agents pausing themselves, [[pbx]] wrapup)")
        if missing:
            raise Failed(
                f"{where} (Asterisk {version}): logged in, but the AMI user lacks " + "; ".join(missing),
                f"in manager.conf [{settings.username}]: read = {read_classes(settings)} and write = "
                "reporting,originate,agent (deploy/asterisk/manager_helpline.conf), then "
                'asterisk -rx "manager reload"',
            )
        allowed = "system events, CoreShowChannels, QueuePause and Originate allowed"
        return f"{where} (Asterisk {version}): logged in; {allowed}"
    except AmiError as exc:
        raise Failed(f"{where}: {exc}", "check that the PBX answers AMI actions (see docs/asterisk.md)") from None
    finally:
        await conn.close()


# -- directory -----------------------------------------------------------------------------------------------------


async def directory_server(settings: DirectorySettings, uri: str) -> str:
    """Bind to one server as the service account, read ``base_dn`` and look for one person."""
    return await asyncio.to_thread(_directory_server, settings, uri)


def _directory_server(settings: DirectorySettings, uri: str) -> str:
    import dataclasses

    from ldap3 import BASE, SUBTREE

    from directory import DirectoryClient, DirectoryError, ErrorKind

    config = dataclasses.replace(settings.client_config(), servers=(uri,), retries=0)
    client = DirectoryClient(config)

    def probe(conn: Any, server: str) -> Failed | str:  # returned, not raised: the client would classify it
        if not conn.search(config.base_dn, "(objectClass=*)", search_scope=BASE, attributes=["1.1"]):
            result = conn.result or {}
            return Failed(
                f"bound, but cannot read base_dn {config.base_dn!r}: {result.get('description')} "
                f"{result.get('message') or ''}".strip(),
                "set [directory] base_dn to an existing entry the service account may read, e.g. "
                "OU=People,DC=corp,DC=example",
            )
        conn.search(config.base_dn, config.user_filter, search_scope=SUBTREE, attributes=["1.1"], size_limit=1)
        found = bool(conn.entries) or (conn.result or {}).get("description") == "sizeLimitExceeded"
        if not found:
            return Failed(
                f"bound and read {config.base_dn!r}, but no person matches user_filter under it",
                "check [directory] base_dn (the OU holding the people) and user_filter",
            )
        return f"bound as {config.bind_dn}; {config.base_dn} readable, people found"

    try:
        # one server, no retries: the client's bind and error classification, then the probe
        outcome = client._with_failover(probe)
    except DirectoryError as exc:
        fixes = {
            ErrorKind.BAD_CREDENTIALS: "set [directory] bind_dn and password (password_file / "
            "HELPLINE_DIRECTORY_PASSWORD) to the service account's",
            ErrorKind.TLS: "set [directory] ca_file to the CA of the domain controllers, and tls_server_name to "
            "the name in their certificate",
            ErrorKind.TLS_REQUIRED: "use ldaps:// (port 636) or starttls = true",
            ErrorKind.PERMISSION: "let the service account read base_dn (Read permission on the OU)",
        }
        raise Failed(
            exc.message,
            fixes.get(
                exc.kind, "check [directory] servers (host and port), that the domain controller runs, and the firewall"
            ),
        ) from None
    if isinstance(outcome, Failed):
        raise outcome
    return outcome


# -- Twilio --------------------------------------------------------------------------------------------------------


async def twilio(settings: TwilioSettings) -> str:
    from twilio.base.exceptions import TwilioRestException

    from notify.channels import TwilioSms

    sms = TwilioSms(
        settings.account_sid,
        settings.auth_token.get_secret_value(),
        settings.from_number,
        base_url=settings.api_base_url,
        timeout=settings.timeout.total_seconds(),
    )
    await sms.start()
    try:
        try:
            account = await sms.client.api.v2010.accounts(settings.account_sid).fetch_async()
        except TwilioRestException as exc:
            if exc.status in (401, 403, 404):
                raise Failed(
                    f"Twilio refused account {settings.account_sid}: {exc.code or exc.status} {exc.msg}",
                    "set [notify.twilio] account_sid and auth_token (auth_token_file / "
                    "HELPLINE_NOTIFY_TWILIO_AUTH_TOKEN) to the values in the Twilio console",
                ) from None
            raise Failed(f"Twilio answered {exc.status}: {exc.msg}", "try again later; status.twilio.com") from None
        if str(getattr(account, "status", "active")) not in ("active", "None"):
            raise Failed(
                f"Twilio account {settings.account_sid} is {account.status}",
                "reactivate the account in the Twilio console",
            )
        numbers = await sms.client.incoming_phone_numbers.list_async(phone_number=settings.from_number, limit=20)
        if not any(n.phone_number == settings.from_number for n in numbers):
            raise Failed(
                f"{settings.from_number} is not a phone number of account {settings.account_sid}",
                "set [notify.twilio] from_number to one of the account's numbers (Phone Numbers > "
                "Active numbers), or buy or port this one",
            )
        return (
            f"account {settings.account_sid} ({getattr(account, 'friendly_name', '')}) active; sends from "
            f"{settings.from_number}"
        )
    except (TimeoutError, OSError) as exc:
        raise Failed(
            f"cannot reach {settings.api_base_url}: {type(exc).__name__}: {exc}",
            "check the network, the proxy and [notify.twilio] api_base_url",
        ) from None
    finally:
        await sms.close()


# -- Slack ---------------------------------------------------------------------------------------------------------


async def slack(settings: NotifySettings) -> str:
    from slack_sdk.errors import SlackApiError

    from notify.channels import SlackChat
    from notify.policy import Target

    assert settings.slack is not None
    channels = sorted(
        {t.name for p in settings.policies for s in p.steps for t in map(Target.parse, s.notify) if t.kind == "slack"}
    )
    chat = SlackChat(
        settings.slack.bot_token.get_secret_value(),
        base_url=settings.slack.api_base_url,
        timeout=settings.slack.timeout.total_seconds(),
    )
    await chat.start()
    try:
        try:
            me = await chat.client.auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
            fix = (
                (
                    "set [notify.slack] bot_token (bot_token_file / HELPLINE_NOTIFY_SLACK_BOT_TOKEN) to the Bot User "
                    "OAuth Token (OAuth & Permissions page of the Slack app)"
                )
                if error in SLACK_AUTH_ERRORS
                else "see https://api.slack.com/methods/auth.test for this error"
            )
            raise Failed(f"Slack refused the bot token: {error}", fix) from None
        problems = [p for p in [await _slack_channel(chat, name) for name in channels] if p]
        if problems:
            raise Failed(
                "; ".join(problems),
                "invite the bot to each channel (/invite @<bot> in the channel), fix "
                "the slack: targets of [[notify.policies]], or give the app the channels:read and "
                "groups:read scopes",
            )
        where = f" and can post to {', '.join(channels)}" if channels else ""
        return f"bot {me.get('user')} of team {me.get('team')} authenticated{where}"
    except (TimeoutError, OSError) as exc:
        raise Failed(
            f"cannot reach {settings.slack.api_base_url}: {type(exc).__name__}: {exc}",
            "check the network, the proxy and [notify.slack] api_base_url",
        ) from None
    finally:
        await chat.close()


async def _slack_channel(chat: Any, name: str) -> str | None:
    """None if the bot is in the channel ``name`` (an id, or a #name looked up in conversations.list)."""
    from slack_sdk.errors import SlackApiError

    try:
        if SLACK_CHANNEL_ID.match(name):
            found = (await chat.client.conversations_info(channel=name))["channel"]
        else:
            wanted, cursor, found = name.lstrip("#"), None, None
            for _ in range(20):  # 20 pages of 200 channels
                page = await chat.client.conversations_list(
                    types="public_channel,private_channel", limit=200, exclude_archived=True, cursor=cursor
                )
                found = next((c for c in page["channels"] if c.get("name") == wanted), None)
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if found is not None or not cursor:
                    break
            if found is None:
                return f"{name}: no such channel (or the bot cannot see it)"
    except SlackApiError as exc:
        return f"{name}: {exc.response.get('error') or exc}"
    if found.get("is_archived"):
        return f"{name}: the channel is archived"
    if not found.get("is_member"):
        return f"{name}: the bot is not a member"
    return None


# -- Redis ---------------------------------------------------------------------------------------------------------


async def redis(url: str) -> str:
    import redis.asyncio as aioredis
    from redis.exceptions import AuthenticationError, RedisError

    from web.settings import redact_url

    client = aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await client.ping()
    except AuthenticationError as exc:
        raise Failed(
            f"{redact_url(url)}: {exc}",
            "set the password in [live] redis_url / HELPLINE_REDIS_URL (redis://:PASSWORD@host:6379/0)",
        ) from None
    except (RedisError, OSError) as exc:
        raise Failed(
            f"{redact_url(url)}: {type(exc).__name__}: {exc}",
            "check [live] redis_url / HELPLINE_REDIS_URL and that Redis runs (redis-cli ping)",
        ) from None
    finally:
        await client.aclose()
    return f"{redact_url(url)}: PING answered"
