"""Guards on the storage models."""

from __future__ import annotations

from tortoise import Tortoise

from web.runtime.db import TORTOISE_ORM


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
