"""The agent desk's work lists: ``ticket.callback_since`` (a call back is owed) and the indexes that make the views'
counts cheap; then the existing tickets brought in line:

* the text of their comments joins their search text (``q=`` finds words of comments), after U+001E;
* an open ticket whose last call ended unanswered from a number to call back (its history line begins with
  ``Missed call``) and on which no agent has commented or moved the status since, owes a call back since then
  (the rule of tickets/callbacks.py).
"""

import unicodedata
from collections.abc import Callable
from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

SEPARATOR = "\x1e"
BATCH = 500


def _marker(client: Any) -> Callable[[int], str]:
    """The n-th query parameter as the database writes it."""
    postgres = client.capabilities.dialect == "postgres"
    return (lambda n: f"${n}") if postgres else (lambda n: "?")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold().replace(SEPARATOR, " ")


async def forward(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    mark = _marker(client)
    # comments (not the system lines of alerts, which carry a field), ticket by ticket
    comments = await client.execute_query_dict(
        "SELECT ticket_id, body FROM activity WHERE kind = 'comment' AND field IS NULL AND actor_id IS NOT NULL "
        "AND body IS NOT NULL ORDER BY ticket_id, id"
    )
    by_ticket: dict[int, list[str]] = {}
    for row in comments:
        by_ticket.setdefault(int(row["ticket_id"]), []).append(_fold(str(row["body"])))
    ids = sorted(by_ticket)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        marks = ", ".join(mark(i + 1) for i in range(len(chunk)))
        rows = await client.execute_query_dict(f"SELECT id, search_text FROM ticket WHERE id IN ({marks})", chunk)
        for row in rows:
            head = str(row["search_text"]).partition(SEPARATOR)[0]
            text = SEPARATOR.join([head, *by_ticket[int(row["id"])]])
            await client.execute_query(
                f"UPDATE ticket SET search_text = {mark(1)} WHERE id = {mark(2)}", [text, int(row["id"])]
            )
    # calls owed: walk the history of the open tickets that ever had a missed call
    entries = await client.execute_query_dict(
        "SELECT a.id, a.ticket_id, a.kind, a.new_value, a.body, a.actor_id FROM activity a "
        "JOIN ticket t ON t.id = a.ticket_id WHERE t.status IN ('new', 'open', 'pending') "
        "AND a.kind IN ('call', 'comment', 'status_changed') AND a.ticket_id IN "
        "(SELECT ticket_id FROM activity WHERE kind = 'call' AND body LIKE 'Missed call%') "
        "ORDER BY a.ticket_id, a.id"
    )
    owed: dict[int, int | None] = {}
    for e in entries:
        ticket_id = int(e["ticket_id"])
        if e["kind"] == "call":
            if e["new_value"] == "answered":
                owed[ticket_id] = None
            elif str(e["body"] or "").startswith("Missed call"):
                owed[ticket_id] = owed.get(ticket_id) or int(e["id"])
        elif e["actor_id"] is not None:
            owed[ticket_id] = None
    for ticket_id, entry_id in owed.items():
        if entry_id is not None:
            await client.execute_query(
                f"UPDATE ticket SET callback_since = (SELECT created_at FROM activity WHERE id = {mark(1)}) "
                f"WHERE id = {mark(2)}",
                [entry_id, ticket_id],
            )


async def backward(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    """Comments leave the search text (the column itself goes with the field)."""
    client = schema_editor.client
    mark = _marker(client)
    for row in await client.execute_query_dict("SELECT id, search_text FROM ticket"):
        head, separator, _ = str(row["search_text"]).partition(SEPARATOR)
        if separator:
            await client.execute_query(
                f"UPDATE ticket SET search_text = {mark(1)} WHERE id = {mark(2)}", [head, int(row["id"])]
            )


class Migration(migrations.Migration):
    dependencies = [('tickets', '0013_caller_alias')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Call',
            index=Index(fields=['queue', 'ticket_id'], name='call_queue_ticket_idx'),
        ),
        ops.AddIndex(
            model_name='SlaClock',
            index=Index(fields=['stopped_at', 'ticket_id'], name='sla_clock_open_ticket_idx'),
        ),
        ops.AddField(
            model_name='Ticket',
            name='callback_since',
            field=fields.DatetimeField(null=True, description='since when a call back is owed: a call nobody answered, from a number to call back, and no agent has acted', auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'assignee_id', 'updated_at', 'id'], name='ticket_status_assignee_idx'),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'updated_at', 'id'], name='ticket_status_updated_idx'),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['callback_since', 'status', 'id'], name='ticket_callback_idx'),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['resolved_at', 'id'], name='ticket_resolved_idx'),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['closed_at', 'id'], name='ticket_closed_idx'),
        ),
        ops.RunPython(forward, backward),
    ]
