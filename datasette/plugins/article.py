"""An article's own page, ``/-/article?url=…``: its text, facts, versions with word diffs, views and rank.

Everything an article has is spread over ``articles``, ``article_versions``, ``article_views`` and
``most_read``; this page gathers it for one URL. It only reads (parameterised SELECTs on indexes
that start with ``url``), and all article text goes through Jinja's autoescape: it is hostile input.
The chart uses the vega / vega-lite / vega-embed copies datasette-dashboards serves from this server,
with the data inline in the page, so viewing it asks nothing of any other host.
"""

from __future__ import annotations

import json
import re
from difflib import SequenceMatcher
from typing import Any
from urllib.parse import urlencode, urlsplit

from datasette.hookspecs import hookimpl
from datasette.utils.asgi import BadRequest, NotFound, Response

#: Unchanged words kept on each side of a change; longer unchanged runs are elided to "…".
CONTEXT_WORDS = 4
#: An unchanged run is elided only when that hides at least this many words (hiding two words helps no one).
MIN_ELIDED_WORDS = 3
#: The newest versions shown; an article edited more often than this gets a note and a link to all of them.
MAX_VERSIONS = 100
#: Points of each series in the chart (the latest), as the dashboards do.
MAX_POINTS = 1000
#: The fields besides the text that a version records (schema 10 onwards); ``published_at`` is never NULL there.
OTHER_FIELDS = ("author", "tags", "published_at", "modified_at", "lang", "image_url")
TEXT_FIELDS = ("title", "lead", "body")
CHART_PLUGIN = "datasette_dashboards"
#: Its bundled scripts, in load order (the ones its chart pages load).
CHART_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")

#: A paragraph break, a run of other whitespace, or a token: a word (hyphenated place names stay one word) or one
#: punctuation mark, so "мороза." and "мороза," differ by their mark only.
_TOKEN = re.compile(r"(\n[^\S\n]*\n\s*)|(\s+)|(\w+(?:-\w+)*|[^\w\s])")
_WORD = re.compile(r"\w")

Op = tuple[str, str]


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """Keys to compare (a word, a mark, or "¶" for a paragraph break) and the text of each, its spacing after it."""
    keys: list[str] = []
    texts: list[str] = []
    for paragraph, space, token in _TOKEN.findall(text.strip()):
        if paragraph:
            keys.append("¶")
            texts.append("\n\n")
        elif space:
            texts[-1] += space  # the text is stripped, so a token precedes any whitespace
        else:
            keys.append(token)
            texts.append(token)
    return keys, texts


def _words(keys: list[str]) -> int:
    return sum(1 for key in keys if _WORD.search(key))


def _keep(keys: list[str], words: int) -> int:
    """How many leading tokens hold ``words`` words (and the marks that come with them)."""
    seen = 0
    for i, key in enumerate(keys):
        if _WORD.search(key):
            if seen == words:
                return i
            seen += 1
    return len(keys)


def word_diff(old: str | None, new: str | None, context: int = CONTEXT_WORDS) -> list[Op]:
    """The change from ``old`` to ``new`` word by word: ``(op, text)`` pairs, op one of equal/delete/insert/skip.

    Without elision, equal + delete texts give ``old`` and equal + insert give ``new``; ``skip``
    ("…") stands for an unchanged run elided down to ``context`` words either side of the changes
    around it. Paragraph breaks are ``"\\n\\n"``. Nothing changed (or both empty): ``[]``.
    Whitespace alone is not a change: the text is whitespace-normalised when stored.
    """
    old_keys, old_texts = _tokens(old or "")
    new_keys, new_texts = _tokens(new or "")
    if old_keys == new_keys:
        return []
    opcodes = SequenceMatcher(None, old_keys, new_keys, autojunk=False).get_opcodes()
    out: list[Op] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag != "equal":
            removed, added = "".join(old_texts[i1:i2]), "".join(new_texts[j1:j2])
            if removed and added:  # a replacement: the spacing after it is on both sides, so not a change
                spacing = added[len(added.rstrip(" ")) :]
                out += [("delete", removed.rstrip(" ")), ("insert", added.rstrip(" ")), ("equal", spacing)]
            else:
                out.append(("delete", removed) if removed else ("insert", added))
            continue
        keys, texts = new_keys[j1:j2], new_texts[j1:j2]
        head = _keep(keys, context) if n > 0 else 0  # the words after the change before, with their marks
        tail = len(keys)
        if n < len(opcodes) - 1:  # the words before the next change, starting at a word
            tail -= _keep(keys[::-1], context)
            while tail < len(keys) and not _WORD.search(keys[tail]):
                tail += 1
        if head >= tail or _words(keys[head:tail]) < MIN_ELIDED_WORDS:
            out.append(("equal", "".join(texts)))
            continue
        if head:
            out.append(("equal", "".join(texts[:head])))
        out.append(("skip", "…"))
        if tail < len(keys):
            out.append(("equal", "".join(texts[tail:])))
    return _merged(out)


def _merged(ops: list[Op]) -> list[Op]:
    """Neighbouring pairs of the same kind as one (the spacing after a change meets the unchanged run after it)."""
    out: list[Op] = []
    for op, text in ops:
        if not text:
            continue
        if out and out[-1][0] == op != "skip":
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))
    return out


# --- The page ---------------------------------------------------------------------------------

COUNTERS = {"page": "article page", "most_read": "most-read sidebar"}
LABELS = {
    "title": "Title",
    "lead": "Lead",
    "body": "Body",
    "author": "Author",
    "tags": "Tags",
    "published_at": "Published",
    "modified_at": "Modified",
    "lang": "Language",
    "image_url": "Image",
}


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/article$", article_page)]


async def article_page(datasette: Any, request: Any) -> Response:
    """``/-/article?url=<canonical URL>[&db=<name>]``: 400 without a URL, 404 for one the archive does not hold."""
    url = (request.args.get("url") or "").strip()
    if not url:
        raise BadRequest("Which article? Give its canonical URL: /-/article?url=https://informburo.kz/…")
    name = _database_name(datasette, (request.args.get("db") or "").strip())
    await datasette.ensure_permissions(request.actor, [("view-database", name), "view-instance"])
    db = datasette.get_database(name)
    if not await db.table_exists("articles"):
        raise NotFound(f"The database {name} holds no articles table: it is not an informburo archive.")
    found = (await db.execute("SELECT * FROM articles WHERE url = :url", {"url": url})).rows
    if not found:
        raise NotFound(
            f"The archive {name} holds no article with the URL {url}. An article is stored under its canonical URL "
            "(no fragment, no utm_ parameters); the articles table's search box finds it by its words."
        )
    article = dict(found[0])
    versions, total = await _versions(db, url)
    chart = await _chart(db, url)
    canned = await datasette.get_canned_queries(name, request.actor)
    context = {
        "database": name,
        "article": article,
        "original_href": web_href(url),
        "image_href": web_href(article.get("image_url")),
        "paragraphs": [p for p in (article.get("body") or "").split("\n\n") if p.strip()],
        "tags": [
            {"tag": tag, "href": _tag_href(datasette, name, tag, canned)} for tag in _json_list(article.get("tags"))
        ],
        "sources": _json_object(article.get("sources")),
        "versions": versions,
        "versions_total": total,
        "versions_href": _query_href(datasette, name, "article_versions_of", {"url": url}, canned)
        or datasette.urls.table(name, "article_versions") + "?" + urlencode({"url": url}),
        "chart": chart,
        "chart_points": sum(len(panel["data"]["values"]) for panel in chart["vconcat"]) if chart else 0,
        "rank_history_href": _query_href(datasette, name, "article_rank_history", {"url": url}, canned),
        "chart_scripts": [datasette.urls.static_plugins(CHART_PLUGIN, name) for name in CHART_SCRIPTS],
    }
    html = await datasette.render_template("article.html", context, request=request, view_name="article")
    return Response.html(html)


def _database_name(datasette: Any, asked: str) -> str:
    """The database ``?db=`` names, or the one served; Datasette's own (``_internal``, ``_memory``) never."""
    served = [name for name in datasette.databases if not name.startswith("_")]
    if asked:
        if asked not in served:
            raise NotFound(f"No database named {asked} is served here; served: {', '.join(served) or 'none'}.")
        return asked
    if len(served) == 1:
        return served[0]
    if not served:
        raise NotFound("No database is served here.")
    raise BadRequest(f"Several databases are served ({', '.join(served)}): say which with &db=<name>.")


def web_href(url: str | None) -> str | None:
    """``url`` if it is an http(s) link, else None: a stored URL comes from the page and could be ``javascript:``."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return url
    return None


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return [text] if text else []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _json_object(text: str | None) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _query_href(datasette: Any, db: str, query: str, params: dict[str, str], canned: dict[str, Any]) -> str | None:
    """A canned query's URL with its parameters filled in, if the metadata declares it."""
    if query not in canned:
        return None
    return datasette.urls.query(db, query) + "?" + urlencode(params)


def _tag_href(datasette: Any, db: str, tag: str, canned: dict[str, Any]) -> str:
    """The tag's articles: the ``articles_by_tag`` query, else the articles table filtered on its tags array."""
    return _query_href(datasette, db, "articles_by_tag", {"tag": tag}, canned) or (
        datasette.urls.table(db, "articles") + "?" + urlencode({"tags__arraycontains": tag})
    )


def _shown(field: str, value: Any) -> str:
    """A non-text field's value as the page writes it: tags joined, absent as "—"."""
    if field == "tags":
        return ", ".join(_json_list(value)) or "—"
    return "—" if value is None or value == "" else str(value)


async def _versions(db: Any, url: str) -> tuple[list[dict[str, Any]], int]:
    """The newest ``MAX_VERSIONS`` versions, oldest first, each with what changed since the one before it."""
    total = (await db.execute("SELECT count(*) FROM article_versions WHERE url = :url", {"url": url})).rows[0][0]
    rows = (
        await db.execute(
            "SELECT * FROM (SELECT * FROM article_versions WHERE url = :url ORDER BY id DESC LIMIT :limit) ORDER BY id",
            {"url": url, "limit": MAX_VERSIONS + 1},  # one more: the diff of the oldest shown needs its predecessor
        )
    ).rows
    rows = [dict(r) for r in rows]
    shown = []
    for i, row in enumerate(rows):
        if total > MAX_VERSIONS and i == 0:
            continue
        previous = rows[i - 1] if i else None
        shown.append(_version(row, previous, total - len(rows) + i + 1))
    return shown, total


def _version(row: dict[str, Any], previous: dict[str, Any] | None, number: int) -> dict[str, Any]:
    recorded = row.get("published_at") is not None  # versions stored before schema 10 recorded their text only
    version = {
        "number": number,
        "run_id": row.get("run_id"),
        "captured_at": row.get("captured_at"),
        "content_hash": row.get("content_hash"),
        "recorded": recorded,
        "first": previous is None,
        "diffs": [],
        "changes": [],
        "compared_fields": False,
    }
    if previous is None:
        return version
    for field in TEXT_FIELDS:
        ops = word_diff(previous.get(field), row.get(field))
        if ops:
            version["diffs"].append({"field": LABELS[field], "ops": ops})
    if recorded and previous.get("published_at") is not None:
        version["compared_fields"] = True
        for field in OTHER_FIELDS:
            old, new = previous.get(field), row.get(field)
            if field == "tags":
                old, new = _json_list(old), _json_list(new)
            if old != new:
                version["changes"].append(
                    {
                        "field": LABELS[field],
                        "old": _shown(field, previous.get(field)),
                        "new": _shown(field, row.get(field)),
                    }
                )
    return version


async def _chart(db: Any, url: str) -> dict[str, Any] | None:
    """A Vega-Lite spec, data inline: views per run by counter, and the sidebar rank (1 on top); None if no data."""
    views = (
        await db.execute(
            "SELECT captured_at, views, source FROM article_views WHERE url = :url ORDER BY captured_at DESC LIMIT :n",
            {"url": url, "n": MAX_POINTS},
        )
    ).rows
    ranks = (
        await db.execute(
            "SELECT run_id, min(captured_at) AS captured_at, min(rank) AS rank FROM most_read WHERE url = :url "
            "GROUP BY run_id ORDER BY run_id DESC LIMIT :n",
            {"url": url, "n": MAX_POINTS},
        )
    ).rows
    return chart_spec(
        [
            {"time": r["captured_at"], "views": r["views"], "source": r["source"]}
            for r in views
            if r["views"] is not None
        ],
        [{"time": r["captured_at"], "rank": r["rank"]} for r in ranks],
    )


def chart_spec(views: list[dict[str, Any]], ranks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The chart of ``views`` (time, views, source) and ``ranks`` (time, rank), oldest first; None if both empty.

    Times are cut to their Kazakhstan wall time (no offset) so the browser's own zone does not shift them.
    """
    x = {"field": "time", "type": "temporal", "title": "Captured (Kazakhstan time)"}
    mark = {"type": "line", "point": True, "tooltip": True}
    panels: list[dict[str, Any]] = []
    if views:
        values = sorted(
            (
                {"time": v["time"][:19], "views": v["views"], "counter": COUNTERS.get(v["source"], v["source"])}
                for v in views
            ),
            key=lambda v: v["time"],
        )
        panels.append(
            {
                "title": "Views",
                "data": {"values": values},
                "width": 340,
                "height": 160,
                "mark": mark,
                "encoding": {
                    "x": x,
                    "y": {"field": "views", "type": "quantitative", "title": "Views", "scale": {"zero": False}},
                    "color": {
                        "field": "counter",
                        "type": "nominal",
                        "title": "Counter",
                        "legend": {"orient": "bottom"},
                    },
                },
            }
        )
    if ranks:
        values = sorted(({"time": r["time"][:19], "rank": r["rank"]} for r in ranks), key=lambda r: r["time"])
        panels.append(
            {
                "title": "Rank in the most-read sidebar (1 is top)",
                "data": {"values": values},
                "width": 340,
                "height": 110,
                "mark": mark,
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "rank",
                        "type": "quantitative",
                        "title": "Rank",
                        "scale": {"reverse": True, "domain": [1, max(10, *(r["rank"] for r in values))]},
                        "axis": {"tickMinStep": 1},
                    },
                },
            }
        )
    if not panels:
        return None
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "vconcat": panels,
        "resolve": {"scale": {"x": "shared"}},
    }
