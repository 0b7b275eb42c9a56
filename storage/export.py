"""Exports: stream a table as JSON lines or CSV, for people who load the data elsewhere."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlite_utils import Database

from core.clock import since_bound

#: Exportable tables and the time column ``--since`` filters on.
TABLES: dict[str, str] = {
    "articles": "published_at",
    "article_versions": "captured_at",
    "article_views": "captured_at",
    "most_read": "captured_at",
    "rates": "captured_at",
    "crawl_runs": "started_at",
    "crawl_errors": "captured_at",
    "rejects": "captured_at",
}
#: Columns stored as JSON text, exported as JSON values in JSON lines.
JSON_COLUMNS = {"tags", "sources", "field_coverage", "item"}
FORMATS = ("jsonl", "csv")


def export_rows(db: Database, table: str, since: str | None = None) -> Iterator[dict[str, Any]]:
    """The table's rows in storage order, optionally only those at or after ``since``.

    A bad table or date raises ``ValueError`` here, at the call, not at the first row: the
    caller learns it before it creates an output file that would be left empty.
    """
    if table not in TABLES:
        raise ValueError(f"cannot export {table!r}: choose one of {', '.join(TABLES)}")
    sql = f"SELECT * FROM [{table}]"  # the name is one of ours, never user text
    params: list[str] = []
    if since:
        sql += f" WHERE [{TABLES[table]}] >= ?"
        params.append(since_bound(since))
    sql += " ORDER BY rowid"
    return db.query(sql, params)


def write_export(rows: Iterator[dict[str, Any]], fmt: str, out: TextIO) -> int:
    """Write rows as ``jsonl`` or ``csv``; the number written."""
    count = 0
    writer: csv.DictWriter[str] | None = None
    for row in rows:
        if fmt == "jsonl":
            data = {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
        elif fmt == "csv":
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
        else:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        count += 1
    return count
