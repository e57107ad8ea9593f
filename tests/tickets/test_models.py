"""Guards on the storage models."""

from __future__ import annotations

from tortoise import Tortoise, connections

from web.runtime.db import TORTOISE_ORM
from web.settings import Settings


async def test_model_docstrings_are_safe_as_sql_table_comments() -> None:
    """tortoise writes model docstrings unescaped into CREATE TABLE comments; the SQLite migrator splits
    statements on ';'. An apostrophe or a semicolon in a docstring breaks the next migration."""
    await Tortoise.init(config=TORTOISE_ORM)
    try:
        for app in Tortoise.apps.values():
            for name, model in app.items():
                text = model._meta.table_description or ""
                assert "'" not in text and ";" not in text, f"{name} docstring: {text!r}"
                for field_name, field in model._meta.fields_map.items():
                    comment = field.description or ""  # "#:" comments on fields become column comments
                    assert "'" not in comment and ";" not in comment, f"{name}.{field_name}: {comment!r}"
    finally:
        await Tortoise.close_connections()


async def test_every_index_a_model_declares_exists_after_the_migrations(orm: Settings) -> None:
    """The migrated database has every index the models declare: a migration that rebuilds a table (SQLite's way
    of altering a column) must not drop them silently (0011 once dropped sla_clock's, so the SLA scheduler read
    the whole table on every pass)."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        _, rows = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        _, rows = await conn.execute_query("SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'")
    present = {row["name"] for row in rows}
    declared = {
        f"{model._meta.db_table}.{index.name}"
        for app in Tortoise.apps.values()
        for model in app.values()
        for index in model._meta.indexes
        if getattr(index, "name", None)
    }
    missing = sorted(name for name in declared if name.split(".", 1)[1] not in present)
    assert declared and not missing, f"indexes the models declare but the database lacks: {missing}"
