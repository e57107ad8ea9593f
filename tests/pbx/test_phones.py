"""The agents' phones (:mod:`pbx.phones`) as the call tracker follows them through the real Asterisk recordings."""

from __future__ import annotations

from collections.abc import Mapping

from pbx.frames import recorded_messages
from pbx.phones import PhoneState
from pbx.tracker import CallTracker
from tests.support.paths import AMI

LIST_ITEMS = {"CoreShowChannel", "QueueEntry", "QueueMember", "QueueParams"}


def states_of(name: str, extension: str, *, snapshot: bool = False) -> tuple[CallTracker, list[tuple]]:
    """Feed recording ``name`` to a tracker of queue ``helpdesk``; the phone of ``extension`` after each change
    (state, reason, registered), consecutive repeats folded."""
    tracker = CallTracker("lab", ["helpdesk"])
    seen: list[tuple] = []
    items: list[Mapping[str, str]] = []
    for message in recorded_messages(AMI / name):
        kind = message.get("Event")
        if snapshot and kind in LIST_ITEMS:
            items.append(message)
        elif snapshot and kind == "CoreShowChannelsComplete":
            tracker.snapshot_calls(items, tracker.last_event_at or tracker.board.stats("helpdesk").at)
        tracker.feed(message)
        if extension in tracker.phones.take_changed():
            phone = tracker.phones.phone(extension)
            now = (phone.state, phone.reason, phone.registered)
            if not seen or seen[-1] != now:
                seen.append(now)
    return tracker, seen


def folded(seen: list[tuple]) -> list[PhoneState]:
    return [s[0] for i, s in enumerate(seen) if i == 0 or seen[i - 1][0] != s[0]]


def test_an_answered_call_rings_then_talks_then_frees_the_phone() -> None:
    """a: Alice (101) rings 1 s, answers, talks 4 s, hangs up."""
    tracker, seen = states_of("a_answered.raw", "101")
    assert folded(seen) == [PhoneState.RINGING, PhoneState.IN_CALL, PhoneState.FREE]
    phone = tracker.phones.phone("101")
    assert phone.registered is True
    assert [(m.queue, m.interface, m.paused) for m in phone.queues] == [("helpdesk", "Local/101@agents", False)]


def test_a_call_abandoned_while_ringing_never_shows_in_a_call() -> None:
    """b2: Bob (102) rings; the caller hangs up before he answers."""
    _, seen = states_of("b2_abandoned_while_ringing.raw", "102")
    assert folded(seen) == [PhoneState.RINGING, PhoneState.FREE]


def test_a_queue_pause_shows_with_its_reason_and_ends_with_the_unpause() -> None:
    """b: all three members paused (reason sim-all-agents-away), a call abandoned, then unpaused."""
    tracker, seen = states_of("b_abandoned.raw", "103")
    assert seen[0] == (PhoneState.PAUSED, "sim-all-agents-away", True)
    assert seen[-1] == (PhoneState.FREE, None, True)
    assert all(not m.paused for m in tracker.phones.phone("103").queues)


def test_pause_time_is_kept_for_each_membership() -> None:
    tracker = CallTracker("lab", ["helpdesk"])
    for message in recorded_messages(AMI / "b_abandoned.raw"):
        tracker.feed(message)
        if message.get("Event") == "QueueMemberPause" and message.get("Paused") == "1":
            break
    (membership,) = tracker.phones.phone("101").queues
    assert membership.paused and membership.paused_at == 1795795784.0


def test_a_resync_shows_the_phones_on_calls_at_once() -> None:
    """f: connected while calls are up; QueueStatus says Carol (103) is in a call before any live event."""
    _, seen = states_of("f_resync_snapshot.raw", "103", snapshot=True)
    assert seen[0][0] is PhoneState.IN_CALL
    assert seen[-1][0] is PhoneState.FREE


def test_devices_that_are_not_queue_members_are_not_reported() -> None:
    """The IVR's device (Local/7000@it-line) changes state in every call but is no agent's phone."""
    tracker, seen = states_of("a_answered.raw", "7000")
    assert seen == []
    assert "7000" not in tracker.phones.extensions()
