"""End to end: the recorded 20 concurrent calls replayed into the real app, callers identified in the real Samba AD.

Every caller whose number is in AD (in whatever format AD has it) becomes the ticket's requester; the disabled
ex-employee, the internal front desk (4321, in no directory entry), withheld and unknown numbers get none.
"""

from __future__ import annotations

from directory.client import AsyncDirectory, DirectoryClient
from pbx.replay import ReplayServer
from tests.support.paths import AMI
from tests.support.samba import SambaAD, directory_environ
from tests.support.telephony import until_replayed
from tickets.calls.directory_sync import DirectorySync
from tickets.models import Call
from web.app import create_app
from web.runtime import db
from web.settings import PbxSettings, load_settings

REQUESTERS = {
    "+15551230001": "Alice Anderson",
    "5551230002": "Bob Brown",
    "+15551230006": "Frank Fischer",
    "5551230007": "Grace Garcia",
    "+15551230011": "Mallory Kowalski",
    "5551230012": "Niaj Lopez",
    "+15551230016": "Sybil Patel",
    "5551230017": None,  # Trent Quinn: disabled in AD
    "4321": None,
    "anonymous": None,
    "<unknown>": None,
    "": None,
}


async def test_recorded_calls_get_their_requesters_from_active_directory(samba_ad: SambaAD, database_url: str) -> None:
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url, **directory_environ(samba_ad)})
    await db.open_orm(settings.database)  # the admin's first `helpline directory sync`
    try:
        directory = AsyncDirectory(DirectoryClient(settings.directory.client_config()))
        assert (await DirectorySync(directory, settings.directory.number_policy()).run()).ok
        directory.close()
    finally:
        await db.close_orm()

    async with ReplayServer([AMI / "c_concurrent20_mixed.raw"], username="helpline", secret="s") as server:
        pbx = PbxSettings(
            name="main",
            host="127.0.0.1",
            port=server.port,
            username="helpline",
            secret="s",
            queues=["helpdesk"],
            ping_interval="2s",
            action_timeout="2s",
        )  # type: ignore[arg-type]
        app_settings = settings.model_copy(update={"pbx": [pbx]})
        app = create_app(app_settings)
        async with app.router.lifespan_context(app):
            await until_replayed(server, app, 20)
            calls = await Call.all().prefetch_related("ticket__requester")
    assert len(calls) >= 20
    seen = set()
    for call in calls:
        assert call.caller_number in REQUESTERS, f"a caller this test does not know: {call.caller_number!r}"
        requester = call.ticket.requester if call.ticket else None
        assert (requester.name if requester else None) == REQUESTERS[call.caller_number], call.caller_number
        seen.add(call.caller_number)
    assert {"+15551230001", "5551230012", "5551230017", "4321", "anonymous"} <= seen
