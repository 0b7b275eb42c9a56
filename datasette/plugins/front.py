"""The front page's data: what a visitor comes for, read from the archive in a few indexed queries.

``templates/index.html`` calls ``front_page(name)`` for each database Datasette lists (the name comes
from the file: ``data/informburo.db`` → ``informburo``). Every query is bounded by a LIMIT and served by
an index (``max(run_id)`` of ``most_read`` and ``rates`` from their primary keys, the newest articles
from ``articles_published_at``, the latest runs from ``crawl_runs``' primary key, failing checks by
``monitor_results_run``, open incidents by ``incidents_open``), so the page costs the same on a
fresh database and on 200,000 articles. A database that is not an archive (no ``articles`` table)
gets Datasette's own listing.
"""

# No ``from __future__ import annotations``: Datasette loads this file without putting it in sys.modules,
# where @dataclass would look the string annotations up.
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from datasette import hookimpl

#: The tables an archive has from its first schema version; the rest are listed when present.
ARCHIVE_TABLES = ("articles", "most_read", "rates", "crawl_runs")
NEWEST_ARTICLES = 10
LAST_RUNS = 5
#: The canned queries the front page points to, in this order (others follow in metadata order).
FIRST_QUERIES = ("latest_most_read", "latest_rates", "published_today", "search", "edited_articles")

MOST_READ_SQL = """
SELECT rank, emoji, title, url, views, comments, reactions, captured_at, run_id
FROM most_read
WHERE run_id = (SELECT max(run_id) FROM most_read)
ORDER BY rank
"""
RATES_SQL = """
SELECT r.currency, r.buy, r.sell, r.captured_at, r.run_id,
       p.buy AS previous_buy, p.sell AS previous_sell, p.captured_at AS previous_captured_at
FROM rates r
LEFT JOIN rates p ON p.rowid = (
    SELECT q.rowid FROM rates q
    WHERE q.currency = r.currency AND q.captured_at < r.captured_at
    ORDER BY q.captured_at DESC
    LIMIT 1
)
WHERE r.run_id = (SELECT max(run_id) FROM rates)
ORDER BY CASE r.currency WHEN 'USD' THEN 1 WHEN 'EUR' THEN 2 WHEN 'RUB' THEN 3 ELSE 4 END, r.currency
"""
NEWEST_SQL = f"""
SELECT url, title, section, lang, published_at
FROM articles
ORDER BY published_at DESC
LIMIT {NEWEST_ARTICLES}
"""
RUNS_SQL = f"""
SELECT id, started_at, finished_at, status, pages, items_stored, items_rejected, errors, warning, job, parts
FROM crawl_runs
ORDER BY id DESC
LIMIT {LAST_RUNS}
"""
FAILED_CHECKS_SQL = f"""
SELECT run_id, monitor, severity, detail, checked_at
FROM monitor_results
WHERE run_id IN (SELECT id FROM crawl_runs ORDER BY id DESC LIMIT {LAST_RUNS}) AND passed = 0
ORDER BY run_id DESC, id
LIMIT 20
"""
OPEN_INCIDENTS_SQL = """
SELECT monitor, severity, detail, started_at, failures
FROM incidents
WHERE recovered_at IS NULL
ORDER BY started_at DESC
LIMIT 20
"""

#: Every statement the front page runs on an archive, by part (the benchmarks time each at 200,000 articles).
FRONT_QUERIES = {
    "most read": MOST_READ_SQL,
    "rates": RATES_SQL,
    "newest articles": NEWEST_SQL,
    "last runs": RUNS_SQL,
    "failed checks": FAILED_CHECKS_SQL,
    "open incidents": OPEN_INCIDENTS_SQL,
}


@dataclass
class FrontPage:
    """What ``index.html`` shows for one database; ``archive`` is False for a database that is not one."""

    database: str
    archive: bool = False
    most_read: list[dict[str, Any]] = field(default_factory=list)
    rates: list[dict[str, Any]] = field(default_factory=list)
    newest: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    failed_checks: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    monitors: bool = False  # the database has monitor_results and incidents (schema 11)
    tables: list[dict[str, str]] = field(default_factory=list)  # name, description (first sentence), url
    queries: list[dict[str, str]] = field(default_factory=list)  # name, title, url
    charts: list[dict[str, str]] = field(default_factory=list)  # title, url (datasette-dashboards)

    @property
    def empty(self) -> bool:
        """Nothing collected yet: a fresh database."""
        return not (self.most_read or self.rates or self.newest or self.runs)


def first_sentence(text: str | None) -> str:
    """The one line a table gets on the front page: its description up to the first full stop."""
    text = " ".join((text or "").split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def change(now: float | None, before: float | None) -> dict[str, Any] | None:
    """The move of a rate since the previous snapshot: arrow (▲ ▼ or =) and signed difference, 2 decimals."""
    if now is None or before is None:
        return None
    diff = round(now - before, 2)
    arrow = "▲" if diff > 0 else "▼" if diff < 0 else "="
    direction = "up" if diff > 0 else "down" if diff < 0 else "same"
    return {"arrow": arrow, "diff": f"{diff:+.2f}" if diff else "0.00", "direction": direction}


def kz_time(value: str | None) -> str:
    """An ISO time as stored (Kazakhstan time, with its offset) shown as ``YYYY-MM-DD HH:MM``: never converted."""
    if not value:
        return ""
    return value[:10] + " " + value[11:16] if len(value) >= 16 else value


def article_url(datasette: Any, url: str | None) -> str | None:
    """The archive's own page of an article (``/-/article?url=…``), where its text, versions and views are."""
    return datasette.urls.path("/-/article?url=" + quote(url, safe="")) if url else None


async def _rows(db: Any, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = await db.execute(sql, params or {})
    return [dict(row) for row in result.rows]


async def front_page(datasette: Any, name: str, actor: Any = None) -> FrontPage:
    """Everything the front page shows for database ``name``, in a handful of indexed queries."""
    page = FrontPage(name)
    try:
        db = datasette.get_database(name)
    except KeyError:
        return page
    tables = set(await db.table_names())
    if not set(ARCHIVE_TABLES) <= tables:
        return page
    page.archive = True
    page.most_read = await _rows(db, MOST_READ_SQL)
    for entry in page.most_read:
        entry["article_url"] = article_url(datasette, entry["url"])
    page.rates = await _rows(db, RATES_SQL)
    for rate in page.rates:
        rate["buy_change"] = change(rate["buy"], rate["previous_buy"])
        rate["sell_change"] = change(rate["sell"], rate["previous_sell"])
    page.newest = await _rows(db, NEWEST_SQL)
    for article in page.newest:
        article["published"] = kz_time(article["published_at"])
        article["article_url"] = article_url(datasette, article["url"])
    page.runs = await _rows(db, RUNS_SQL)
    for run in page.runs:
        run["started"] = kz_time(run["started_at"])
    page.monitors = {"monitor_results", "incidents"} <= tables
    if page.monitors:
        page.failed_checks = await _rows(db, FAILED_CHECKS_SQL)
        page.incidents = await _rows(db, OPEN_INCIDENTS_SQL)
    hidden = set(await db.hidden_table_names())
    described = (datasette.metadata("tables", database=name, fallback=False) or {}).keys()
    order = [t for t in described if t in tables] + sorted(tables - set(described))
    page.tables = [
        {
            "name": table,
            "description": first_sentence(datasette.table_metadata(name, table).get("description")),
            "url": datasette.urls.table(name, table),
        }
        for table in order
        if table not in hidden
    ]
    queries = await datasette.get_canned_queries(name, actor)
    names = [q for q in FIRST_QUERIES if q in queries] + [q for q in queries if q not in FIRST_QUERIES]
    page.queries = [
        {"name": q, "title": queries[q].get("title") or q, "url": datasette.urls.query(name, q)} for q in names
    ]
    dashboards = datasette.plugin_config("datasette-dashboards") or {}
    page.charts = [
        {"title": spec.get("title") or slug, "url": datasette.urls.path(f"/-/dashboards/{slug}")}
        for slug, spec in dashboards.items()
        if isinstance(spec, dict)
    ]
    return page


@hookimpl
def extra_template_vars(template: str, request: Any, datasette: Any) -> dict[str, Callable[[str], Awaitable]] | None:
    """``front_page(name)`` for ``index.html``: the template asks for each database it lists."""
    if template != "index.html":
        return None
    actor = request.actor if request is not None else None

    async def for_database(name: str) -> FrontPage:
        return await front_page(datasette, name, actor)

    return {"front_page": for_database}
