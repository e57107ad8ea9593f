"""The call tracker against the real Asterisk 22 AMI recordings and their ground truth (``*.calls.jsonl``).

Recordings are read from ``tests/fixtures/ami`` (``.raw`` or ``.raw.gz``), else from ``/work/shared/ami``; a test
whose recording is in neither place is skipped (a failure under ``HELPLINE_REQUIRE_ALL=1``).
"""

from __future__ import annotations

import gzip
import json
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from pbx.ami_values import channel_interface, event_time, interface_extension, unescape
from pbx.facts import AgentRinging, CallAnswered, CallEnded, CallOffered, CallQueued, Fact, Outcome
from pbx.frames import recorded_messages
from pbx.phones import PHONE_EVENTS
from pbx.queue_board import MEMBER_EVENTS, MemberState, QueueStats, member_state
from pbx.tracker import MAX_CLOCK_SKEW, CallTracker
from tests.support.paths import AMI
from tests.support.services import service_missing

RECORDING_DIRS = (AMI, Path("/work/shared/ami"))
QUEUES = ("helpdesk",)
LIST_ITEMS = {"CoreShowChannel", "QueueEntry", "QueueMember", "QueueParams"}
OUTCOMES = {
    "answered": Outcome.ANSWERED,
    "abandoned": Outcome.ABANDONED,
    "overflow-voicemail": Outcome.TIMEOUT,
}

# -- recordings ----------------------------------------------------------------------------------------------


def recording_path(name: str) -> Path:
    """``name`` in the fixtures (plain or gzipped), else in the shared folder; skip if in neither."""
    for folder in RECORDING_DIRS:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    service_missing(f"AMI recording {name} not found in {' or '.join(map(str, RECORDING_DIRS))}")
    raise AssertionError("unreachable")


@cache
def events(name: str) -> tuple[dict[str, str], ...]:
    """The recorded messages of ``X.raw``, parsed once per test session."""
    return tuple(recorded_messages(recording_path(name)))


@cache
def ground_truth(*names: str) -> tuple[dict, ...]:
    rows: list[dict] = []
    for name in names:
        path = recording_path(name)
        text = path.read_bytes()
        if path.suffix == ".gz":
            text = gzip.decompress(text)
        rows += [json.loads(line) for line in text.decode().splitlines() if line.strip()]
    return tuple(rows)


def last_time(messages: Iterable[Mapping[str, str]]) -> datetime:
    """The newest ``Timestamp`` among ``messages``."""
    stamps = [event_time(m.get("Timestamp")) for m in messages]
    return max(s for s in stamps if s is not None)


def play(tracker: CallTracker, messages: Iterable[Mapping[str, str]], *, snapshot: bool = False) -> list[Fact]:
    """Feed ``messages`` in order; with ``snapshot``, hand the resync list items to ``snapshot_calls`` when the
    ``CoreShowChannels`` list completes (as the listener does after connecting)."""
    facts: list[Fact] = []
    items: list[Mapping[str, str]] = []
    seen: datetime | None = None
    for message in messages:
        kind = message.get("Event")
        if snapshot and kind in LIST_ITEMS:
            items.append(message)
        elif snapshot and kind == "CoreShowChannelsComplete":
            assert seen is not None
            facts += tracker.snapshot_calls(items, seen)
            items = []
        facts += tracker.feed(message)
        seen = event_time(message.get("Timestamp")) or seen
    return facts


def by_call(facts: Iterable[Fact]) -> dict[str, list[Fact]]:
    calls: dict[str, list[Fact]] = {}
    for fact in facts:
        calls.setdefault(fact.linkedid, []).append(fact)
    return calls


def caller_id(caller: str) -> tuple[str, str]:
    """``"Alice Example" <+15551230001>`` -> (number, name); "" -> ("", "")."""
    if not caller:
        return "", ""
    match = re.fullmatch(r'"(.*)" <(.*)>', caller)
    assert match, caller
    return match.group(2), match.group(1)


def assert_fact_order(facts: Sequence[Fact]) -> None:
    """One call's facts: CallOffered, CallQueued?, AgentRinging*, CallAnswered?, CallEnded; times never go back."""
    state = None
    for fact in facts:
        if isinstance(fact, CallOffered):
            assert state is None, facts
            state = "offered"
        elif isinstance(fact, CallQueued):
            assert state == "offered" and isinstance(facts[0], CallOffered) and facts[0].queue is None, facts
            assert fact.queue in QUEUES
            state = "offered"
        elif isinstance(fact, AgentRinging):
            assert state == "offered", facts
        elif isinstance(fact, CallAnswered):
            assert state == "offered", facts
            state = "answered"
        else:
            assert isinstance(fact, CallEnded)
            assert state in ("offered", "answered"), facts
            state = "ended"
        assert fact.at.tzinfo is not None and fact.at.utcoffset() == timedelta(0)
    assert [f.at for f in facts] == sorted(f.at for f in facts), facts


def assert_matches_ground_truth(facts: list[Fact], truth: Sequence[dict], *, exact_times: bool = True) -> None:
    """Every placed call has exactly its facts, and they say what the ground truth says."""
    calls = by_call(facts)
    assert set(calls) == {row["uniqueid"] for row in truth}
    for row in truth:
        mine = calls[row["uniqueid"]]
        assert_fact_order(mine)
        kinds = Counter(type(f) for f in mine)
        assert kinds[CallOffered] == 1 and kinds[CallEnded] == 1, mine
        offered, ended = mine[0], mine[-1]
        assert isinstance(offered, CallOffered) and isinstance(ended, CallEnded)
        assert (offered.caller_number, offered.caller_name) == caller_id(row["caller"]), row
        assert offered.queue == "helpdesk"
        assert ended.outcome is OUTCOMES[row["outcome"]], (row, ended)
        assert ended.voicemail is (row["outcome"] == "overflow-voicemail"), (row, ended)
        assert ended.ended_by == (row["complete_reason"] or None), (row, ended)
        answers = [f for f in mine if isinstance(f, CallAnswered)]
        if row["outcome"] == "answered":
            assert len(answers) == 1
            assert answers[0].agent_name == row["agent"]
            assert answers[0].agent_extension in {"101", "102", "103"}
            assert ended.wait_seconds == int(row["holdtime"]) == answers[0].wait_seconds
            assert ended.talk_seconds is not None
            assert abs(ended.talk_seconds - (row["t_hangup"] - row["t_connect"])) <= 1.5, (row, ended)
            if exact_times:
                rung = [f.agent_name for f in mine if isinstance(f, AgentRinging)]
                assert row["agent"] in rung
        else:
            assert not answers and ended.talk_seconds is None
            assert ended.wait_seconds is not None
            expected_wait = row["qtimeout"] if ended.outcome is Outcome.TIMEOUT else row["t_hangup"] - row["t_join"]
            assert abs(ended.wait_seconds - expected_wait) <= 1.5, (row, ended)
        if exact_times:
            took = (ended.at - offered.at).total_seconds()
            assert abs(took - (row["t_hangup"] - row["t_join"])) < 0.5, (row, took)


def test_recordings_are_looked_up_in_the_fixtures_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = recording_path("a_answered.raw")
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "a_answered.raw.gz").write_bytes(gzip.compress(shared.read_bytes()))
    monkeypatch.setattr(f"{__name__}.RECORDING_DIRS", (fixtures, shared.parent))
    assert recording_path("a_answered.raw") == fixtures / "a_answered.raw.gz"
    assert list(recorded_messages(fixtures / "a_answered.raw.gz")) == list(events("a_answered.raw"))
    assert recording_path("b_abandoned.raw") == shared.parent / "b_abandoned.raw"
    monkeypatch.setattr(f"{__name__}.RECORDING_DIRS", (fixtures,))
    with pytest.raises((pytest.skip.Exception, pytest.fail.Exception)):
        recording_path("b_abandoned.raw")


# -- every recording against its ground truth ------------------------------------------------------------------

SIMPLE = [
    ("a_answered.raw", "a_answered.calls.jsonl"),
    ("b_abandoned.raw", "b_abandoned.calls.jsonl"),
    ("b2_abandoned_while_ringing.raw", "b2_abandoned_while_ringing.calls.jsonl"),
    ("b3_all_agents_busy.raw", "b3_all_agents_busy.calls.jsonl"),
    ("c_concurrent20_mixed.raw", "c_concurrent20_mixed.calls.jsonl"),
    ("d_storm200.raw", "d_storm200.calls.jsonl"),
]


@pytest.mark.parametrize(("recording", "truth"), SIMPLE, ids=[r.split("_")[0] for r, _ in SIMPLE])
def test_recording_matches_ground_truth(recording: str, truth: str) -> None:
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, events(recording))
    assert_matches_ground_truth(facts, ground_truth(truth))
    assert tracker.live == 0 and tracker.candidates == 0


def test_storm_outcome_totals() -> None:
    ended = [f for f in play(CallTracker("lab", QUEUES), events("d_storm200.raw")) if isinstance(f, CallEnded)]
    outcomes = Counter((f.outcome, f.voicemail) for f in ended)
    assert outcomes == {
        (Outcome.ANSWERED, False): 42,
        (Outcome.ABANDONED, False): 106,
        (Outcome.TIMEOUT, True): 52,
    }


def test_names_and_caller_ids_as_sent() -> None:
    facts = play(CallTracker("lab", QUEUES), events("c_concurrent20_mixed.raw"))
    offered = {f.caller_number: f.caller_name for f in facts if isinstance(f, CallOffered)}
    assert offered["+15551230011"] == "José Müller"
    assert offered["5551230012"] == "O'Brien, Pat"
    assert offered["anonymous"] == "Anonymous"
    assert offered[""] == ""  # no caller ID: Asterisk's <unknown>


def assert_cut_off(facts: list[Fact], truth: Sequence[dict], end: datetime | None = None) -> None:
    """The calls of ``truth`` were all cut off by the PBX going away: INTERRUPTED, the answered ones with their
    agent and their talk time, the others with their wait. ``end``: the moment they were last known to be up (a
    crash), else their hangup (the ground truth's ``t_hangup``)."""
    calls = by_call(facts)
    assert set(calls) == {row["uniqueid"] for row in truth}
    for row in truth:
        mine = calls[row["uniqueid"]]
        assert_fact_order(mine)
        offered, ended = mine[0], mine[-1]
        assert isinstance(offered, CallOffered) and isinstance(ended, CallEnded)
        assert (offered.caller_number, offered.caller_name) == caller_id(row["caller"]), row
        assert ended.outcome is Outcome.INTERRUPTED and ended.ended_by is None, (row, ended)
        if end is not None:
            assert ended.at == end, (row, ended)
        answers = [f for f in mine if isinstance(f, CallAnswered)]
        if row["t_connect"] is not None:  # talking when the PBX went away
            assert [a.agent_name for a in answers] == [row["agent"]], (row, mine)
            assert ended.wait_seconds == int(row["holdtime"]) and ended.talk_seconds is not None
            talked = (end - answers[0].at).total_seconds() if end else row["t_hangup"] - row["t_connect"]
            assert abs(ended.talk_seconds - talked) <= (0.5 if end else 1.5), (row, ended)
        else:  # waiting in the queue
            assert not answers and ended.talk_seconds is None and ended.wait_seconds is not None
            waited = (end - offered.at).total_seconds() if end else row["t_hangup"] - row["t_join"]
            assert abs(ended.wait_seconds - waited) <= (0.5 if end else 1.5), (row, ended)


def test_restart_then_reconnect() -> None:
    """e: 6 calls cut by ``core restart now`` (3 talking, 3 queued), then a new session after the restart with 2
    new calls, all through one tracker as the listener would do it. The queue reports the talking calls as completed
    by the caller and the waiting ones as abandoned; the restart cut both off: INTERRUPTED, the answered ones with
    their agent and talk time, and the restart adds nothing to the day's abandoned calls."""
    tracker = CallTracker("lab", QUEUES)
    before = play(tracker, events("e_restart.raw"))
    assert_cut_off(before, ground_truth("e_restart.pre.calls.jsonl"))
    stats = tracker.board.stats("helpdesk")
    assert (stats.answered_today, stats.abandoned_today, stats.timed_out_today) == (3, 0, 0)
    assert tracker.live == 0
    assert play(tracker, events("e_restart.conn2.raw")) == []  # accepted, then reset without a byte
    assert tracker.reconcile(set(), last_time(events("e_restart.raw"))) == []
    after = play(tracker, events("e_restart.conn3.raw"))
    assert_matches_ground_truth(after, ground_truth("e_restart.post.calls.jsonl"))
    assert tracker.live == 0 and tracker.candidates == 0


def test_resync_snapshot_picks_up_calls_already_up() -> None:
    """f: connected while 6 calls are up; the CoreShowChannels/QueueStatus items make them known at once."""
    tracker = CallTracker("lab", QUEUES)
    messages = events("f_resync_snapshot.raw")
    facts = play(tracker, messages, snapshot=True)
    assert_matches_ground_truth(facts, ground_truth("f_resync_snapshot.calls.jsonl"), exact_times=False)
    complete = next(i for i, m in enumerate(messages) if m.get("Event") == "CoreShowChannelsComplete")
    snapshot_time = last_time(messages[:complete])
    first = {f.linkedid: f for f in facts if isinstance(f, CallOffered)}
    assert all(f.at <= snapshot_time for f in first.values())  # offered when they came in, not when we looked
    answered_at_snapshot = {f.linkedid for f in facts if isinstance(f, CallAnswered) and f.at <= snapshot_time}
    assert answered_at_snapshot == {"1795796435.156", "1795796435.158", "1795796436.160"}
    assert tracker.live == 0 and tracker.candidates == 0


def test_resync_snapshot_twice_repeats_nothing() -> None:
    messages = events("f_resync_snapshot.raw")
    items = [m for m in messages if m.get("Event") in LIST_ITEMS]
    at = last_time(messages[:20])
    tracker = CallTracker("lab", QUEUES)
    first = tracker.snapshot_calls(items, at)
    assert Counter(type(f) for f in first) == {CallOffered: 6, CallAnswered: 3}
    assert tracker.snapshot_calls(items, at) == []
    assert tracker.live == 6


def test_calls_already_up_without_snapshot_are_adopted_from_queue_events() -> None:
    """Without the snapshot the queue events still name the queue: each call is offered at its first one."""
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, events("f_resync_snapshot.raw"))
    assert_matches_ground_truth(facts, ground_truth("f_resync_snapshot.calls.jsonl"), exact_times=False)
    assert tracker.live == 0 and tracker.candidates == 0


# -- duplicates, replays, late events --------------------------------------------------------------------------

ALL = [r for r, _ in SIMPLE] + ["e_restart.raw", "e_restart.conn3.raw", "f_resync_snapshot.raw"]


@pytest.mark.parametrize("recording", ALL, ids=[r.split("_")[0] + ("3" if "conn3" in r else "") for r in ALL])
def test_replaying_a_recording_adds_nothing(recording: str) -> None:
    tracker = CallTracker("lab", QUEUES)
    first = play(tracker, events(recording))
    assert first
    assert play(tracker, events(recording)) == []
    assert tracker.live == 0 and tracker.candidates == 0


@pytest.mark.parametrize("recording", ALL, ids=[r.split("_")[0] + ("3" if "conn3" in r else "") for r in ALL])
def test_every_event_twice_gives_the_same_facts(recording: str) -> None:
    once = play(CallTracker("lab", QUEUES), events(recording))
    twice = play(CallTracker("lab", QUEUES), (m for m in events(recording) for _ in range(2)))
    assert twice == once


@pytest.mark.parametrize("contexts", [(), ("it-line",)], ids=["queues", "contexts"])
@pytest.mark.parametrize("recording", ALL, ids=[r.split("_")[0] + ("3" if "conn3" in r else "") for r in ALL])
def test_events_outside_event_names_add_nothing(recording: str, contexts: tuple[str, ...]) -> None:
    """The listener's connection skips every event not in ``event_names`` (unparsed): the facts must not change."""
    names = CallTracker("lab", QUEUES, contexts=contexts).event_names
    assert {"QueueCallerJoin", "AgentConnect", "Hangup", "Shutdown"} <= names
    assert ({"Newexten", "NewCallerid"} <= names) is bool(contexts)
    assert not names & {"VarSet", "Cdr", "CEL"}
    assert "DeviceStateChange" in names  # the agents' phones (pbx.phones)
    everything = play(CallTracker("lab", QUEUES, contexts=contexts), events(recording))
    assert everything
    assert (
        play(CallTracker("lab", QUEUES, contexts=contexts), (m for m in events(recording) if m.get("Event") in names))
        == everything
    )


def test_overlapping_replay_after_reconnect_adds_nothing() -> None:
    """The second session repeats the last third of the first one (events the listener saw twice)."""
    messages = events("c_concurrent20_mixed.raw")
    cut = len(messages) * 2 // 3
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, messages[:cut]) + play(tracker, messages[cut // 2 :])
    assert facts == play(CallTracker("lab", QUEUES), messages)


def test_events_after_the_last_hangup_do_not_revive_the_call() -> None:
    messages = events("a_answered.raw")
    tracker = CallTracker("lab", QUEUES)
    play(tracker, messages)
    late = [m for m in messages if m.get("Event") in {"NewCallerid", "Cdr", "CEL", "Newchannel", "QueueCallerJoin"}]
    assert play(tracker, late) == []
    assert tracker.live == 0 and tracker.candidates == 0


def test_ended_memory_is_bounded() -> None:
    """Only the last ``ended_memory`` calls are remembered: an older one replayed is a new call again."""
    a, b = events("a_answered.raw"), events("b_abandoned.raw")
    tracker = CallTracker("lab", QUEUES, ended_memory=1)
    play(tracker, a)
    play(tracker, b)
    assert play(tracker, b) == []
    assert [type(f) for f in play(tracker, a)] == [CallOffered, AgentRinging, CallAnswered, CallEnded]


# -- the PBX goes away -----------------------------------------------------------------------------------------


def until(messages: Sequence[Mapping[str, str]], event: str, linkedid: str | None = None) -> list[Mapping[str, str]]:
    """``messages`` up to and including the first ``event`` (of ``linkedid``)."""
    for i, message in enumerate(messages):
        if message.get("Event") == event and (linkedid is None or message.get("Linkedid") == linkedid):
            return list(messages[: i + 1])
    raise AssertionError(f"no {event}")


def test_reconcile_ends_calls_the_pbx_no_longer_has() -> None:
    messages = events("c_concurrent20_mixed.raw")
    part = until(messages, "AgentConnect", "1795795915.100")  # 20 calls up, some answered, some already over
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, part)
    live = {lid for lid, fs in by_call(facts).items() if not isinstance(fs[-1], CallEnded)}
    answered = {f.linkedid for f in facts if isinstance(f, CallAnswered)} & live
    assert tracker.live == len(live) > 5 and answered
    keep = sorted(live - answered)[0]
    at = last_time(part) + timedelta(seconds=30)
    ended = tracker.reconcile({keep}, at)
    assert {f.linkedid for f in ended} == live - {keep}
    assert all(isinstance(f, CallEnded) and f.at == at for f in ended)
    for fact in ended:
        assert isinstance(fact, CallEnded)
        assert fact.talk_seconds is None and fact.hangup_cause is None  # the end was not seen
        if fact.linkedid in answered:  # the agent did talk to the caller; the end fell into our gap
            assert fact.outcome is Outcome.ANSWERED and fact.wait_seconds is not None and fact.ended_by is None
        else:  # still waiting when we lost sight of it
            assert fact.outcome is Outcome.INTERRUPTED
    assert tracker.live == 1
    assert tracker.reconcile([keep], at) == []
    assert [f.outcome for f in tracker.reconcile(set(), at)] == [Outcome.INTERRUPTED]  # type: ignore[union-attr]
    assert tracker.live == 0 and tracker.candidates == 0
    assert tracker.reconcile(set(), at) == []


def test_a_crash_cuts_the_calls_off_at_the_last_sign_of_life() -> None:
    """e up to the moment before ``core restart`` hangs the calls up, as a ``kill -9`` leaves it: no hangup, no
    ``Shutdown``. Asterisk comes back 24 s later without the calls: each ends INTERRUPTED at the last event Asterisk
    sent that the tracker reads, the 3 talking with their agent and their talk time up to then, the 3 waiting with
    their wait; nothing is counted as abandoned."""
    messages = events("e_restart.raw")
    cut = next(i for i, m in enumerate(messages) if m.get("Event") == "SoftHangupRequest" and m.get("Cause") == "4")
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, messages[:cut])
    last = last_time(m for m in messages[:cut] if m.get("Event") in tracker.event_names)
    assert tracker.last_event_at == last
    facts += tracker.reconcile(set(), last + timedelta(seconds=24), restarted=True)
    assert_cut_off(facts, ground_truth("e_restart.pre.calls.jsonl"), end=last)
    stats = tracker.board.stats("helpdesk")
    assert (stats.waiting, stats.answered_today, stats.abandoned_today, stats.timed_out_today) == (0, 3, 0, 0)
    assert tracker.live == 0 and tracker.candidates == 0


def test_reconcile_without_a_restart_keeps_answered_calls_answered() -> None:
    """The same moment, but Asterisk did not restart (a network blip): the calls ended while we were away, when is
    not known; an answered one was answered, the others are interrupted."""
    messages = events("e_restart.raw")
    cut = next(i for i, m in enumerate(messages) if m.get("Event") == "SoftHangupRequest" and m.get("Cause") == "4")
    tracker = CallTracker("lab", QUEUES)
    play(tracker, messages[:cut])
    back = last_time(messages[:cut]) + timedelta(seconds=24)
    ended = tracker.reconcile(set(), back)
    assert Counter(f.outcome for f in ended if isinstance(f, CallEnded)) == {
        Outcome.ANSWERED: 3,
        Outcome.INTERRUPTED: 3,
    }
    assert all(f.at == back and f.talk_seconds is None for f in ended if isinstance(f, CallEnded))


def test_calls_up_at_shutdown_end_interrupted() -> None:
    """An answered call and a queued one still up when ``Event: Shutdown`` arrives (their hangups never came)."""
    messages = events("b3_all_agents_busy.raw")
    part = [m for m in until(messages, "QueueCallerJoin", "1795795822.23") if m.get("Event") != "Hangup"]
    shutdown = {
        "Event": "Shutdown",
        "Privilege": "system,all",
        "Timestamp": "1795795830.000000",
        "Shutdown": "Cleanly",
        "Restart": "True",
    }
    tracker = CallTracker("lab", QUEUES)
    play(tracker, part)
    assert tracker.live == 5
    ended = {f.linkedid: f for f in tracker.feed(shutdown) if isinstance(f, CallEnded)}
    assert len(ended) == 5 and tracker.live == 0 and tracker.candidates == 0
    assert all(f.outcome is Outcome.INTERRUPTED for f in ended.values())
    talking = ended["1795795820.10"]
    assert talking.wait_seconds == 1 and talking.talk_seconds == 8 and talking.ended_by is None
    waiting = ended["1795795822.23"]
    assert waiting.wait_seconds == 7 and waiting.talk_seconds is None
    assert waiting.at == datetime(2026, 11, 27, 16, 10, 30, tzinfo=UTC)


def test_queue_decided_before_shutdown_keeps_its_outcome() -> None:
    """b3's callers timed out (in voicemail) when the PBX went away: TIMEOUT, not INTERRUPTED."""
    messages = events("b3_all_agents_busy.raw")
    part = until(messages, "QueueCallerAbandon", "1795795822.22")  # the later of the two
    tracker = CallTracker("lab", QUEUES)
    play(tracker, part)
    ended = {f.linkedid: f for f in tracker.feed({"Event": "Shutdown", "Timestamp": "1795795831.0"})}
    assert ended["1795795822.22"].outcome is Outcome.TIMEOUT  # type: ignore[union-attr]
    assert ended["1795795822.23"].outcome is Outcome.TIMEOUT  # type: ignore[union-attr]
    assert ended["1795795820.10"].outcome is Outcome.INTERRUPTED  # type: ignore[union-attr]


# -- contexts ----------------------------------------------------------------------------------------------------


def test_context_offers_before_the_queue() -> None:
    tracker = CallTracker("lab", QUEUES, contexts=["it-line"])
    messages = events("a_answered.raw")
    facts = play(tracker, messages)
    assert [type(f) for f in facts] == [CallOffered, CallQueued, AgentRinging, CallAnswered, CallEnded]
    offered, queued, ended = facts[0], facts[1], facts[-1]
    assert isinstance(offered, CallOffered) and isinstance(ended, CallEnded) and isinstance(queued, CallQueued)
    assert (offered.caller_number, offered.caller_name, offered.queue) == ("+15551230001", "Alice Example", None)
    assert offered.at == event_time(next(m for m in messages if m.get("Event") == "Newchannel")["Timestamp"])
    assert queued.queue == "helpdesk", "the queue it entered, once it entered it"
    assert queued.at == event_time(next(m for m in messages if m.get("Event") == "QueueCallerJoin")["Timestamp"])
    assert ended.outcome is Outcome.ANSWERED and ended.wait_seconds == 1


def test_context_call_that_hangs_up_before_the_queue() -> None:
    messages = events("a_answered.raw")
    before_queue = list(until(messages, "QueueCallerJoin"))[:-1]
    caller_hangups = [m for m in messages if m.get("Event") == "Hangup" and "it-line" in m["Channel"]]
    tracker = CallTracker("lab", QUEUES, contexts=["it-line"])
    facts = play(tracker, before_queue + caller_hangups)
    assert [type(f) for f in facts] == [CallOffered, CallEnded]
    ended = facts[1]
    assert isinstance(ended, CallEnded)
    assert ended.outcome is Outcome.HUNG_UP_BEFORE_QUEUE
    assert ended.wait_seconds is None and ended.talk_seconds is None
    assert ended.hangup_cause == "Normal Clearing"
    assert tracker.live == 0 and tracker.candidates == 0


def test_context_call_without_caller_id_is_offered_once() -> None:
    """A withheld caller never shows a number: the offer waits for the queue (or the end), and comes once."""
    tracker = CallTracker("lab", QUEUES, contexts=["it-line"])
    facts = by_call(play(tracker, events("b3_all_agents_busy.raw")))
    withheld = facts["1795795822.23"]
    assert [type(f) for f in withheld] == [CallOffered, CallEnded]
    assert withheld[0].caller_number == "" and withheld[0].queue == "helpdesk"  # type: ignore[union-attr]
    assert len(facts) == 5


def test_storm_with_contexts_has_the_same_outcomes() -> None:
    plain = [f for f in play(CallTracker("lab", QUEUES), events("d_storm200.raw")) if isinstance(f, CallEnded)]
    with_contexts = play(CallTracker("lab", QUEUES, contexts=["it-line"]), events("d_storm200.raw"))
    assert [f for f in with_contexts if isinstance(f, CallEnded)] == plain
    kinds = Counter(type(f) for f in with_contexts)
    assert kinds[CallOffered] == 200
    assert kinds[CallQueued] == 200 - sum(1 for f in with_contexts if isinstance(f, CallOffered) and f.queue)


# -- values --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interface", "extension"),
    [
        ("Local/101@agents", "101"),
        ("Local/101@agents/n", "101"),
        ("PJSIP/101", "101"),
        ("SIP/101", "101"),
        ("IAX2/2001", "2001"),
        ("PJSIP/alice", None),
        ("PJSIP/trunk/sip:101@10.0.0.1", None),
        ("Local/helpdesk-alice@agents", None),
        ("", None),
        ("101", None),
    ],
)
def test_extension_from_interface(interface: str, extension: str | None) -> None:
    assert interface_extension(interface) == extension


def test_channel_interface() -> None:
    assert channel_interface("Local/102@agents-00000054;1") == "Local/102@agents"
    assert channel_interface("PJSIP/101-0000001a") == "PJSIP/101"


def test_escaped_names_are_unescaped() -> None:
    assert unescape(r"O\'Brien, Pat") == "O'Brien, Pat"
    assert unescape(r"say \"hi\" \\o/") == 'say "hi" \\o/'
    join = dict(next(m for m in events("a_answered.raw") if m.get("Event") == "QueueCallerJoin"))
    join["CallerIDName"] = r"O\'Brien, Pat"
    called = dict(next(m for m in events("a_answered.raw") if m.get("Event") == "AgentCalled"))
    called["MemberName"] = r"D\'Arcy \"DJ\" Agent"
    tracker = CallTracker("lab", QUEUES)
    offered, ringing = tracker.feed(join) + tracker.feed(called)
    assert isinstance(offered, CallOffered) and offered.caller_name == "O'Brien, Pat"
    assert isinstance(ringing, AgentRinging) and ringing.agent_name == 'D\'Arcy "DJ" Agent'


def test_fact_time_is_the_event_timestamp_else_received_at() -> None:
    join = dict(next(m for m in events("a_answered.raw") if m.get("Event") == "QueueCallerJoin"))
    stamp = datetime(2026, 11, 27, 16, 9, 27, 827534, tzinfo=UTC)
    (fact,) = CallTracker("lab", QUEUES).feed(join)
    assert fact.at == stamp, "no clock of ours to compare with: Asterisk's"
    (fact,) = CallTracker("lab", QUEUES).feed(join, stamp + MAX_CLOCK_SKEW)
    assert fact.at == stamp, "the clocks agree closely enough: Asterisk's exact time"
    received = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    (fact,) = CallTracker("lab", QUEUES).feed(join, received)
    assert fact.at == received, "Asterisk's clock is years off: ours"
    del join["Timestamp"]
    (fact,) = CallTracker("lab", QUEUES).feed(join, received)
    assert fact.at == received
    before = datetime.now(UTC)
    (fact,) = CallTracker("lab", QUEUES).feed(join)
    assert before <= fact.at <= datetime.now(UTC)


def test_other_queues_and_other_pbx_names() -> None:
    assert play(CallTracker("lab", ["sales"]), events("c_concurrent20_mixed.raw")) == []
    facts = play(CallTracker("pbx-2", QUEUES), events("a_answered.raw"))
    assert {f.pbx for f in facts} == {"pbx-2"}


def test_panoramisk_messages_work_too() -> None:
    messages = events("c_concurrent20_mixed.raw")
    as_dicts = play(CallTracker("lab", QUEUES), messages)
    as_messages = play(CallTracker("lab", QUEUES), (Message(m) for m in messages))
    assert as_messages == as_dicts


def test_throughput_on_the_storm() -> None:
    """The whole pipeline must do >= 20,000 events/s; the tracker takes a small part of that budget."""
    messages = events("d_storm200.raw")
    best = 0.0
    for _ in range(3):
        tracker = CallTracker("lab", QUEUES)
        started = time.perf_counter()
        for message in messages:
            tracker.feed(message)
        best = max(best, len(messages) / (time.perf_counter() - started))
    print(f"tracker: {best:,.0f} events/s on d_storm200 ({len(messages)} events)")
    assert best > 200_000


# -- properties --------------------------------------------------------------------------------------------------


def assert_consistent(tracker: CallTracker, facts: list[Fact]) -> None:
    """Per call the facts are in order, nothing is said twice or after the end, ``live`` counts the open calls."""
    state: dict[str, str] = {}
    for fact in facts:
        now = state.get(fact.linkedid)
        if isinstance(fact, CallOffered):
            assert now is None, fact
            state[fact.linkedid] = "offered"
        elif isinstance(fact, CallQueued):
            assert now == "offered", fact
            state[fact.linkedid] = "queued"
        elif isinstance(fact, AgentRinging):
            assert now in ("offered", "queued"), fact
            state[fact.linkedid] = "offered"
        elif isinstance(fact, CallAnswered):
            assert now == "offered", fact
            state[fact.linkedid] = "answered"
        else:
            assert isinstance(fact, CallEnded) and now in ("offered", "answered"), fact
            state[fact.linkedid] = "ended"
    assert tracker.live == sum(1 for s in state.values() if s != "ended")


KEYS = [
    "Event",
    "Linkedid",
    "Uniqueid",
    "DestUniqueid",
    "Queue",
    "Timestamp",
    "HoldTime",
    "TalkTime",
    "Reason",
    "Context",
    "CallerIDNum",
    "CallerIDName",
    "MemberName",
    "Interface",
    "Channel",
    "Cause-txt",
]
EVENT_NAMES = [
    "Newchannel",
    "Hangup",
    "HangupRequest",
    "SoftHangupRequest",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
    "MessageWaiting",
    "Shutdown",
    "Newexten",
    "NewCallerid",
    "VarSet",
    "CoreShowChannel",
    "QueueEntry",
]
SMALL = [
    "1.0",
    "1.1",
    "2.2",
    "helpdesk",
    "it-line",
    "",
    "<unknown>",
    "1795795766.807010",
    "-1",
    "1e9",
    "99999999999999999",
]
values = st.one_of(st.sampled_from(SMALL), st.text(max_size=8))
random_events = st.dictionaries(
    st.one_of(st.sampled_from(KEYS), st.text(max_size=6)),
    st.one_of(st.sampled_from(EVENT_NAMES), values),
    max_size=8,
)
#: Real events (a call abandoned while ringing, the busy scenario's start), drawn inside the test (may skip).
pool = st.deferred(
    lambda: st.sampled_from(events("b2_abandoned_while_ringing.raw") + events("b3_all_agents_busy.raw")[:300])
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(pool, random_events), max_size=120),
    st.booleans(),
    st.lists(st.sampled_from(["1.0", "1.1", "1795795800.6", "1795795822.22"]), max_size=3),
)
def test_any_event_stream_is_handled_consistently(stream: list, with_contexts: bool, still_up: list) -> None:
    tracker = CallTracker("lab", QUEUES, contexts=["it-line"] if with_contexts else ())
    facts: list[Fact] = []
    for event in stream:
        facts += tracker.feed(event, datetime(2026, 1, 1, tzinfo=UTC))
    facts += tracker.snapshot_calls(stream, datetime(2026, 1, 2, tzinfo=UTC))
    assert_consistent(tracker, facts)
    facts += tracker.reconcile(still_up, datetime(2026, 1, 3, tzinfo=UTC))
    assert_consistent(tracker, facts)
    assert tracker.live <= len(set(still_up))


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=0, max_value=100))
def test_shuffled_duplicated_truncated_recordings(rnd: random.Random, percent: int) -> None:
    messages = list(events("c_concurrent20_mixed.raw"))
    messages = messages[: len(messages) * percent // 100]
    messages += rnd.sample(messages, k=len(messages) // 10)  # duplicates
    # local shuffles: swap neighbours, as if a few events came out of order
    for _ in range(len(messages) // 20):
        i = rnd.randrange(len(messages) - 1) if len(messages) > 1 else 0
        messages[i : i + 2] = messages[i : i + 2][::-1]
    tracker = CallTracker("lab", QUEUES)
    facts = play(tracker, messages)
    assert_consistent(tracker, facts)
    assert {f.linkedid for f in facts} <= {row["uniqueid"] for row in ground_truth("c_concurrent20_mixed.calls.jsonl")}
    facts += tracker.reconcile((), datetime(2027, 1, 1, tzinfo=UTC))
    assert_consistent(tracker, facts)
    assert tracker.live == 0 and tracker.candidates == 0


# -- the queue board (members, waiting calls, the day's counters) --------------------------------------------------


def board_steps(tracker: CallTracker, messages: Iterable[Mapping[str, str]]) -> list[tuple[str, QueueStats]]:
    """Feed ``messages``; after each, the event name and the helpdesk's stats."""
    steps = []
    for message in messages:
        tracker.feed(message)
        steps.append((message.get("Event", ""), tracker.board.stats("helpdesk")))
    return steps


def test_board_reads_member_events_and_nothing_else_new() -> None:
    names = CallTracker("lab", QUEUES).event_names
    assert MEMBER_EVENTS <= names
    assert not names & {"QueueParams", "QueueMember", "QueueEntry"}
    assert PHONE_EVENTS <= names  # DeviceStateChange, AgentRingNoAnswer...: the agents' phones (pbx.phones)


def test_board_all_members_paused_a_caller_waits_and_abandons() -> None:
    """b: the three members pause ("sim-all-agents-away"), a caller waits 5 s and hangs up, the members come back."""
    steps = board_steps(CallTracker("lab", QUEUES), events("b_abandoned.raw"))
    joined = next(s for e, s in steps if e == "QueueCallerJoin")
    assert (joined.waiting, joined.paused, joined.available, joined.busy) == (1, 3, 0, 0)
    assert {(m.extension, m.name, m.paused_reason) for m in joined.members} == {
        ("101", "Alice Agent", "sim-all-agents-away"),
        ("102", "Bob Agent", "sim-all-agents-away"),
        ("103", "Carol Agent", "sim-all-agents-away"),
    }
    abandoned = next(s for e, s in steps if e == "QueueCallerAbandon")
    assert abandoned.waiting == 0  # counted as abandoned when the call is over (its outcome is sure then)
    end = steps[-1][1]
    assert (end.available, end.paused, end.waiting, end.abandoned_today, end.timed_out_today) == (3, 0, 0, 1, 0)
    assert end.day == date(2026, 11, 27) and all(m.paused_reason == "" for m in end.members)


def test_board_agent_busy_while_talking_then_available() -> None:
    """a: Alice (Local/101@agents) is rung and talks; she is known as a member from the queue's own events."""
    steps = board_steps(CallTracker("lab", QUEUES), events("a_answered.raw"))
    connected = next(s for e, s in steps if e == "AgentConnect")
    assert (connected.waiting, connected.busy, connected.answered_today) == (0, 1, 1)
    assert [(m.interface, m.extension, m.state) for m in connected.members] == [
        ("Local/101@agents", "101", MemberState.BUSY)
    ]
    end = steps[-1][1]
    assert (end.available, end.busy, end.answered_today, end.abandoned_today) == (1, 0, 1, 0)


@pytest.mark.parametrize(
    "recording, truth",
    [("c_concurrent20_mixed.raw", "c_concurrent20_mixed.calls.jsonl"), ("d_storm200.raw", "d_storm200.calls.jsonl")],
    ids=["c", "d"],
)
def test_board_counts_agree_with_the_ground_truth(recording: str, truth: str) -> None:
    tracker = CallTracker("lab", QUEUES)
    steps = board_steps(tracker, events(recording))
    outcomes = Counter(row["outcome"] for row in ground_truth(truth))
    end = steps[-1][1]
    assert (end.answered_today, end.abandoned_today, end.timed_out_today) == (
        outcomes["answered"],
        outcomes["abandoned"],
        outcomes["overflow-voicemail"],
    )
    assert end.waiting == 0 and end.longest_wait == 0 and end.available == 3
    peak = max(steps, key=lambda step: step[1].waiting)[1]
    assert peak.waiting > 3 and peak.longest_wait > 0  # more callers than agents: they queued
    assert {m.extension for m in peak.members} == {"101", "102", "103"}


def test_board_from_a_resync_snapshot() -> None:
    """f: connected while 3 calls talk and 3 wait: QueueStatus names the members (all on a call) and the waiting."""
    tracker = CallTracker("lab", QUEUES)
    messages = events("f_resync_snapshot.raw")
    items = [m for m in messages if m.get("Event") in LIST_ITEMS]
    at = last_time(messages[:20])
    tracker.snapshot_calls(items, at)
    now = tracker.board.stats("helpdesk")
    assert (now.waiting, now.longest_wait, now.busy, now.available) == (3, 2, 3, 0)  # QueueEntry Wait: 2
    assert now.at == at and {m.extension for m in now.members} == {"101", "102", "103"}
    assert tracker.board.take_changed() == {"helpdesk"}
    play(tracker, (m for m in messages if m.get("Event") not in LIST_ITEMS))
    end = tracker.board.stats("helpdesk")
    assert (end.waiting, end.answered_today, end.available) == (0, 6, 3)  # 3 found talking + 3 answered since

    # a later resync that no longer lists Carol: she left the queue while we were away
    tracker.board.roster_changed.clear()
    tracker.snapshot_calls([m for m in items if m.get("Name") != "Carol Agent"], at + timedelta(minutes=1))
    assert {m.name for m in tracker.board.stats("helpdesk").members} == {"Alice Agent", "Bob Agent"}
    assert tracker.board.roster_changed == {"helpdesk"}


def test_board_members_added_and_removed_map_to_extensions() -> None:
    """QueueMemberAdded/Removed are not in the recordings (no member logged in or out there): they carry the fields
    of the recorded QueueMemberStatus, so the recorded event is reused with the name and interface changed."""
    status = next(m for m in events("a_answered.raw") if m.get("Event") == "QueueMemberStatus")
    tracker = CallTracker("lab", QUEUES)
    board = tracker.board
    tracker.feed(status)  # Alice Agent, Local/101@agents, rung (Status 2)
    assert [(m.extension, m.state) for m in board.stats("helpdesk").members] == [("101", MemberState.BUSY)]
    for interface, state_interface, extension in (
        ("PJSIP/4001", "PJSIP/4001", "4001"),
        ("Local/4002@from-queue/n", "PJSIP/4002", "4002"),
        ("PJSIP/dave", "PJSIP/4003", "4003"),
        ("PJSIP/erin", "Custom:erin", None),
    ):
        tracker.feed(
            {
                **status,
                "Event": "QueueMemberAdded",
                "Interface": interface,
                "StateInterface": state_interface,
                "MemberName": interface,
                "Status": "1",
            }
        )
        assert [m.extension for m in board.stats("helpdesk").members if m.interface == interface] == [extension]
    assert board.roster_changed == {"helpdesk"} and board.stats("helpdesk").available == 4
    board.roster_changed.clear()
    tracker.feed({**status, "Event": "QueueMemberStatus", "Status": "5"})  # Alice's phone unregistered
    assert board.roster_changed == set() and board.stats("helpdesk").unavailable == 1
    tracker.feed({**status, "Event": "QueueMemberRemoved", "Interface": "PJSIP/4001"})
    assert board.roster_changed == {"helpdesk"}
    assert "PJSIP/4001" not in {m.interface for m in board.stats("helpdesk").members}
    tracker.feed({**status, "Queue": "sales", "Event": "QueueMemberAdded", "Interface": "PJSIP/4009"})
    assert "PJSIP/4009" not in {m.interface for m in board.stats("helpdesk").members}  # not an IT-line queue


def test_board_counters_start_again_on_a_new_day() -> None:
    """The day's counters restart at midnight (of the board's zone); a late event of yesterday counts nowhere."""
    tracker = CallTracker("lab", QUEUES)
    play(tracker, events("a_answered.raw"))
    assert tracker.board.stats("helpdesk").answered_today == 1
    next_day = [
        {**m, "Timestamp": f"{float(m['Timestamp']) + 86400:.6f}"} if "Timestamp" in m else m
        for m in events("b_abandoned.raw")
    ]
    play(tracker, next_day)
    stats = tracker.board.stats("helpdesk")
    assert (stats.day, stats.answered_today, stats.abandoned_today) == (date(2026, 11, 28), 0, 1)
    play(tracker, events("b2_abandoned_while_ringing.raw"))  # yesterday's: too late to count
    assert tracker.board.stats("helpdesk").abandoned_today == 1


def test_board_seeded_with_the_day_counts_on_from_them() -> None:
    """A restarted listener seeds the day's counters (as recorded), then the tracker counts on; midnight still
    resets them; a seed of an earlier day than the board counts is ignored; the day's bounds follow the zone."""
    tracker = CallTracker("lab", QUEUES)
    board = tracker.board
    day = date(2026, 11, 27)  # the day of the recordings (UTC)
    assert board.seed_day(day, {"helpdesk": (11, 8, 1), "sales": (5, 5, 5)})  # not an IT-line queue: ignored
    assert board.take_changed() == {"helpdesk"}
    seeded = board.stats("helpdesk")
    assert (seeded.day, seeded.answered_today, seeded.abandoned_today, seeded.timed_out_today) == (day, 11, 8, 1)
    play(tracker, events("a_answered.raw"))
    play(tracker, events("b_abandoned.raw"))
    on = board.stats("helpdesk")
    assert (on.day, on.answered_today, on.abandoned_today, on.timed_out_today) == (day, 12, 9, 1)
    assert board.seed_day(day, {"helpdesk": (12, 9, 1)}) and board.stats("helpdesk").answered_today == 12, (
        "a seed sets the counters (a resync's recount), it does not add to them"
    )
    assert not board.seed_day(day - timedelta(days=1), {"helpdesk": (1, 1, 1)})
    assert board.stats("helpdesk").answered_today == 12
    next_day = [
        {**m, "Timestamp": f"{float(m['Timestamp']) + 86400:.6f}"} if "Timestamp" in m else m
        for m in events("b2_abandoned_while_ringing.raw")
    ]
    play(tracker, next_day)
    stats = board.stats("helpdesk")
    assert (stats.day, stats.answered_today, stats.abandoned_today, stats.timed_out_today) == (
        day + timedelta(days=1),
        0,
        1,
        0,
    )
    assert board.day_of(datetime(2026, 11, 27, 23, 30, tzinfo=UTC)) == day
    assert board.day_bounds(day) == (datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC))
    board.zone = ZoneInfo("Europe/Berlin")  # the day the clocks went back: 25 hours, from local midnight
    start, end = board.day_bounds(date(2026, 10, 25))
    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    )
    assert board.day_of(datetime(2026, 11, 27, 23, 30, tzinfo=UTC)) == day + timedelta(days=1)


def test_member_state_from_device_state() -> None:
    assert member_state("1", "0") is MemberState.AVAILABLE
    assert member_state("2", "0") is MemberState.BUSY and member_state("6", "0") is MemberState.BUSY
    assert member_state("1", "0", "1") is MemberState.BUSY
    assert member_state("5", "0") is MemberState.UNAVAILABLE and member_state("4", None) is MemberState.UNAVAILABLE
    assert member_state("2", "1") is MemberState.PAUSED
    assert member_state(None, None) is MemberState.AVAILABLE  # unknown device state: assumed free


@pytest.mark.parametrize("threshold", [5, 10, 20])
def test_service_level_counts_the_calls_answered_in_time(threshold: int) -> None:
    """c: 11 answered (after 0.7 to 19.5 s in the queue), 8 abandoned, 1 timed out. The service level is the share
    of the 20 answered within ``threshold`` seconds, as the ground truth's join and connect times have it."""
    tracker = CallTracker("lab", QUEUES)
    tracker.board.service_level = threshold
    play(tracker, events("c_concurrent20_mixed.raw"))
    truth = ground_truth("c_concurrent20_mixed.calls.jsonl")
    waits = [r["t_connect"] - r["t_join"] for r in truth if r["outcome"] == "answered"]
    in_time = sum(1 for w in waits if round(w) <= threshold)
    stats = tracker.board.stats("helpdesk")
    assert (stats.answered_in_time_today, stats.service_level_seconds) == (in_time, threshold)
    assert stats.service_level == round(in_time / len(truth), 4)
    assert 0 < in_time < len(waits) or threshold == 20
