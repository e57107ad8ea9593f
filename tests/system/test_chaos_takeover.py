"""Two ``helpline serve`` instances on one PostgreSQL database, one PBX: one listens, the other stands by; ``kill -9``
of the listening one mid-stream, and the other takes over. Every call of the recording ends up with exactly one
call row and one ticket.

The PBX is the local AMI replay server playing ``c_concurrent20_mixed`` cut at event 1500 (12 calls up): the first
connection gets the first part, the next one (the new leader's) the rest, with Asterisk's answers to
``CoreShowChannels`` / ``QueueStatus`` at the cut, as a real Asterisk would answer the new leader's resync.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pbx.replay import ReplayServer, Session
from tests.support.ami import AMI, SECRET, USER, call_states, split_recording
from tests.support.chaos import (
    admin_token,
    assert_exactly_once,
    calls_ended,
    calls_in,
    fresh_database,
    has_check,
    launch,
    postgres_base,
    until,
    until_healthy,
    write_config,
)
from tests.support.telephony import OUTCOME, truth


async def test_kill_9_of_the_leader_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = postgres_base()
    first, rest = split_recording(AMI / "c_concurrent20_mixed.raw", 1500)
    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    async with (
        fresh_database(base) as url,
        ReplayServer([Session(first), Session(rest)], username=USER, secret=SECRET) as pbx,
    ):
        config = write_config(tmp_path / "helpline.toml", pbx.port)
        # started together on an empty database: they take turns to migrate it
        a, b = (launch(name, url, config, tmp_path) for name in ("a", "b"))
        instances = {"a": a, "b": b}
        try:
            for instance in (a, b):
                await until_healthy(instance)
            token = await admin_token(url, tmp_path)
            a.token = b.token = token

            async def roles() -> dict[str, str | None]:
                return {name: await i.pbx_check() for name, i in instances.items()}

            def logs() -> str:
                return "\n".join(f"--- {n}\n{i.log()[-3000:]}" for n, i in instances.items())

            async def one_leader() -> bool:
                return sorted(map(str, (await roles()).values())) == ["ok", "standby"]

            await until("one leader, one standby", one_leader, logs=logs)
            leader_name = next(n for n, v in (await roles()).items() if v == "ok")
            leader, standby = instances[leader_name], instances["b" if leader_name == "a" else "a"]
            assert pbx.logins == 1, "only the leader logged in to the PBX"

            async with httpx.AsyncClient(timeout=5, headers={"Authorization": f"Bearer {token}"}) as http:
                seen = (await http.get(standby.base_url + "/api/v1/pbx")).json()["items"][0]
                assert seen["role"] == "standby" and seen["state"] != "connected"
                assert (await http.get(leader.base_url + "/api/v1/pbx")).json()["items"][0]["role"] == "leader"
                assert (await standby.readyz())["status"] == "ready", "a standby is ready"
                assert (await standby.status())["status"] == "ready"

            await until("the first part streamed", lambda: pbx.streams_done >= 1, logs=logs)
            before = await calls_in(url, call_states(first))
            assert 0 < before.ended < len(expected), "the leader dies with calls up"

            leader.kill()
            takeover = await until("the standby takes over", lambda: has_check(standby, "ok"), every=0.05, logs=logs)
            with capsys.disabled():
                print(f"\ntakeover after kill -9 of the leader: {takeover:.2f} s")
            after = await calls_ended(url, len(expected))
            assert_exactly_once(after, expected, OUTCOME)
            assert pbx.logins == 2
        finally:
            for instance in instances.values():
                instance.stop()


pytestmark = pytest.mark.timeout(90)
