"""The seed page: crawling the mirror reproduces its article, ten most-read entries and three rates.

Expectations are read from ``fixtures/seed/informburo-page.txt`` (the text of one real
page), never typed in by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import crawl, rows

SEED = Path(__file__).parent / "fixtures" / "seed" / "informburo-page.txt"


def read_seed() -> tuple[list[str], list[tuple[int, str, int, int, int]], list[tuple[str, float, float]]]:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    first_dash = lines.index("-")
    paragraphs = [line for line in lines[:first_dash] if line.strip()]
    rest = [line for line in lines[first_dash:] if line not in ("-", "")]
    entries = []
    i = 0
    while not rest[i].endswith(":"):
        entries.append((rest[i], int(rest[i + 1]), int(rest[i + 2]), int(rest[i + 3])))
        i += 4
    rates = []
    while i < len(rest):
        buy, sell = (float(x) for x in rest[i + 1].split("/"))
        rates.append((rest[i].rstrip(":"), buy, sell))
        i += 2
    return paragraphs, entries, rates


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mirror.server import MirrorServer

    db = tmp_path_factory.mktemp("seed") / "seed.db"
    with MirrorServer() as server:
        result = crawl(db, server.url)
    assert result.returncode == 0, result.stderr
    return db


def test_seed_has_what_the_anatomy_says() -> None:
    paragraphs, entries, rates = read_seed()
    assert len(paragraphs) == 8 and len(entries) == 10 and len(rates) == 3


@pytest.mark.slow
def test_seed_article_body_is_reproduced_exactly(seeded_db: Path) -> None:
    paragraphs, _, _ = read_seed()
    found = rows(seeded_db, "SELECT body FROM articles WHERE body LIKE ?", (paragraphs[0] + "%",))
    assert len(found) == 1
    assert found[0]["body"] == "\n\n".join(paragraphs)


@pytest.mark.slow
def test_seed_most_read_entries_are_reproduced_exactly(seeded_db: Path) -> None:
    _, entries, _ = read_seed()
    stored = rows(seeded_db, "SELECT rank, emoji, title, views, comments, reactions FROM most_read ORDER BY rank")
    assert len(stored) == 10
    for (line, views, comments, reactions), row in zip(entries, stored, strict=True):
        rank = int(re.match(r"\d+", line).group())
        after_rank = line[len(str(rank)) :]
        assert row["rank"] == rank
        assert (row["views"], row["comments"], row["reactions"]) == (views, comments, reactions)
        # The emoji is exactly what stands between the rank and the title, with no letters or digits in it.
        assert row["emoji"] and not any(ch.isalnum() for ch in row["emoji"])
        assert after_rank.startswith(row["emoji"])
        assert after_rank[len(row["emoji"]) :].strip() == row["title"]
        assert row["title"][0].isalnum()


@pytest.mark.slow
def test_seed_rates_are_reproduced_exactly(seeded_db: Path) -> None:
    _, _, rates = read_seed()
    stored = rows(seeded_db, "SELECT currency, buy, sell FROM rates ORDER BY rowid")
    assert [(r["currency"], r["buy"], r["sell"]) for r in stored] == rates
