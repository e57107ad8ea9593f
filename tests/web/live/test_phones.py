"""The agent's own phone, end to end: recordings replayed to helpline's real AMI client -> ``agent.phone`` /
``pbx.link`` live messages -> ``GET /api/v1/agents/me/phone``; pausing through ``POST /api/v1/agents/me/pause``
reaches the (replayed) PBX as ``QueuePause``; the automatic wrap-up pause."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pbx.frames import recorded_messages
from pbx.replay import Recording, ReplayServer, Session
from pbx.tracker import CallTracker
from tests.support.ami import AMI, SECRET, USER, recording, until_caught_up
from tests.support.telephony import settings_for
from tests.support.waiting import eventually
from tickets.agent_service import AgentService
from tickets.calls.intake import CallIntake
from tickets.models import Agent, Role
from tickets.ticket_service import TicketService
from web.app import create_app
from web.live.audience import for_agent
from web.live.broker import MemoryBroker
from web.live.message import LiveMessage
from web.live.phones import PhonePublisher
from web.runtime import runtime_of
from web.runtime.leadership import Leadership
from web.runtime.phones import NoPbx, phone_view, set_paused
from web.runtime.telephony import PbxListener

V1 = "/api/v1"


@asynccontextmanager
async def helpline(
    database_url: str, server: ReplayServer, **pbx: Any
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    settings = settings_for(database_url, server.port)
    if pbx:
        settings = settings.model_copy(update={"pbx": [settings.pbx[0].model_copy(update=pbx)]})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
            yield app, http


async def agent(login: str, extension: str | None, role: Role = Role.AGENT) -> tuple[Agent, dict[str, str]]:
    agents = AgentService()
    row = await agents.create(login=login, display_name=login.title(), role=role, extension=extension)
    return row, {"Authorization": f"Bearer {(await agents.issue_token(row.id))[1]}"}


async def published(app: Starlette) -> list[LiveMessage]:
    """Every live message published so far (the in-process broker's history)."""
    async with runtime_of(app).live.subscribe("0") as feed:
        return await feed.batch(0.05)


def pauses(server: ReplayServer) -> list[tuple[str, str, str | None, str | None]]:
    """The QueuePause actions the PBX received: (interface, paused, queue, reason)."""
    return [
        (a["Interface"], a["Paused"], a.get("Queue"), a.get("Reason"))
        for a in server.received
        if a.get("Action") == "QueuePause"
    ]


async def test_the_agent_sees_their_phone_and_pauses_themselves(database_url: str) -> None:
    """a: Alice (101) rings, answers, talks, hangs up. She sees her phone do so (Bob does not), then pauses herself
    with a reason and unpauses: each is a QueuePause the PBX receives, and the state follows Asterisk's answer.
    Replayed at 4x the recorded pace: changes within one burst of events are published together (the last one)."""
    async with ReplayServer([recording("a_answered.raw")], username=USER, secret=SECRET, speed=4) as server:
        async with helpline(database_url, server) as (app, http):
            alice, as_alice = await agent("alice", "101")
            bob, as_bob = await agent("bob", "102")
            sam, as_sam = await agent("sam", None, Role.SUPERVISOR)
            await until_caught_up(server, runtime_of(app).pbx["main"])
            messages = await published(app)
            phones = [m for m in messages if m.type == "agent.phone"]
            alice_sees = [m.data["state"] for m in phones if for_agent(m, alice) is not None]
            assert [s for i, s in enumerate(alice_sees) if i == 0 or alice_sees[i - 1] != s] == [
                "ringing",
                "in_call",
                "free",
            ]
            assert not [m for m in phones if for_agent(m, bob) is not None]  # another agent's phone
            assert all(for_agent(m, sam) is not None for m in phones)  # supervisors see every phone
            assert {"pbx": "main", "up": True} in [m.data for m in messages if m.type == "pbx.link"]

            r = await http.get(f"{V1}/agents/me/phone", headers=as_alice)
            assert r.status_code == 200, r.text
            assert r.json() == {
                "pbx_link": "up",
                "pbx": "main",
                "extension": "101",
                "registered": True,
                "state": "free",
                "reason": None,
                "queues": [{"queue": "helpdesk", "paused": False, "reason": None}],
            }

            r = await http.post(f"{V1}/agents/me/pause", json={"reason": "Обед ☕ พักเที่ยง"}, headers=as_alice)
            assert r.status_code == 200, r.text
            assert (r.json()["state"], r.json()["reason"]) == ("paused", "Обед ☕ พักเที่ยง")
            assert r.json()["queues"] == [{"queue": "helpdesk", "paused": True, "reason": "Обед ☕ พักเที่ยง"}]
            assert pauses(server) == [("Local/101@agents", "true", "helpdesk", "Обед ☕ พักเที่ยง")]
            last = [m for m in await published(app) if m.type == "agent.phone"][-1]
            assert (last.data["extension"], last.data["state"]) == ("101", "paused")

            r = await http.post(f"{V1}/agents/me/unpause", json={}, headers=as_alice)
            assert r.status_code == 200, r.text
            assert (r.json()["state"], r.json()["queues"][0]["paused"]) == ("free", False)
            assert pauses(server)[-1] == ("Local/101@agents", "false", "helpdesk", None)

            # Bob's phone is in no queue; Sam has no phone: nothing to pause, and nothing sent
            for headers in (as_bob, as_sam):
                r = await http.post(f"{V1}/agents/me/pause", json={"reason": "break"}, headers=headers)
                assert r.status_code == 409, r.text
                assert r.json()["type"].endswith("not-a-queue-member")
            r = await http.post(f"{V1}/agents/me/pause", json={"reason": "break", "queue": "sales"}, headers=as_alice)
            assert r.status_code == 409
            r = await http.get(f"{V1}/agents/me/phone", headers=as_sam)
            assert (r.json()["extension"], r.json()["state"], r.json()["queues"]) == (None, "unknown", [])
            for bad in ({}, {"reason": ""}, {"reason": "a\r\nAction: Originate"}, {"reason": "x", "extra": 1}):
                r = await http.post(f"{V1}/agents/me/pause", json=bad, headers=as_alice)
                assert r.status_code == 422, (bad, r.text)
            assert len(pauses(server)) == 2


async def test_with_the_pbx_link_down_pausing_is_refused_and_the_console_is_told(database_url: str) -> None:
    async with ReplayServer([recording("a_answered.raw")], username=USER, secret=SECRET) as server:
        async with helpline(database_url, server) as (app, http):
            _, as_alice = await agent("alice", "101")
            listener = runtime_of(app).pbx["main"]
            await until_caught_up(server, listener)
            await server.close()
            await eventually(lambda: not listener.connection.connected, what="the AMI link lost")

            async def told_down() -> bool:
                links = [m.data for m in await published(app) if m.type == "pbx.link"]
                return links[-1] == {"pbx": "main", "up": False}

            await eventually(told_down, what="pbx.link down published")
            r = await http.get(f"{V1}/agents/me/phone", headers=as_alice)
            assert r.status_code == 200
            assert (r.json()["pbx_link"], r.json()["state"], r.json()["registered"]) == ("down", "unknown", None)
            r = await http.post(f"{V1}/agents/me/pause", json={"reason": "break"}, headers=as_alice)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_wrap_up_pauses_after_the_call_and_unpauses_when_due(database_url: str) -> None:
    """[pbx.wrapup] helpdesk = 1s: Alice's call ends -> paused "wrap-up" -> unpaused a second later."""
    async with ReplayServer([recording("a_answered.raw")], username=USER, secret=SECRET) as server:
        async with helpline(database_url, server, wrapup={"helpdesk": timedelta(seconds=1)}) as (app, http):
            _, as_alice = await agent("alice", "101")
            listener = runtime_of(app).pbx["main"]
            await until_caught_up(server, listener)
            await eventually(lambda: len(pauses(server)) == 2, what="the wrap-up pause and its end")
            assert pauses(server) == [
                ("Local/101@agents", "true", "helpdesk", "wrap-up"),
                ("Local/101@agents", "false", "helpdesk", None),
            ]
            # the PBX received the unpause; its QueueMemberPause event (and the state published from it) follows

            async def phone_states() -> list[str]:
                return [m.data["state"] for m in await published(app) if m.type == "agent.phone"]

            async def freed() -> bool:
                return (await phone_states())[-2:] == ["paused", "free"]

            await eventually(freed, what="the agent shown paused, then free again")
            r = await http.get(f"{V1}/agents/me/phone", headers=as_alice)
            assert r.json()["state"] == "free"


async def test_wrap_up_leaves_a_pause_the_agent_chose_meanwhile(database_url: str) -> None:
    async with ReplayServer([recording("a_answered.raw")], username=USER, secret=SECRET) as server:
        async with helpline(database_url, server, wrapup={"helpdesk": timedelta(seconds=1.5)}) as (app, http):
            _, as_alice = await agent("alice", "101")
            listener = runtime_of(app).pbx["main"]
            await until_caught_up(server, listener)
            await eventually(lambda: len(pauses(server)) == 1, what="the wrap-up pause")
            r = await http.post(f"{V1}/agents/me/pause", json={"reason": "Meeting"}, headers=as_alice)
            assert r.status_code == 200 and r.json()["reason"] == "Meeting"
            await eventually(lambda: listener.wrapup.under_way == 0, what="the wrap-up over")
            assert [p[1] for p in pauses(server)] == ["true", "true"]  # no unpause: her pause stands
            r = await http.get(f"{V1}/agents/me/phone", headers=as_alice)
            assert (r.json()["state"], r.json()["reason"]) == ("paused", "Meeting")


async def test_a_wrap_up_pause_left_over_is_ended_at_the_resync(database_url: str) -> None:
    """helpline restarted (or another instance took over) while Carol (103) was paused for wrap-up: the QueueStatus
    of the resync shows it, since long ago, and the pause is ended at once.

    No recording has a member paused with reason "wrap-up": the QueueStatus answer is f's, with Carol's recorded
    item changed to Paused 1 / PausedReason wrap-up / LastPause 10 minutes ago (HAND-MADE from the recording)."""
    rec = Recording.load(recording("f_resync_snapshot.raw"))
    for item in rec.snapshots["queuestatus"].items:
        if item.get("Event") == "QueueMember" and item.get("Location") == "Local/103@agents":
            item.update(Paused="1", PausedReason="wrap-up", LastPause=str(int(time.time()) - 600))
    async with ReplayServer([Session(rec)], username=USER, secret=SECRET) as server:
        # f's live calls end after the resync; if Carol's does before the overdue unpause is sent, her new 2 s
        # wrap-up replaces it (the hand-made state has her paused and in a call at once): unpaused either way
        async with helpline(database_url, server, wrapup={"helpdesk": timedelta(seconds=2)}) as (app, _):
            carol = "Local/103@agents"
            await eventually(
                lambda: (carol, "false", "helpdesk", None) in pauses(server), what="the overdue wrap-up ended"
            )
            wrapup = runtime_of(app).pbx["main"].wrapup
            await eventually(lambda: wrapup.unpaused >= 1, what="the PBX's answer to the unpause")


def frame(**headers: str) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n"


async def test_registration_follows_contact_and_peer_status(database_url: str) -> None:
    """No recording has PJSIP ContactStatus / PeerStatus events (the lab's members are Local channels): these frames
    are HAND-MADE in Asterisk 22's documented format, injected after a (a_answered) into the real AMI stream."""
    async with ReplayServer([recording("a_answered.raw")], username=USER, secret=SECRET) as server:
        async with helpline(database_url, server) as (app, http):
            _, as_alice = await agent("alice", "101")
            await until_caught_up(server, runtime_of(app).pbx["main"])

            async def phone() -> dict[str, Any]:
                r = await http.get(f"{V1}/agents/me/phone", headers=as_alice)
                assert r.status_code == 200
                return dict(r.json())

            assert (await phone())["registered"] is True
            now = f"{time.time():.6f}"
            server.inject(
                frame(
                    Event="ContactStatus",
                    Privilege="system,all",
                    Timestamp=now,
                    URI="sip:101@192.0.2.10:5060",
                    ContactStatus="Unreachable",
                    AOR="101",
                    EndpointName="101",
                    RoundtripUsec="0",
                )
            )
            await eventually(
                lambda: runtime_of(app).pbx["main"].tracker.phones.phone("101").registered is False,
                what="the phone unreachable",
            )
            assert ((await phone())["registered"], (await phone())["state"]) == (False, "unknown")
            server.inject(
                frame(
                    Event="PeerStatus",
                    Privilege="system,all",
                    Timestamp=now,
                    ChannelType="PJSIP",
                    Peer="PJSIP/101",
                    PeerStatus="Reachable",
                )
            )
            await eventually(
                lambda: runtime_of(app).pbx["main"].tracker.phones.phone("101").registered is True,
                what="the phone reachable again",
            )
            assert ((await phone())["registered"], (await phone())["state"]) == (True, "free")
            states = [m.data["registered"] for m in await published(app) if m.type == "agent.phone"]
            assert states[-2:] == [False, True]


async def test_a_standby_instance_answers_from_what_the_leader_published() -> None:
    """With several instances, the one asked may not hold the PBX: it shows the phone as the leader last published it
    (agent.phone, pbx.link through the broker) and refuses to pause (503: only the leader can send QueuePause)."""
    broker = MemoryBroker()
    tracker = CallTracker("main", ["helpdesk"])
    publisher = PhonePublisher("main", broker)
    publisher.follow(tracker.phones)
    publisher.link(True)
    for message in recorded_messages(AMI / "b_abandoned.raw"):  # b: the members pause, "sim-all-agents-away"
        tracker.feed(message)
        if message.get("Event") == "QueueMemberPause" and message.get("Interface") == "Local/101@agents":
            break

    def seen() -> dict[str, Any] | None:
        return broker.phones.phone("101")

    await eventually(lambda: (seen() or {}).get("state") == "paused", what="the pause published")
    settings = settings_for("sqlite://:memory:", 5038)
    standby = PbxListener(settings.pbx[0], CallIntake(TicketService()))

    async def nothing() -> None:
        return None

    standby.leadership = Leadership("postgresql://unused/db", "helpline.pbx:main", nothing, nothing)
    assert standby.role == "standby"
    listeners = {"main": standby}
    assert phone_view(listeners, broker.phones, "101").as_json() == {
        "pbx_link": "up",
        "pbx": "main",
        "extension": "101",
        "registered": True,
        "state": "paused",
        "reason": "sim-all-agents-away",
        "queues": [{"queue": "helpdesk", "paused": True, "reason": "sim-all-agents-away"}],
    }
    with pytest.raises(NoPbx, match="does not hold PBX main"):
        await set_paused(listeners, broker.phones, "101", False)
    publisher.link(False)
    await eventually(lambda: broker.phones.link("main") is False, what="the link down published")
    down = phone_view(listeners, broker.phones, "101").as_json()
    assert (down["pbx_link"], down["state"], down["registered"]) == ("down", "unknown", None)
    publisher.stop()
