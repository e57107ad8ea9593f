"""The ticket domain on SQLite and PostgreSQL."""
