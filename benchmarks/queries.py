"""Benchmark 7: query latency on a year-sized database.

The database has the real schema (``storage.db.open_database`` makes it) and a year of
synthetic collection: N articles (default 200,000) with their versions and page view
counts, a most-read snapshot every 30 minutes (17,520 runs × 10 entries) with their view
points, a rates snapshot every hour (8,760 runs × 3 currencies) and the ``crawl_runs`` of
all three jobs plus the articles job every 15 minutes. It is filled with ``executemany``
with the FTS triggers dropped (other triggers keep their tables current during the load),
then the index is rebuilt (``'rebuild'``) and the triggers are recreated from the very SQL
``storage/schema.py`` made them with; columns the store keeps on each row are filled as it would.

Each query runs on a read-only connection as Datasette opens it, with the SQL functions our
Datasette plugin registers (``fts_query``, imported from ``datasette/plugins/search.py``),
fetching at most 1,001 rows as Datasette does: the search box of the ``articles`` table (the
canned query its metadata names, ``search_newest``), every canned query of
``datasette/metadata.yml``, the best-match search typed in FTS5 syntax (advanced), every chart
and filter query of its dashboards and every statement of the front page
(``datasette/plugins/front.py``), with parameters drawn from the data (a currency, a URL seen
in the sidebar, a date, a common tag, search words of several frequencies, typed as plain
words). The baseline is a primary-key lookup of an article. A query whose p95 misses the
target gets its ``EXPLAIN QUERY PLAN`` and, where one is known, a proposed index or rewrite,
measured again on the same database once applied (the rows compared with the original
query's, ties under a LIMIT aside).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import sqlite3
import subprocess
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    BenchError,
    Context,
    Figure,
    Result,
    Sizes,
    fmt,
    median,
    percentile,
    standalone,
)
from benchmarks.synth import TextGen
from core.clock import KZ_TZ
from storage.browse import METADATA_DATABASE, PLUGINS, load_metadata
from storage.db import open_database

TARGET_MS = 50.0
SECTIONS = ("novosti", "novosti", "novosti", "stati", "cards", "interview")
CURRENCIES = (("USD", 505.0), ("EUR", 590.0), ("RUB", 6.5))
AUTHORS = ["Асель Нурланова", "Дмитрий Пачин", "Айгерим Сейтова", "Виктор Осипов", "Жанна Керимбаева", None]
#: The row the articles table's search box is measured as: the canned query its form sends the words to.
SEARCH_BOX = "search box (FTS)"
#: The best-match search with FTS5 syntax (the "advanced" box ticked).
ADVANCED = "search, advanced syntax"
PK_SQL = "SELECT * FROM articles WHERE url = :url"

#: Why a query misses when no index or rewrite fixes it.
EXPLANATIONS = {
    "search": (
        "No index orders by relevance: FTS5 computes bm25 for every match it ranks before `ORDER BY rank` keeps the"
        " best 50, so the query ranks at most the 5,000 matches stored last (a rowid bound FTS5 applies while it"
        " reads the index); what is left is `snippet()`, which tokenizes each returned article again."
    ),
    SEARCH_BOX: "",
}
#: Known fixes for queries that scan: (what, statements to apply, replacement query or None).
PROPOSALS: dict[str, tuple[str, list[str], str | None]] = {
    "published_on": (
        "an expression index on the publication day, which the query's own `substr(published_at, 1, 10)` uses",
        ["CREATE INDEX IF NOT EXISTS articles_published_day ON articles (substr(published_at, 1, 10), published_at)"],
        None,
    ),
    "published_today": (
        "an expression index on the publication day, which the query's own `substr(published_at, 1, 10)` uses",
        ["CREATE INDEX IF NOT EXISTS articles_published_day ON articles (substr(published_at, 1, 10), published_at)"],
        None,
    ),
    "articles_by_tag": (
        "a tag table kept by triggers on `articles` (one row per article and tag, keyed by tag and publication"
        " time), so a tag's newest articles are read from an index instead of parsing every article's JSON",
        [
            "CREATE TABLE IF NOT EXISTS article_tags (tag TEXT NOT NULL, published_at TEXT NOT NULL,"
            " url TEXT NOT NULL, PRIMARY KEY (tag, published_at, url)) WITHOUT ROWID",
            "INSERT OR IGNORE INTO article_tags SELECT t.value, a.published_at, a.url FROM articles a,"
            " json_each(a.tags) t",
        ],
        "SELECT a.published_at, a.section, a.title, a.tags, a.views, a.url FROM article_tags t"
        " JOIN articles a ON a.url = t.url WHERE t.tag = :tag ORDER BY t.published_at DESC",
    ),
    "edited_articles": (
        "keep each article's version count and last change on `articles` (two columns the store updates when it"
        " adds a version) with a partial expression index over edited articles in the query's order, so the"
        " list is read from that index instead of counting every article's versions",
        [
            "ALTER TABLE articles ADD COLUMN versions INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE articles ADD COLUMN last_change_seen TEXT",
            "UPDATE articles SET versions = v.n, last_change_seen = v.last_seen FROM (SELECT url, count(*) AS n,"
            " max(captured_at) AS last_seen FROM article_versions GROUP BY url HAVING count(*) > 1) AS v"
            " WHERE articles.url = v.url",
            "CREATE INDEX articles_edited ON articles (max(coalesce(modified_at, ''), coalesce(last_change_seen, '')))"
            " WHERE versions > 1 OR modified_at IS NOT NULL",
        ],
        "SELECT url, title, published_at, modified_at, versions, last_change_seen FROM articles"
        " WHERE versions > 1 OR modified_at IS NOT NULL"
        " ORDER BY max(coalesce(modified_at, ''), coalesce(last_change_seen, '')) DESC",
    ),
}


# -- building the database ---------------------------------------------------------------


def _stamp(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def _triggers(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """The triggers that keep the FTS index (the rebuild replaces them); others keep running during the load."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'")
    return [(name, sql) for name, sql in rows if "articles_fts" in sql]


def build(path: Path, articles: int, days: int, seed: int = 3) -> dict[str, Any]:
    """Fill a fresh database at ``path``; return what it holds and how long it took."""
    start = time.perf_counter()
    if path.exists():
        path.unlink()
    db = open_database(path)  # the real schema, every migration applied
    db.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    triggers = _triggers(conn)
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    rng = random.Random(seed)
    gen = TextGen(seed, vocabulary=40_000)
    end = datetime.now(KZ_TZ).replace(microsecond=0)
    begin = end - timedelta(days=days)

    # Runs: articles every 15 min, most_read every 30, rates hourly, one crawl_runs row each.
    schedule: list[tuple[datetime, str]] = []
    for job, minutes in (("articles", 15), ("most_read", 30), ("rates", 60)):
        t = begin
        while t <= end:
            schedule.append((t, job))
            t += timedelta(minutes=minutes)
    schedule.sort()
    runs = [(i + 1, t, job) for i, (t, job) in enumerate(schedule)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO crawl_runs (id, started_at, finished_at, status, pages, items_stored, job, parts)"
        " VALUES (?, ?, ?, 'ok', ?, ?, ?, ?)",
        (
            (rid, _stamp(t), _stamp(t + timedelta(seconds=20)), 3, 10 if job != "rates" else 3, job, job)
            for rid, t, job in runs
        ),
    )
    article_runs = [(t, rid) for rid, t, job in runs if job == "articles"]
    article_run_times = [t for t, _ in article_runs]

    # Articles, newest last in rowid order (as a crawl appends them), spread over the year.
    sentences = [gen.sentence(6, 18) for _ in range(20_000)]
    tag_pool = list(dict.fromkeys(w.capitalize() for w in gen.words_n(60_000)))[:3_000]
    tag_weights = [1 / (i + 10) for i in range(len(tag_pool))]
    span = (end - begin).total_seconds()
    times = sorted(begin + timedelta(seconds=rng.random() * span) for _ in range(articles))
    urls: list[str] = []
    edited: list[int] = []

    def article_rows() -> Iterator[tuple]:
        for i, published in enumerate(times):
            section = rng.choice(SECTIONS)
            url = f"https://informburo.kz/{section}/material-{i}-{rng.randrange(10**6)}"
            urls.append(url)
            paragraphs = [" ".join(rng.choices(sentences, k=rng.randint(1, 4))) for _ in range(rng.randint(3, 9))]
            body = "\n\n".join(paragraphs)
            title = rng.choice(sentences).rstrip(".!?")[:140]
            lead = rng.choice(sentences) if rng.random() < 0.6 else None
            modified = _stamp(published + timedelta(minutes=rng.randint(5, 600))) if rng.random() < 0.08 else None
            tags = list(dict.fromkeys(rng.choices(tag_pool, tag_weights, k=rng.randint(0, 5))))
            seen = published + timedelta(minutes=rng.randint(1, 15))
            if rng.random() < 0.05:
                edited.append(i)
            yield (
                url,
                section,
                "kk" if rng.random() < 0.08 else "ru",
                title,
                lead,
                body,
                rng.choice(AUTHORS),
                _stamp(published),
                modified,
                json.dumps(tags, ensure_ascii=False),
                f"https://informburo.kz/uploads/{i}.jpg" if rng.random() < 0.9 else None,
                rng.randint(100, 60_000),
                _stamp(seen),
                _stamp(seen),
                json.dumps({"body": "site", "published_at": "site", "title": "site"}),
            )

    conn.executemany(
        "INSERT INTO articles (url, section, lang, title, lead, body, author, published_at, modified_at, tags,"
        " image_url, views, first_seen_at, last_seen_at, sources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        article_rows(),
    )

    def run_at(t: datetime) -> int:
        return article_runs[min(bisect_left(article_run_times, t), len(article_runs) - 1)][1]

    # Versions: every article's first text, and a second one for the edited few, copied in SQL.
    conn.execute(
        "CREATE TEMP TABLE version_runs (id INTEGER PRIMARY KEY, run_id INTEGER, later_run INTEGER, later_at TEXT)"
    )
    edited_set = set(edited)
    conn.executemany(
        "INSERT INTO temp.version_runs VALUES (?, ?, ?, ?)",
        (
            (
                i + 1,
                run_at(t + timedelta(minutes=5)),
                run_at(t + timedelta(hours=6)) if i in edited_set else None,
                _stamp(t + timedelta(hours=6)) if i in edited_set else None,
            )
            for i, t in enumerate(times)
        ),
    )
    conn.execute(
        "INSERT INTO article_versions (url, run_id, captured_at, content_hash, title, lead, body)"
        " SELECT a.url, v.run_id, a.first_seen_at, printf('%064x', a.rowid), a.title, a.lead, a.body"
        " FROM articles a JOIN temp.version_runs v ON v.id = a.rowid ORDER BY a.rowid"
    )
    conn.execute(
        "INSERT INTO article_versions (url, run_id, captured_at, content_hash, title, lead, body)"
        " SELECT a.url, v.later_run, v.later_at, printf('%064x', a.rowid + 1000000000), a.title, a.lead,"
        " a.body || ' Обновлено.' FROM articles a JOIN temp.version_runs v ON v.id = a.rowid"
        " WHERE v.later_run IS NOT NULL ORDER BY a.rowid"
    )
    conn.executemany(
        "INSERT INTO article_views (url, run_id, captured_at, views, source) VALUES (?, ?, ?, ?, 'page')",
        [
            (urls[i], run_at(t + timedelta(minutes=5)), _stamp(t + timedelta(minutes=5)), 100)
            for i, t in enumerate(times)
        ],
    )

    # Most read: ten of the articles published in the 48 hours before each snapshot.
    most_read, views = [], []
    for rid, t, job in runs:
        if job != "most_read":
            continue
        lo, hi = bisect_left(times, t - timedelta(hours=48)), bisect_right(times, t)
        pool = range(max(0, hi - 200), hi) if hi - lo < 10 else range(lo, hi)
        picked = rng.sample(pool, min(10, len(pool)))
        for rank, i in enumerate(picked, start=1):
            count = rng.randint(500, 40_000) // rank
            most_read.append(
                (rid, _stamp(t), rank, rng.choice(["🔥", "⚡️", None]), f"Материал {i}", urls[i], count, rank % 5, rank)
            )
            views.append((urls[i], rid, _stamp(t), count))
    conn.executemany(
        "INSERT INTO most_read (run_id, captured_at, rank, emoji, title, url, views, comments, reactions)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        most_read,
    )
    conn.executemany(
        "INSERT INTO article_views (url, run_id, captured_at, views, source) VALUES (?, ?, ?, ?, 'most_read')", views
    )

    # Rates: hourly, a random walk per currency.
    levels = {code: level for code, level in CURRENCIES}
    rates = []
    for rid, t, job in runs:
        if job != "rates":
            continue
        for code, level in CURRENCIES:
            levels[code] *= 1 + rng.gauss(0, 0.001)
            buy = round(levels[code], 2)
            rates.append((rid, _stamp(t), code, buy, round(buy + level * 0.006, 2)))
    conn.executemany("INSERT INTO rates (run_id, captured_at, currency, buy, sell) VALUES (?, ?, ?, ?, ?)", rates)
    # What the store keeps on each article row as it adds versions (schema 7: versions, last_change_seen).
    if {"versions", "last_change_seen"} <= {row[1] for row in conn.execute("PRAGMA table_info(articles)")}:
        conn.execute(
            "UPDATE articles SET versions = v.n, last_change_seen = v.last_seen FROM (SELECT url, count(*) AS n,"
            " max(captured_at) AS last_seen FROM article_versions GROUP BY url HAVING count(*) > 1) AS v"
            " WHERE articles.url = v.url"
        )
    conn.execute("COMMIT")
    filled = time.perf_counter()

    conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    done = time.perf_counter()
    return {
        "articles": articles,
        "days": days,
        "runs": len(runs),
        "most_read_rows": len(most_read),
        "rates_rows": len(rates),
        "edited": len(edited),
        "fill_s": filled - start,
        "fts_s": done - filled,
        "seconds": done - start,
        "bytes": path.stat().st_size,
        "triggers": [name for name, _ in triggers],
    }


# -- the queries -----------------------------------------------------------------------------


def plugin(name: str) -> ModuleType:
    """``datasette/plugins/<name>.py``, loaded from its file as Datasette's ``--plugins-dir`` loads it."""
    spec = importlib.util.spec_from_file_location(f"informburo_plugin_{name}", PLUGINS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def connect(path: Path, read_only: bool = True) -> sqlite3.Connection:
    """A connection as Datasette's: read-only, with the plugin's SQL functions (``fts_query``) registered."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    plugin("search").register(conn)
    return conn


def front_page_queries() -> dict[str, str]:
    """The statements the front page runs (``datasette/plugins/front.py``), one row each."""
    return {f"front page: {part}": sql for part, sql in plugin("front").FRONT_QUERIES.items()}


def search_box_sql() -> str:
    """What the articles table's search box runs: the canned query named by its metadata's ``search_query``."""
    database = load_metadata()["databases"][METADATA_DATABASE]
    return database["queries"][database["tables"]["articles"]["search_query"]]["sql"]


def canned_queries() -> dict[str, str]:
    """Every query Datasette runs from metadata.yml: canned queries, dashboard charts and filters."""
    metadata = load_metadata()
    out: dict[str, str] = {}
    for database in metadata.get("databases", {}).values():
        for name, query in (database.get("queries") or {}).items():
            out[name] = query["sql"] if isinstance(query, dict) else query
    for board_name, board in metadata.get("plugins", {}).get("datasette-dashboards", {}).items():
        for name, chart in board.get("charts", {}).items():
            out[f"chart: {name}"] = chart["query"]
        for name, flt in board.get("filters", {}).items():
            if flt.get("query"):
                out[f"filter: {board_name} {name}"] = flt["query"]
    return out


def _strip_optional(sql: str) -> str:
    """datasette-dashboards' ``[[ … ]]`` clauses apply only when their parameter is set: leave them out."""
    return re.sub(r"\[\[.*?\]\]", "", sql, flags=re.S)


def _fts_terms(conn: sqlite3.Connection, docs: int) -> list[tuple[str, int]]:
    """Search words at several document frequencies: about 0.1 %, 1 %, 5 % and 20 % of the articles."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_vocab USING fts5vocab(main, articles_fts, 'row')")
    terms = []
    for share in (0.001, 0.01, 0.05, 0.2):
        row = conn.execute(
            "SELECT term, doc FROM temp.fts_vocab WHERE length(term) > 4 AND term NOT GLOB '*[0-9]*'"
            " ORDER BY abs(doc - ?) LIMIT 1",
            [max(2, int(docs * share))],
        ).fetchone()
        terms.append((row[0], row[1]))
    return terms


def parameters(conn: sqlite3.Connection, rng: random.Random) -> dict[str, list[Any]]:
    """Candidate values for every named parameter the queries use."""
    docs = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    terms = _fts_terms(conn, docs)
    words = [t for t, _ in terms]
    searches = [*words, f"{words[1]} {words[2]}", f'"{words[2]} {words[3]}"', f"{words[1][:4]}*"]
    # FTS5 syntax, for the advanced box: OR, NOT, a prefix, NEAR, a column.
    raw = [
        f"{words[0]} OR {words[1]}",
        f"{words[3]} NOT {words[2]}",
        f"{words[2][:4]}*",
        f"NEAR({words[2]} {words[3]})",
        f"title:{words[3]}",
        f"{words[3]} OR {words[2]}",
    ]
    popular = [r[0] for r in conn.execute("SELECT url FROM most_read ORDER BY run_id DESC LIMIT 500")]
    versioned = [
        r[0] for r in conn.execute("SELECT url FROM article_versions GROUP BY url HAVING count(*) > 1 LIMIT 200")
    ] or popular
    days = [r[0] for r in conn.execute("SELECT DISTINCT substr(published_at, 1, 10) FROM articles LIMIT 400")]
    tag_counts: dict[str, int] = {}
    for (tags,) in conn.execute("SELECT tags FROM articles ORDER BY rowid DESC LIMIT 5000"):
        for tag in json.loads(tags):
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
    tags = sorted(tag_counts, key=lambda t: -tag_counts[t])[:50] or ["КТК"]
    all_urls = [r[0] for r in conn.execute("SELECT url FROM articles ORDER BY random() LIMIT 500")]
    return {
        "currency": ["USD", "EUR", "RUB", "usd "],
        "url": [*popular[:100], *versioned[:50]],
        "versions_url": versioned,
        "date": rng.sample(days, min(30, len(days))),
        "date_start": [""],
        "date_end": [""],
        "tag": tags[:20],
        "q": searches,
        "advanced": [""],
        "_raw": raw,
        "search": searches,
        "pk_url": all_urls,
        "_terms": [f"{t} ({d:,} articles)" for t, d in terms],
    }


def _bind(sql: str, params: dict[str, list[Any]], i: int, name: str) -> dict[str, Any]:
    out = {}
    for key in set(re.findall(r"(?<!:):(\w+)", sql)):
        values = params.get("versions_url" if key == "url" and name == "article_versions_of" else key, [""])
        if name == ADVANCED and key in ("q", "advanced"):
            values = params["_raw"] if key == "q" else ["1"]
        out[key] = values[i % len(values)]
    return out


def timed(conn: sqlite3.Connection, sql: str, params: dict[str, list[Any]], name: str, reps: int) -> dict[str, Any]:
    """Latencies in ms over parameter values in turn (one warm-up first), at most ~6 s per query."""
    conn.execute(sql, _bind(sql, params, 0, name)).fetchmany(1001)
    times: list[float] = []
    rows: list[int] = []
    by_value: dict[str, list[float]] = {}
    budget = time.perf_counter() + 6
    for i in range(reps):
        bound = _bind(sql, params, i, name)
        start = time.perf_counter()
        got = conn.execute(sql, bound).fetchmany(1001)
        times.append(1000 * (time.perf_counter() - start))
        rows.append(len(got))
        by_value.setdefault(", ".join(f"{k}={v!r}" for k, v in sorted(bound.items())), []).append(times[-1])
        if i >= 4 and time.perf_counter() > budget:
            break
    return {
        "p50": percentile(times, 50),
        "p95": percentile(times, 95),
        "n": len(times),
        "rows": median(rows),
        "rows_max": max(rows),
        "by_value": {k: median(v) for k, v in by_value.items()},
    }


def plan(conn: sqlite3.Connection, sql: str, params: dict[str, list[Any]], name: str) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, _bind(sql, params, 0, name))]


def prepare(ctx: Context) -> None:
    """Start building the query database in a child process, to overlap with benchmarks that only measure RSS."""
    if "query_build" in ctx.shared:
        return
    folder = ctx.dir("queries")
    cmd = [
        PYTHON,
        "-m",
        "benchmarks.queries",
        "--build",
        str(folder / "informburo.db"),
        "--articles",
        str(ctx.sizes.query_articles),
        "--days",
        str(ctx.sizes.query_days),
    ]
    log = (folder / "build.json").open("w")
    ctx.shared["query_build"] = (subprocess.Popen(cmd, stdout=log, cwd=ROOT), folder, log)


def finish_build(ctx: Context) -> tuple[Path, dict[str, Any]] | None:
    """Wait for a build ``prepare`` started; the database's path and what the build reported."""
    if "query_build" not in ctx.shared:
        return ctx.shared.get("query_db")
    proc, folder, log = ctx.shared.pop("query_build")
    code = proc.wait()
    log.close()
    if code != 0:
        raise BenchError("building the query database failed")
    ctx.shared["query_db"] = (folder / "informburo.db", json.loads((folder / "build.json").read_text("utf-8")))
    return ctx.shared["query_db"]


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("queries", "Queries on a year-sized database")
    if "query_db" not in ctx.shared:
        prepare(ctx)
    built = finish_build(ctx)
    assert built is not None
    path, info = built
    rng = random.Random(5)
    conn = connect(path)
    try:
        params = parameters(conn, rng)
        canned = {n: _strip_optional(q) for n, q in canned_queries().items()}
        queries = {SEARCH_BOX: search_box_sql(), **canned, ADVANCED: canned["search"], **front_page_queries()}
        baseline = timed(conn, PK_SQL, {**params, "url": params["pk_url"]}, "pk", max(sizes.query_reps, 50))
        measured = {name: timed(conn, sql, params, name, sizes.query_reps) for name, sql in queries.items()}
        plans = {
            name: plan(conn, sql, params, name) for name, sql in queries.items() if measured[name]["p95"] >= TARGET_MS
        }
    finally:
        conn.close()
    fixes = fix(path, queries, plans, params, sizes.query_reps)
    for name, m in measured.items():
        fixed = fixes.get(name)
        note = f"p50 {fmt(m['p50'], 1)} ms; p95 = {_times(m['p95'], baseline['p50'])}× the lookup"
        if fixed:
            note += f"; with the proposed fix: p95 {fmt(fixed['p95'], 1)} ms"
        exercised = m["rows_max"] > 0
        if not exercised:
            note += "; returned no rows: the synthetic data do not exercise it"
        result.figures.append(
            Figure(
                f"query p95: {name}",
                m["p95"],
                "ms",
                f"< {TARGET_MS:g} ms",
                m["p95"] < TARGET_MS if exercised else None,
                note,
                baseline=f"primary-key lookup p50 {fmt(baseline['p50'], 3)} ms",
            )
        )
    result.raw = {"build": info, "baseline": baseline, "queries": measured, "plans": plans, "fixes": fixes}
    result.details += [
        f"Database: {info['articles']:,} articles over {info['days']} days, {info['runs']:,} runs,"
        f" {info['most_read_rows']:,} most-read rows, {info['rates_rows']:,} rates rows, {info['edited']:,} edited"
        f" articles; {info['bytes'] / 1e9:.2f} GB; built in {fmt(info['seconds'], 0)} s (FTS rebuild"
        f" {fmt(info['fts_s'], 0)} s) with triggers {', '.join(info['triggers'])} dropped and recreated.",
        f"Baseline, a primary-key lookup of an article: p50 {fmt(baseline['p50'], 3)} ms, p95"
        f" {fmt(baseline['p95'], 3)} ms. Search words: {'; '.join(params['_terms'])}.",
        "",
        "| query | p50 ms | p95 ms | × PK lookup (p95/p50) | samples | rows (median) | target | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in measured.items():
        result.details.append(
            f"| {name} | {fmt(m['p50'], 1)} | {fmt(m['p95'], 1)} | {_times(m['p95'], baseline['p50'])} | {m['n']} |"
            f" {m['rows']:g} | < {TARGET_MS:g} ms | {'PASS' if m['p95'] < TARGET_MS else 'MISS'} |"
        )
    for name, steps in plans.items():
        result.details += ["", f"`{name}` misses — EXPLAIN QUERY PLAN:", "", "```", *steps, "```", ""]
        if EXPLANATIONS.get(name):
            result.details.append(EXPLANATIONS[name])
        if any(key in ("q", "search") for key in re.findall(r"(?<!:):(\w+)", queries[name])):
            result.details.append(
                "Median ms by search: "
                + "; ".join(f"{value}: {fmt(ms, 1)}" for value, ms in measured[name]["by_value"].items())
                + "."
            )
        if name in fixes:
            what, ddl, sql = PROPOSALS[name]
            f = fixes[name]
            result.details.append(
                f"Proposed: {what}" + (f" (`{'; '.join(ddl)}`)" if ddl else "") + (" — query rewritten:" if sql else "")
            )
            if sql:
                result.details += ["", "```sql", sql, "```"]
            result.details.append(
                f"Measured with it: p50 {fmt(f['p50'], 1)} ms, p95 {fmt(f['p95'], 1)} ms"
                f" (same rows: {'yes' if f['same_rows'] else 'NO'}); plan: {' / '.join(f['plan'])}."
            )
    return result


def _times(value: float, base: float) -> str:
    return fmt(value / base, 0 if value >= 10 * base else 1)


def _unlimited(sql: str) -> str:
    """The query without its final LIMIT: rows tied on the sort key may be cut differently by a LIMIT."""
    return re.sub(r"\s+LIMIT\s+\d+\s*$", "", sql.strip())


def fix(
    path: Path, queries: dict[str, str], plans: dict[str, list[str]], params: dict[str, list[Any]], reps: int
) -> dict[str, dict[str, Any]]:
    """Apply the known proposal for each missed query and measure again (last: it changes the database)."""
    todo = {name: PROPOSALS[name] for name in plans if name in PROPOSALS}
    if not todo:
        return {}
    conn = connect(path, read_only=False)
    try:
        before = {
            name: conn.execute(_unlimited(queries[name]), _bind(queries[name], params, 0, name)).fetchall()
            for name in todo
        }
        applied: set[str] = set()
        out = {}
        for name, (_, ddl, replacement) in todo.items():
            for statement in ddl:
                if statement not in applied:
                    conn.execute(statement)
                    applied.add(statement)
            sql = replacement or queries[name]
            out[name] = timed(conn, sql, params, name, reps)
            out[name]["plan"] = plan(conn, sql, params, name)
            width = len(before[name][0]) if before[name] else 0  # `SELECT *` sees columns a proposal added
            after = [row[:width] for row in conn.execute(_unlimited(sql), _bind(sql, params, 0, name)).fetchall()]
            out[name]["same_rows"] = sorted(before[name], key=repr) == sorted(after, key=repr)
        return out
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--build", default=None, help="only build the database at this path (prints JSON)")
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    if args.build:
        print(json.dumps(build(Path(args.build), args.articles, args.days)))
        return
    standalone(run, Sizes.quick_sizes() if args.quick else Sizes())


if __name__ == "__main__":
    main()
