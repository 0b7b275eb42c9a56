"""The SQLite database: schema, migrations, and the reads and writes the project shares."""

from storage.db import DEFAULT_DB, open_database

__all__ = ["DEFAULT_DB", "open_database"]
