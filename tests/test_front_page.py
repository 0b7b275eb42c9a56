"""The front page, search that takes what people type, and table pages that show rows first, over HTTP.

Datasette runs in this process with what ``informburo serve`` gives it (our metadata, templates
and plugins) and answers through its own test client; the archive is the mirror crawled twice
with an edit between (tests/test_datasette.py's ``build_archive``), and every expectation is
read from the mirror's content or the database's rows. ``fts_query`` is also tested alone, on
the plugin module loaded by path as Datasette loads it.
"""

from __future__ import annotations

import html
import importlib.util
import re
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from sqlite_utils import Database

from mirror.site import body_text
from storage.browse import METADATA, METADATA_DATABASE, PLUGINS, load_metadata
from storage.db import open_database
from storage.schema import FTS_TOKENIZE, migrate
from tests.conftest import rows
from tests.test_datasette import Archive, build_archive, currency_of, rate_of
from tests.test_datasette import fetch as datasette_fetch

#: The metadata the pages are served with (a module global, so a run can point it at another file).
METADATA_FILE: Path = METADATA


def _plugin(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"informburo_plugin_{name}", PLUGINS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


search_plugin = _plugin("search")
front_plugin = _plugin("front")
fts_query = search_plugin.fts_query


def fetch(db: Path, *paths: str) -> list[tuple[int, Any]]:
    """GET each path from a Datasette set up as ``informburo serve`` sets it up, with ``METADATA_FILE``."""
    return datasette_fetch(db, *paths, metadata=METADATA_FILE)


def page(db: Path, path: str) -> str:
    [(status, text)] = fetch(db, path)
    assert status == 200, (path, text[:2000])
    return text


def search(archive: Archive, name: str, q: str, **params: str) -> list[dict[str, Any]]:
    [(status, data)] = fetch(archive.db, f"/informburo/{name}.json?" + urlencode({"q": q, **params, "_shape": "array"}))
    assert status == 200, (q, data)
    return data


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("front") / "informburo.db")


# --- fts_query: what was typed → an FTS5 query --------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("КТК нефть", '"КТК" AND "нефть"'),
        ("Усть-Каменогорск", '"Усть Каменогорск"'),  # the tokens side by side, as unicode61 indexed them
        ("рейс Алматы-Астана", '"рейс" AND "Алматы Астана"'),
        ('"морской терминал" КТК', '"морской терминал" AND "КТК"'),  # paired quotes: a phrase
        ('КТК"', '"КТК"'),  # a stray quote is punctuation
        ('a"b', '"a b"'),  # one word: its tokens side by side
        ("нефть AND", '"нефть" AND "AND"'),  # operators are words
        ("NOT OR NEAR", '"NOT" AND "OR" AND "NEAR"'),
        ("NEAR(нефть газ)", '"NEAR нефть" AND "газ"'),
        ("нефт* ^КТК title:нефть (газ)", '"нефт" AND "КТК" AND "title нефть" AND "газ"'),
        ("ктк КТК ктк", '"ктк" AND "КТК"'),  # the same text twice is asked once
        ("Қаңтар", '"Қаңтар"'),
        ("", '""'),  # nothing typed: the empty phrase, which matches nothing without an error
        ('  — * " ( ) ', '""'),
        (None, '""'),
    ],
)
def test_fts_query_makes_plain_words_of_what_was_typed(typed: str | None, query: str) -> None:
    assert fts_query(typed) == query
    assert fts_query(typed, "") == query and fts_query(typed, "0") == query


def test_fts_query_advanced_keeps_fts5_syntax() -> None:
    assert fts_query("нефть OR газ", "1") == "нефть OR газ"
    assert fts_query(" NEAR(a b) ", "on") == "NEAR(a b)"
    assert fts_query("", "1") == '""' and fts_query(None, "1") == '""'


#: Texts that break a raw MATCH: quotes, operators, column filters, parentheses, hyphens, stars, carets.
NASTY = [
    '"', '""', '"""', "'", "AND", "OR", "NOT", "NEAR", "NEAR(", "(", ")", "*", "^", ":", "-", "+", "a-", "-a",
    "title:", "x:y", "Усть-Каменогорск", "Алматы-Астана", 'КТК"', '"КТК', "a AND", "AND a", "NOT a", "a OR",
    "(a", "a)", "a*b", "*a", "^a", "a^", "a:b:c", "🔥", "—", "…", "a\x00b", "\\", "%", "_", "a_b", "\t\n",
    "1-2", "2026-01-16", "e-mail", "NEAR(a b, 2)", '"a" "b"', "a b c d e f g h i j k l m n o p",
]  # fmt: skip


def test_fts_query_never_makes_fts5_fail() -> None:
    conn = sqlite3.connect(":memory:")
    search_plugin.register(conn)
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize='{FTS_TOKENIZE}')")
    conn.executemany(
        "INSERT INTO t (body) VALUES (?)",
        [("Усть-Каменогорск и Алматы — Астана",), ("КТК and NOT near title",), ("a b c",)],
    )
    for text in NASTY:
        conn.execute("SELECT rowid FROM t WHERE t MATCH fts_query(?)", (text,)).fetchall()  # no error
    found = {q: {r for (r,) in conn.execute("SELECT rowid FROM t WHERE t MATCH fts_query(?)", (q,))} for q in NASTY}
    assert found["Усть-Каменогорск"] == found["Алматы-Астана"] == {1}  # the dash between them is punctuation
    assert found["AND"] == found["NOT"] == {2} and found["a AND"] == set()
    assert found['"'] == found["—"] == found["🔥"] == set()  # nothing to search for: nothing found


# --- search through Datasette -----------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.casefold())


def _holds(article: dict[str, Any], *phrases: str) -> bool:
    """Whether the article's indexed text holds every phrase as consecutive tokens (what FTS5 matches)."""
    tokens = _tokens(" ".join([article["title"], article["lead"] or "", body_text(article), " ".join(article["tags"])]))
    for phrase in phrases:
        want = _tokens(phrase)
        if not any(tokens[i : i + len(want)] == want for i in range(len(tokens) - len(want) + 1)):
            return False
    return True


#: (typed, the phrases an article must hold to be found): a hyphenated place name, other cases, a quoted phrase.
SEARCHES = [
    ("Северо-Казахстанской", ["северо-казахстанской"]),
    ("северо-КАЗАХСТАНСКОЙ", ["северо-казахстанской"]),
    ("ктк", ["КТК"]),
    ("МҰЗ АЙДЫНЫ", ["мұз", "айдыны"]),  # Kazakh letters fold too
    ('"Каспийский трубопроводный консорциум"', ["каспийский трубопроводный консорциум"]),
    ('КТК"', ["КТК"]),
    ("КТК AND", ["КТК", "and"]),  # AND is a word, and no article has it
]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["search", "search_newest"])
def test_search_takes_what_people_type(archive: Archive, name: str) -> None:
    for typed, phrases in SEARCHES:
        expected = {archive.url(a) for a in archive.stored() if _holds(a, *phrases)}
        got = search(archive, name, typed)
        assert {r["url"] for r in got} == expected, typed
        for row in got:  # the matches are marked in the title or the snippet
            assert "[" in row["title"] + row["snippet"], (typed, row)
    assert len({archive.url(a) for a in archive.stored() if _holds(a, "северо-казахстанской")}) == 2
    newest = search(archive, "search_newest", "ктк")
    assert [r["published_at"] for r in newest] == sorted((r["published_at"] for r in newest), reverse=True)


@pytest.mark.slow
def test_search_pages_open_quietly_and_advanced_keeps_fts5_syntax(archive: Archive) -> None:
    for name in ("search", "search_newest"):
        assert search(archive, name, "") == []  # what Datasette runs when the page opens
        [(status, data)] = fetch(archive.db, f"/informburo/{name}.json?_shape=array")
        assert status == 200 and data == []
        text = page(archive.db, f"/informburo/{name}")
        assert "message-error" not in text and "Type one or more words" in text
        assert 'type="checkbox"' in text and 'name="advanced"' in text
    either = {archive.url(a) for a in archive.stored() if _holds(a, "КТК") or _holds(a, "Алматы")}
    assert {r["url"] for r in search(archive, "search", "КТК OR Алматы", advanced="1")} == either
    assert search(archive, "search", "КТК OR Алматы") == []  # plain: three words, OR among them
    [(status, data)] = fetch(archive.db, "/informburo/search.json?" + urlencode({"q": "КТК OR", "advanced": "1"}))
    assert status == 400 and "fts5" in data["error"]  # a raw syntax error is reported, as asked for


@pytest.mark.slow
def test_search_results_link_to_the_article_page_with_matches_marked(archive: Archive) -> None:
    text = page(archive.db, "/informburo/search?" + urlencode({"q": "Северо-Казахстанской"}))
    assert "<mark>Северо-Казахстанской</mark>" in text
    for article in archive.stored():
        if _holds(article, "северо-казахстанской"):
            assert f'href="/-/article?url={quote(archive.url(article), safe="")}"' in text
    assert "message-error" not in text and "Custom SQL query" not in text


@pytest.mark.slow
def test_every_canned_query_page_opens_without_an_error(archive: Archive) -> None:
    queries = load_metadata(path=METADATA_FILE)["databases"][METADATA_DATABASE]["queries"]
    results = fetch(archive.db, *(f"/informburo/{name}" for name in queries))
    for (name, spec), (status, text) in zip(queries.items(), results, strict=True):
        assert status == 200, (name, text[:2000])
        assert "message-error" not in text, name
        assert "Custom SQL query" not in text, name
        assert f">{html.escape(spec['title'], quote=False)}</h1>" in text, name


# --- the front page -----------------------------------------------------------------------------------


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


@pytest.mark.slow
def test_front_page_shows_most_read_rates_newest_and_runs_from_the_database(archive: Archive) -> None:
    text = page(archive.db, "/")
    most_read = rows(archive.db, "SELECT * FROM most_read WHERE run_id = (SELECT max(run_id) FROM most_read)")
    assert len(most_read) == 10
    section = text.split('<section class="most-read">')[1].split("</section>")[0]
    shown = re.findall(r"<tr data-url=\"([^\"]+)\">(.*?)</tr>", section, re.S)
    assert [html.unescape(url) for url, _ in shown] == [r["url"] for r in sorted(most_read, key=lambda r: r["rank"])]
    for (_, cells), entry in zip(shown, sorted(most_read, key=lambda r: r["rank"]), strict=True):
        line = _text(cells)
        assert line.startswith(f"{entry['rank']} ") and entry["title"] in line
        assert line.endswith(f"{entry['views']:,} {entry['comments']} {entry['reactions']}"), line
        assert f'href="/-/article?url={quote(entry["url"], safe="")}"' in cells
    # Rates: the latest snapshot, with the change since the previous one.
    side = text.split('<section class="side">')[1].split("</section>")[0]
    for widget_row, before in zip(archive.site.rates, archive.first.rates, strict=True):
        (buy, sell), (old_buy, old_sell) = rate_of(widget_row), rate_of(before)
        row = re.search(rf'<tr data-currency="{currency_of(widget_row)}">(.*?)</tr>', side, re.S)
        assert row, currency_of(widget_row)
        line = _text(row.group(1))
        for now, old in ((buy, old_buy), (sell, old_sell)):
            diff = round(now - old, 2)
            arrow = "▲" if diff > 0 else "▼" if diff < 0 else "="
            assert f"{now:.2f} {arrow} {diff:+.2f}" in line or (not diff and f"{now:.2f} = 0.00" in line), line
    assert "▲ +5.10" in side and "▲ +4.30" in side  # the rate the test moved between the runs
    # The newest articles, in Kazakhstan time as stored.
    newest = rows(archive.db, "SELECT url, title, published_at FROM articles ORDER BY published_at DESC LIMIT 10")
    listed = text.split('<section class="newest-articles">')[1].split("</section>")[0]
    assert [html.unescape(u) for u in re.findall(r'<li data-url="([^"]+)"', listed)] == [r["url"] for r in newest]
    assert f"{newest[0]['published_at'][:10]} {newest[0]['published_at'][11:16]}" in listed
    # The last runs, and the monitors' verdict (schema 11 has the tables; these runs failed no check).
    runs = rows(archive.db, "SELECT id, status FROM crawl_runs ORDER BY id DESC")
    assert [(r["id"], r["status"]) for r in runs] == [(2, "ok"), (1, "ok")]
    assert all(f">{r['id']}</a>" in side for r in runs) and "no open incident" in side
    # The way on: search, charts, ready-made questions, every table with its one line.
    assert 'action="/informburo/search"' in text and 'formaction="/informburo/search_newest"' in text
    assert 'href="/-/dashboards"' in text and 'href="/-/dashboards/rates"' in text
    tables = load_metadata(path=METADATA_FILE)["databases"][METADATA_DATABASE]["tables"]
    for table in ("articles", "most_read", "rates", "crawl_runs"):
        assert f'<dt><a href="/informburo/{table}">{table}</a></dt>' in text
        assert front_plugin.first_sentence(tables[table]["description"]) in _text(text)
    assert "Nothing collected yet" not in text


@pytest.mark.slow
def test_front_page_shows_failed_checks_and_open_incidents(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "informburo.db"
    db.write_bytes(archive.db.read_bytes())
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO monitor_results (run_id, monitor, passed, severity, detail, checked_at)"
            " VALUES (2, 'sidebar', 0, 'warning', 'the sidebar had 3 entries', '2026-01-16T10:00:00+05:00')"
        )
        conn.execute(
            "INSERT INTO incidents (monitor, severity, detail, started_at) VALUES"
            " ('quiet_site', 'critical', 'no new article for 9 hours', '2026-01-16T09:00:00+05:00')"
        )
        conn.execute("UPDATE crawl_runs SET warning = 'layout drift: 5 of 9 pages' WHERE id = 2")
    conn.close()
    text = _text(page(db, "/"))
    assert "run 2: sidebar (warning) the sidebar had 3 entries" in text
    assert "quiet_site (critical, since 2026-01-16 09:00): no new article for 9 hours" in text
    assert "⚠ layout drift: 5 of 9 pages" in text and "no open incident" not in text


def test_front_page_of_a_fresh_database_says_nothing_collected_yet(tmp_path: Path) -> None:
    db = tmp_path / "fresh-2026.db"  # the database is named after the file: no "informburo" in the links
    open_database(db).close()
    text = page(db, "/")
    assert "Nothing collected yet" in text
    assert 'action="/fresh-2026/search"' in text and "/informburo/" not in text
    for part in ("No most-read sidebar collected yet", "No rates collected yet", "No article collected yet"):
        assert part in text


def test_front_page_queries_are_answered_from_indexes() -> None:
    conn = sqlite3.connect(":memory:")
    migrate(Database(conn))
    expected = {
        "most read": ["SEARCH most_read USING INDEX sqlite_autoindex_most_read_1 (run_id=?)"],
        "rates": ["SEARCH r USING INDEX sqlite_autoindex_rates_1 (run_id=?)", "rates_currency (currency=? AND"],
        "newest articles": ["SCAN articles USING INDEX articles_published_at"],
        "last runs": ["SCAN crawl_runs"],
        "failed checks": ["SEARCH monitor_results USING INDEX monitor_results_run (run_id=?)"],
        "open incidents": ["USING INDEX incidents_open"],
    }
    assert set(front_plugin.FRONT_QUERIES) == set(expected)
    big = ("articles", "most_read", "rates", "monitor_results", "incidents")
    for part, sql in front_plugin.FRONT_QUERIES.items():
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        for step in expected[part]:
            assert any(step in line for line in plan), (part, plan)
        for line in plan:  # never a whole big table
            assert not re.fullmatch(rf"SCAN (\w+ AS )?({'|'.join(big)})( \w+)?", line), (part, line)
        assert re.search(r"LIMIT \d+|max\(run_id\)", sql), part


# --- tables ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_articles_table_shows_rows_first_and_its_search_box_takes_plain_words(archive: Archive) -> None:
    text = page(archive.db, "/informburo/articles")
    form = re.search(r'<form class="filters search-form" action="([^"]+)"[^>]*>(.*?)</form>', text, re.S)
    assert form and form.group(1) == "/informburo/search_newest" and 'name="q"' in form.group(2)
    assert text.index('<table class="rows-and-columns">') < text.index('<details class="column-descriptions"')
    assert "<dt>published_at</dt>" in text.split('<details class="column-descriptions"')[1]
    assert "Times are Kazakhstan time" in text
    # A ?_search= link still works, Datasette quoting the words.
    expected = {archive.url(a) for a in archive.stored() if _holds(a, "северо-казахстанской")}
    [(status, data)] = fetch(
        archive.db, "/informburo/articles.json?" + urlencode({"_search": "Северо-Казахстанской", "_shape": "array"})
    )
    assert status == 200 and {r["url"] for r in data} == expected


@pytest.mark.slow
def test_tables_open_sorted_with_their_facets(archive: Archive) -> None:
    metadata = load_metadata(path=METADATA_FILE)["databases"][METADATA_DATABASE]["tables"]
    wanted = {
        "articles": {"section", "lang"},
        "rates": {"currency"},
        "crawl_runs": {"job", "status"},
        "monitor_results": {"monitor", "passed"},
    }
    for table, facets in wanted.items():
        assert facets <= {f if isinstance(f, str) else next(iter(f.values())) for f in metadata[table]["facets"]}
        [(status, data)] = fetch(archive.db, f"/informburo/{table}.json?_shape=objects&_size=3")
        assert status == 200 and facets <= set(data["facet_results"]), (table, data.get("facet_results"))
        assert metadata[table].get("sort_desc") or metadata[table].get("sort"), table
    [(_, runs)] = fetch(archive.db, "/informburo/crawl_runs.json?_shape=array")
    assert [r["id"] for r in runs] == [2, 1]


def test_migration_12_indexes_the_publication_day() -> None:
    conn = sqlite3.connect(":memory:")
    migrate(Database(conn))
    queries = load_metadata(path=METADATA_FILE)["databases"][METADATA_DATABASE]["queries"]
    for name in ("published_today", "published_on"):
        plan = " / ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + queries[name]["sql"], {"date": "x"}))
        assert "USING INDEX articles_published_day (<expr>=?)" in plan, (name, plan)
