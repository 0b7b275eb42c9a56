"""``informburo export``: tables streamed as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from mirror.server import MirrorServer
from storage.db import open_database
from storage.export import export_rows, since_bound, write_export
from tests.conftest import crawl, rows

pytestmark = pytest.mark.slow  # every test reads the module's crawl


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("export") / "x.db"
    with MirrorServer() as mirror:
        assert crawl(db, mirror.url).returncode == 0
    return db


def export(db: Path, table: str, fmt: str, since: str | None = None) -> str:
    out = io.StringIO()
    database = open_database(db, create=False)
    try:
        write_export(export_rows(database, table, since), fmt, out)
    finally:
        database.close()
    return out.getvalue()


def test_articles_as_json_lines_with_tags_as_json(crawled: Path) -> None:
    lines = [json.loads(line) for line in export(crawled, "articles", "jsonl").splitlines()]
    stored = rows(crawled, "SELECT url, tags FROM articles ORDER BY rowid")
    assert [line["url"] for line in lines] == [r["url"] for r in stored]
    assert [line["tags"] for line in lines] == [json.loads(r["tags"]) for r in stored]
    assert all(isinstance(line["sources"], dict) for line in lines)


def test_rates_as_csv(crawled: Path) -> None:
    table = list(csv.DictReader(io.StringIO(export(crawled, "rates", "csv"))))
    assert [(r["currency"], float(r["buy"]), float(r["sell"])) for r in table] == [
        (r["currency"], r["buy"], r["sell"]) for r in rows(crawled, "SELECT * FROM rates ORDER BY rowid")
    ]


def test_since_filters_on_the_table_time_column(crawled: Path) -> None:
    recent = [
        json.loads(line)["published_at"] for line in export(crawled, "articles", "jsonl", "2026-01-16").splitlines()
    ]
    all_dates = [r["published_at"] for r in rows(crawled, "SELECT published_at FROM articles")]
    assert recent and sorted(recent) == sorted(d for d in all_dates if d >= "2026-01-16T00:00:00+05:00")
    assert len(recent) < len(all_dates)
    assert since_bound("2026-01-16T05:00:00Z") == "2026-01-16T10:00:00+05:00"


def test_unknown_table_or_format_is_refused(crawled: Path) -> None:
    with pytest.raises(ValueError, match="cannot export"):
        export(crawled, "sqlite_master; DROP TABLE articles", "jsonl")
    with pytest.raises(ValueError, match="format"):
        export(crawled, "rates", "xml")
    assert rows(crawled, "SELECT count(*) AS n FROM articles")[0]["n"] > 0
