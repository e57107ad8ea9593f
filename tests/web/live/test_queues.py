"""Queue stats and queue membership in the live stream: the PBX's queue board -> coalesced ``queue.stats`` ->
who sees which queue's calls; ``GET /api/v1/queues``. Fed by the recordings (parsed, or replayed to a real server)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import redis

from pbx.frames import recorded_messages
from pbx.replay import ReplayServer, Session
from pbx.tracker import CallTracker
from tests.support.ami import AMI, SECRET, USER, recording_at, split_recording, until_caught_up
from tests.support.console import ThreadedReplay
from tests.support.live import SseClient, add_agents
from tests.support.servers import Server, start_server, stop_server
from tests.support.services import service_missing
from tests.support.waiting import eventually, wait_until
from tickets.agent_service import AgentService
from tickets.models import Agent, Call, Role
from web.app import create_app
from web.live.audience import for_agent
from web.live.broker import MemoryBroker
from web.live.message import LiveMessage
from web.live.queues import QueueRegistry, QueueStatsPublisher, stats_data
from web.runtime import runtime_of
from web.settings import Settings

V1 = "/api/v1"
REDIS_URL = "redis://127.0.0.1:6379/0"


def recorded(name: str) -> list[dict[str, str]]:
    path = AMI / name
    return list(recorded_messages(path if path.exists() else path.with_name(name + ".gz")))


async def drain(feed: object, wait: float) -> list[LiveMessage]:
    out: list[LiveMessage] = []
    while True:
        messages = await feed.batch(wait)  # type: ignore[attr-defined]
        if not messages:
            return out
        out += messages


async def test_a_storm_of_200_calls_is_a_few_queue_stats_messages() -> None:
    broker = MemoryBroker()
    tracker = CallTracker("main", ["helpdesk"])
    publisher = QueueStatsPublisher("main", tracker.board, broker, interval=0.2)
    messages = recorded("d_storm200.raw")
    changes = 0

    def count(queue: str) -> None:
        nonlocal changes
        changes += 1
        publisher.changed(queue)

    tracker.board.on_change = count
    loop = asyncio.get_running_loop()
    try:
        async with broker.subscribe(None) as feed:
            started = loop.time()
            for start in range(0, len(messages), 500):  # ~25,000 events in about a second
                for message in messages[start : start + 500]:
                    tracker.feed(message)
                await asyncio.sleep(0.02)  # the storm's pace: it must span several intervals to be coalesced
            elapsed = loop.time() - started
            stats = [m for m in await drain(feed, 0.6) if m.type == "queue.stats"]
    finally:
        publisher.stop()
    assert changes > 500  # the board changed hundreds of times...
    members_first_seen = 3  # each goes out at once (the filter needs it); everything else waits its turn
    assert len(stats) <= elapsed / 0.2 + 2 + members_first_seen, (len(stats), elapsed)
    last = stats[-1].data
    assert last == stats_data("main", tracker.board.stats("helpdesk")), "the last change is always published"
    assert (last["waiting"], last["answered_today"], last["abandoned_today"], last["timed_out_today"]) == (
        0,
        42,
        106,
        52,
    )
    assert {m["extension"] for m in last["members"]} == {"101", "102", "103"}
    assert broker.queues.snapshot() == [last]


async def test_a_member_first_seen_is_published_at_once() -> None:
    broker = MemoryBroker()
    tracker = CallTracker("main", ["helpdesk"])
    publisher = QueueStatsPublisher("main", tracker.board, broker, interval=30.0)
    try:
        async with broker.subscribe(None) as feed:
            for message in recorded("a_answered.raw"):  # the caller joins; the queue rings Alice; they talk
                tracker.feed(message)
                await asyncio.sleep(0)  # a turn of the loop between events, as the listener's reading gives
            stats = [m.data for m in await drain(feed, 0.3) if m.type == "queue.stats"]
    finally:
        publisher.stop()
    assert [(s["waiting"], [m["extension"] for m in s["members"]]) for s in stats] == [(1, []), (1, ["101"])]


def agent(login: str, extension: str | None, role: Role = Role.AGENT) -> Agent:
    return Agent(
        id=hash(login) % 1000, login=login, display_name=f"{login.title()} Agent", role=role, extension=extension
    )


def test_who_sees_which_queue() -> None:
    tracker = CallTracker("main", ["helpdesk", "vip"])
    for message in recorded("b_abandoned.raw"):  # Alice (101), Bob (102), Carol (103) are the helpdesk's members
        tracker.feed(message)
    registry = QueueRegistry()
    registry.observe(LiveMessage("1", "queue.stats", stats_data("main", tracker.board.stats("helpdesk"))))
    alice, dave, sam = agent("alice", "101"), agent("dave", "104"), agent("sam", None, Role.SUPERVISOR)
    call = {
        "pbx": "main",
        "linkedid": "L1",
        "call_id": 7,
        "queue": "helpdesk",
        "caller_number": "+15551230001",
        "agent_id": None,
        "agent_extension": "102",
        "ticket_id": 3,
        "wait_seconds": 4,
        "at": "2026-11-27T16:00:00Z",
    }
    ringing = LiveMessage("2", "call.ringing", call)
    answered = LiveMessage("3", "call.answered", call)
    offered = LiveMessage("4", "call.offered", {**call, "agent_extension": None})
    stats = LiveMessage("5", "queue.stats", stats_data("main", tracker.board.stats("helpdesk")))
    for message in (ringing, offered, stats):
        assert for_agent(message, alice, registry) is message, "a member: the queue board"
        assert for_agent(message, dave, registry) is None, "not a member of the helpdesk"
        assert for_agent(message, sam, registry) is message, "supervisors see everything"
    taken = for_agent(answered, alice, registry)
    assert taken is not None and taken.type == "call.taken" and "caller_number" not in taken.data
    assert for_agent(answered, agent("dave", "104"), registry) is None
    assert for_agent(answered, agent("bob", "102"), registry) is answered, "the screen pop of the answering agent"
    ended = LiveMessage("6", "call.ended", call)
    assert for_agent(ended, dave, registry) is ended, "call.ended only clears what was shown: everybody gets it"
    # members not known (yet): everybody sees the queue
    other = LiveMessage("7", "call.offered", {**call, "queue": "vip"})
    assert for_agent(other, dave, registry) is other
    assert for_agent(LiveMessage("9", "call.offered", {**call, "pbx": "branch"}), dave, registry) is not None


def test_a_call_in_no_queue_yet_reaches_supervisors_and_the_agent_it_rings_only() -> None:
    """Offered by ``[[pbx]] contexts`` (``queue`` null): not every agent's screen. Supervisors see it; an agent
    only when it rings at their phone; once it enters a queue (``call.queued``), that queue's members."""
    tracker = CallTracker("main", ["helpdesk"])
    for message in recorded("b_abandoned.raw"):  # Alice (101), Bob (102), Carol (103) are the helpdesk's members
        tracker.feed(message)
    registry = QueueRegistry()
    registry.observe(LiveMessage("1", "queue.stats", stats_data("main", tracker.board.stats("helpdesk"))))
    alice, dave, sam = agent("alice", "101"), agent("dave", "104"), agent("sam", None, Role.SUPERVISOR)
    call = {
        "pbx": "main",
        "linkedid": "L1",
        "call_id": 7,
        "queue": None,
        "caller_number": "+15551230001",
        "agent_id": None,
        "agent_extension": None,
        "ticket_id": 3,
        "wait_seconds": None,
        "at": "2026-11-27T16:00:00Z",
    }
    offered = LiveMessage("2", "call.offered", call)
    for who in (alice, dave):
        assert for_agent(offered, who, registry) is None, who.login
        assert for_agent(offered, who, None) is None, "nor when no queue's members are known"
    assert for_agent(offered, sam, registry) is offered
    rings_dave = LiveMessage("3", "call.ringing", {**call, "agent_extension": "104"})
    assert for_agent(rings_dave, dave, registry) is rings_dave, "the screen pop where it rings"
    assert for_agent(rings_dave, alice, registry) is None
    answered = LiveMessage("4", "call.answered", {**call, "agent_extension": "104"})
    assert for_agent(answered, dave, registry) is answered and for_agent(answered, alice, registry) is None
    queued = LiveMessage("5", "call.queued", {**call, "queue": "helpdesk"})
    assert for_agent(queued, alice, registry) is queued, "a member of the queue it entered"
    assert for_agent(queued, dave, registry) is None


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite://{path}"


def test_queue_members_get_the_queue_and_others_do_not(sqlite_url: str, tmp_path: Path) -> None:
    """f replayed through the local AMI server: helpline connects while 3 calls talk and 3 wait; QueueStatus names
    Alice, Bob and Carol as the helpdesk's members. Bob sees the queue (stats, every call of it), Dave (104) is in no
    queue and sees none of it; both hear of tickets and ends; GET /api/v1/queues shows the same."""
    tokens = add_agents(
        Settings.model_validate({"database": {"url": sqlite_url}}),
        ("bob", Role.AGENT, "102"),
        ("dave", Role.AGENT, "104"),
        ("sam", Role.SUPERVISOR, None),
    )
    with ThreadedReplay(AMI / "f_resync_snapshot.raw", USER, SECRET, speed=4.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\n'
        )
        server = start_server(sqlite_url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        clients: list[SseClient] = []
        try:

            def stream(login: str) -> SseClient:
                clients.append(
                    SseClient(server.base_url + f"{V1}/events", {"Authorization": f"Bearer {tokens[login]}"}).start()
                )
                return clients[-1]

            bob, dave, sam = stream("bob"), stream("dave"), stream("sam")
            pbx.play()
            first = bob.wait_for(lambda e: e.type == "queue.stats", timeout=30)
            assert first.data["waiting"] == 3 and first.data["busy"] == 3
            assert {m["extension"] for m in first.data["members"]} == {"101", "102", "103"}
            bob.wait_for(
                lambda e: e.type == "queue.stats" and e.data["waiting"] == 0 and e.data["available"] == 3, timeout=30
            )
            sam.wait_for(lambda e: e.type == "queue.stats" and e.data["available"] == 3, timeout=10)
            offered = [e for e in bob.events if e.type == "call.offered"]
            assert len(offered) == 6 and all(e.data["queue"] == "helpdesk" for e in offered)
            rung = [e.data["agent_extension"] for e in bob.events if e.type == "call.ringing"]
            assert {"101", "102", "103"} <= set(rung), "a member sees every call of the queue ring (the board)"
            assert any(e.type == "call.taken" for e in bob.events) and any(
                e.type == "call.answered" for e in bob.events
            )
            wait_until(
                lambda: dave.types().count("call.ended") >= 6, what="dave sees the 6 calls end", details=dave.types
            )
            assert dave.types().count("call.ended") == 6, dave.types()
            assert "ticket.created" in dave.types()
            assert not {"call.offered", "call.ringing", "call.answered", "call.taken", "queue.stats"} & set(
                dave.types()
            )

            def queues(login: str) -> list[dict[str, object]]:
                r = httpx.get(
                    server.base_url + f"{V1}/queues", headers={"Authorization": f"Bearer {tokens[login]}"}, timeout=10
                )
                assert r.status_code == 200, r.text
                return list(r.json()["items"])

            board = queues("bob")
            assert [(q["pbx"], q["queue"], q["waiting"], q["available"]) for q in board] == [("main", "helpdesk", 0, 3)]
            assert board[0]["answered_today"] >= 3
            assert queues("dave") == []
            assert [q["queue"] for q in queues("sam")] == ["helpdesk"]
        finally:
            for client in clients:
                client.close()
            stop_server(server)


def test_a_worker_started_later_learns_the_queues_through_redis(sqlite_url: str, tmp_path: Path) -> None:
    """Worker one follows the PBX (b: all three members pause, a caller abandons, they come back); worker two,
    started afterwards without a PBX, shows the same board from the Redis stream's history."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        service_missing(f"the live-events Redis test needs Redis on 127.0.0.1:6379: {exc}")
    tokens = add_agents(
        Settings.model_validate({"database": {"url": sqlite_url}}),
        ("bob", Role.AGENT, "102"),
        ("dave", Role.AGENT, "104"),
    )
    key = f"con7:queues:{uuid.uuid4().hex}"
    env = {"HELPLINE_REDIS_URL": REDIS_URL, "HELPLINE_LIVE_STREAM": key}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()

    def queues(server: Server, login: str) -> list[dict[str, object]]:
        r = httpx.get(
            server.base_url + f"{V1}/queues", headers={"Authorization": f"Bearer {tokens[login]}"}, timeout=10
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def figures(items: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return [(q["queue"], q["waiting"], q["available"], q["paused"], q["abandoned_today"]) for q in items]

    with ThreadedReplay(AMI / "b_abandoned.raw", USER, SECRET, speed=4.0) as pbx:
        config = tmp_path / "a" / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\n'
        )
        one = start_server(sqlite_url, tmp_path / "a", {**env, "HELPLINE_CONFIG": str(config)})
        two: Server | None = None
        try:
            pbx.play()
            wait_until(
                lambda: figures(queues(one, "bob")) == [("helpdesk", 0, 3, 0, 1)],
                what="worker one's board",
                details=lambda: figures(queues(one, "bob")),
            )
            two = start_server(sqlite_url, tmp_path / "b", env)
            assert figures(queues(two, "bob")) == [("helpdesk", 0, 3, 0, 1)]
            assert queues(two, "dave") == [], "dave is in no queue, on either worker"
        finally:
            stop_server(one)
            if two is not None:
                stop_server(two)
            redis.Redis.from_url(REDIS_URL).delete(key)


# -- the day's counters across a restart and a takeover --------------------------------------------------------

recording_today = recording_at  # a recording as if its calls were made today, from ``start`` on


def outcomes(name: str) -> Counter[str]:
    return Counter(json.loads(line)["outcome"] for line in (AMI / name).read_text().splitlines())


def today_start(seconds_needed: float) -> float:
    """Where a replay lasting ``seconds_needed`` may start so that it lies within today (server-local), mostly past."""
    now = time.time()
    start = now - seconds_needed - 10
    if datetime.fromtimestamp(start).date() != datetime.fromtimestamp(now).date():  # just after midnight
        start = datetime.combine(datetime.fromtimestamp(now).date(), datetime.min.time()).timestamp() + 1
    return start


async def until_board(
    app: object, token: str, expected: tuple[int, int, int], timeout: float = 30.0
) -> list[dict[str, object]]:
    """GET /api/v1/queues until the helpdesk shows ``expected`` (answered, abandoned, timed out) today."""
    shown: list[object] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:

        async def board() -> list[dict[str, object]] | None:
            r = await http.get(f"{V1}/queues", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            shown[:] = [
                (q["queue"], q["day"], (q["answered_today"], q["abandoned_today"], q["timed_out_today"])) for q in items
            ]
            return list(items) if shown == [("helpdesk", datetime.now().date().isoformat(), expected)] else None

        return await eventually(board, timeout, what=f"the board showing {expected} today", details=lambda: shown)


async def until_ended(count: int, timeout: float = 30.0) -> None:
    async def ended() -> bool:
        return await Call.filter(state="ended").count() >= count

    await eventually(ended, timeout, what=f"{count} calls ended")


def pbx_settings(database_url: str, port: int) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "pbx": [
                {
                    "name": "main",
                    "host": "127.0.0.1",
                    "port": port,
                    "username": USER,
                    "secret": SECRET,
                    "queues": ["helpdesk"],
                    "ping_interval": "2s",
                    "action_timeout": "2s",
                    "service_level": "10s",  # c's answers waited 1 to 20 s: some in time, some not
                }
            ],
        }
    )


async def supervisor_token() -> str:
    agents = AgentService()
    sam = await agents.create(login="sam", display_name="Sam", role=Role.SUPERVISOR)
    return (await agents.issue_token(sam.id))[1]


async def test_the_days_counters_survive_a_restart_and_a_takeover(database_url: str, tmp_path: Path) -> None:
    """c (20 calls today) replayed into helpline, which stops; a new helpline on the same database shows the same
    counts at once (from the calls recorded today, the PBX now idle); then its listener is deposed and elected again
    (a fresh tracker, as after a takeover) and b3 (5 more calls) adds to them."""
    c, b3 = outcomes("c_concurrent20_mixed.calls.jsonl"), outcomes("b3_all_agents_busy.calls.jsonl")
    first = (c["answered"], c["abandoned"], c["overflow-voicemail"])
    both = (first[0] + b3["answered"], first[1] + b3["abandoned"], first[2] + b3["overflow-voicemail"])
    start = today_start(120)
    calls_c = recording_today("c_concurrent20_mixed.raw", start, tmp_path)
    calls_b3 = recording_today("b3_all_agents_busy.raw", start + 60, tmp_path)
    async with ReplayServer([calls_c], username=USER, secret=SECRET) as pbx:
        app = create_app(pbx_settings(database_url, pbx.port))
        async with app.router.lifespan_context(app):
            token = await supervisor_token()
            await until_ended(sum(c.values()))
            before = await until_board(app, token, first)
    async with ReplayServer([None, calls_b3], username=USER, secret=SECRET) as pbx:
        app = create_app(pbx_settings(database_url, pbx.port))
        async with app.router.lifespan_context(app):
            after = await until_board(app, token, first)
            assert [(q["answered_today"], q["abandoned_today"], q["timed_out_today"]) for q in after] == [
                (q["answered_today"], q["abandoned_today"], q["timed_out_today"]) for q in before
            ]
            # the service level too: counted live from the events, then recounted from the calls recorded
            in_time = [(q["answered_in_time_today"], q["service_level"]) for q in before]
            assert [(q["answered_in_time_today"], q["service_level"]) for q in after] == in_time
            assert 0 < in_time[0][0] < first[0] and in_time[0][1] == round(in_time[0][0] / sum(first), 4)
            listener = runtime_of(app).pbx["main"]
            old_board = listener.tracker.board
            await listener.stop()  # deposed ...
            await listener.start()  # ... and elected again: a fresh tracker, the next PBX session (b3)
            assert listener.tracker.board is not old_board
            await until_ended(sum(c.values()) + sum(b3.values()))
            await until_board(app, token, both)


async def test_a_restart_mid_calls_counts_each_call_once(database_url: str, tmp_path: Path) -> None:
    """c cut at event 1500 (12 calls up, some answered): helpline stops there and a new one takes the rest, its
    resync finding the calls still up. Calls that ended before are counted from the database, the calls up from
    their events (an answer before the cut is in the database already): the day's counts are the recording's."""
    c = outcomes("c_concurrent20_mixed.calls.jsonl")
    path = recording_today("c_concurrent20_mixed.raw", today_start(60), tmp_path)
    first, rest = split_recording(path, 1500)
    async with ReplayServer([Session(first), Session(rest)], username=USER, secret=SECRET) as pbx:
        app = create_app(pbx_settings(database_url, pbx.port))
        async with app.router.lifespan_context(app):
            token = await supervisor_token()
            await until_caught_up(pbx, runtime_of(app).pbx["main"], streams=1)
            answered = await Call.filter(answered_at__isnull=False).count()
            up = await Call.exclude(state="ended").count()
            assert 0 < await Call.filter(state="ended").count() < sum(c.values()) and up > 0, "the cut falls mid-calls"
            assert await Call.filter(answered_at__isnull=False).exclude(state="ended").count() > 0, (
                "some calls up at the cut were answered already"
            )
        app = create_app(pbx_settings(database_url, pbx.port))
        async with app.router.lifespan_context(app):
            await until_ended(sum(c.values()))
            assert await Call.filter(answered_at__isnull=False).count() > answered
            wanted = (c["answered"], c["abandoned"], c["overflow-voicemail"])
            await until_board(app, token, wanted)
            # a publication still to come (coalesced) shows the board as it is once nothing more arrives
            await until_caught_up(pbx, runtime_of(app).pbx["main"])
            board = runtime_of(app).pbx["main"].tracker.board.stats("helpdesk")
            assert (board.answered_today, board.abandoned_today, board.timed_out_today) == wanted
