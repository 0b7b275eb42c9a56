"""The SQLite database: every SQL statement of the project — schema, migrations, the writer, the run ledger."""
