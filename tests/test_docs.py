"""The project speaks for itself: every command, option and table is documented."""

from __future__ import annotations

import argparse
import sqlite3

from sqlite_utils import Database

from cli import build_parser
from storage.schema import migrate
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SCHEMA_DOC = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")


def test_every_cli_command_and_option_is_in_the_readme() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"crawl", "run", "demo", "status"} <= set(sub.choices)
    for name, command in sub.choices.items():
        assert f"informburo {name}" in README, name
        for action in command._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"{name} {flag}"


def test_every_table_and_column_is_in_the_schema_doc() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(Database(conn))
    tables = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("articles_fts")  # the search index is described with articles
    ]
    assert {"articles", "most_read", "rates", "crawl_runs", "crawl_errors", "rejects"} <= set(tables)
    for table in tables:
        assert f"## `{table}`" in SCHEMA_DOC, table
        section = SCHEMA_DOC.split(f"## `{table}`")[1].split("\n## ")[0]
        for (column,) in conn.execute("SELECT name FROM pragma_table_info(?)", (table,)):
            assert f"`{column}`" in section, f"{table}.{column}"
