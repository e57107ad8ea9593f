"""An index for ticket text search (``q=``): substring matches without reading every ticket.

* PostgreSQL: a trigram GIN index (extension ``pg_trgm``) under the ``LIKE '%...%'`` the listing issues.
* SQLite: an FTS5 table with the trigram tokenizer, kept in step with ``ticket.search_text`` by triggers;
  ``tickets/listing.py`` asks it first.

Both are optional: if the database lacks them (no permission to create ``pg_trgm``, a SQLite built without FTS5)
the migration logs a warning and search keeps working, by scanning.
"""

import logging

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

log = logging.getLogger("web.db")

SQLITE = [
    "CREATE VIRTUAL TABLE ticket_search USING fts5(search_text, content='ticket', content_rowid='id', "
    "tokenize='trigram case_sensitive 1')",
    "INSERT INTO ticket_search(ticket_search) VALUES ('rebuild')",
    "CREATE TRIGGER ticket_search_insert AFTER INSERT ON ticket BEGIN "
    "INSERT INTO ticket_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER ticket_search_delete AFTER DELETE ON ticket BEGIN "
    "INSERT INTO ticket_search(ticket_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER ticket_search_update AFTER UPDATE OF search_text ON ticket "
    "WHEN old.search_text IS NOT new.search_text BEGIN "
    "INSERT INTO ticket_search(ticket_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO ticket_search(rowid, search_text) VALUES (new.id, new.search_text); END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS ticket_search_update",
    "DROP TRIGGER IF EXISTS ticket_search_delete",
    "DROP TRIGGER IF EXISTS ticket_search_insert",
    "DROP TABLE IF EXISTS ticket_search",
]
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ticket_search_trgm_idx ON ticket USING gin (search_text gin_trgm_ops)",
]
POSTGRES_REVERSE = ["DROP INDEX IF EXISTS ticket_search_trgm_idx"]


async def _run(schema_editor: BaseSchemaEditor, statements: list[str]) -> None:
    client = schema_editor.client
    # all or nothing, without aborting the migration's own transaction when the feature is unavailable
    await client.execute_query("SAVEPOINT search_index")
    try:
        for statement in statements:
            await client.execute_query(statement)
    except Exception as exc:  # optional feature: search works without it, only slower
        await client.execute_query("ROLLBACK TO SAVEPOINT search_index")
        await client.execute_query("RELEASE SAVEPOINT search_index")
        log.warning("ticket search index not created (%s: %s); text search will scan the tickets",
                    type(exc).__name__, exc)
        return
    await client.execute_query("RELEASE SAVEPOINT search_index")


async def forward(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    dialect = schema_editor.client.capabilities.dialect
    await _run(schema_editor, SQLITE if dialect == "sqlite" else POSTGRES if dialect == "postgres" else [])


async def backward(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    dialect = schema_editor.client.capabilities.dialect
    await _run(schema_editor, SQLITE_REVERSE if dialect == "sqlite" else POSTGRES_REVERSE if dialect == "postgres" else [])


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [ops.RunPython(forward, backward)]
