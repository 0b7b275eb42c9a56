"""Search that takes what people type: ``fts_query()`` for the canned queries, highlights for their results.

FTS5 reads its MATCH argument as a query language, so ordinary input breaks it: ``Усть-Каменогорск``
is a column filter (``no such column``), a stray ``"`` an unterminated string, a lone ``AND`` a syntax
error. ``fts_query(text)`` turns what was typed into a query of plain words, every one required;
``fts_query(text, advanced)`` passes the text through untouched when ``advanced`` is on, for those who
want FTS5's own syntax. Either way an empty text matches nothing, without an error, so a search page
opens quietly before anything is typed.

Datasette loads this file from ``--plugins-dir`` (``informburo serve`` passes it); the benchmarks
import ``fts_query`` from here by path, so both run the same function.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from typing import Any
from urllib.parse import quote

import markupsafe

from datasette import hookimpl

#: The FTS5 query that matches nothing and is not an error: an empty phrase.
NOTHING = '""'
#: What a word is made of for the ``unicode61`` tokenizer: letters and digits (anything else separates tokens).
_TOKEN = re.compile(r"[^\W_]+")
#: A phrase the user put in straight double quotes, or a run of anything else.
_PHRASE = re.compile(r'"([^"]*)"')
#: Values of ``advanced`` that switch raw FTS5 syntax on (a checkbox sends "on", a link "1").
_ON = frozenset({"1", "on", "true", "yes", "raw"})
#: The markers ``highlight()`` and ``snippet()`` put around a match in the canned queries.
OPEN, CLOSE = "[", "]"
_MARKED = re.compile(re.escape(OPEN) + r"([^" + re.escape(OPEN + CLOSE) + r"]*)" + re.escape(CLOSE))
#: The canned queries whose rows are search results: their title links to the article page, matches marked.
SEARCH_COLUMNS = frozenset({"snippet"})


def _phrase(text: str) -> str | None:
    """One FTS5 string holding the tokens of ``text`` in order (a phrase), or None if it has none.

    Only letters and digits are kept: they are what the tokenizer indexes, so ``Усть-Каменогорск``
    becomes ``"Усть Каменогорск"``, the two tokens side by side, exactly as the text was indexed,
    and nothing FTS5 would read as syntax (quotes, ``*``, ``:``, ``^``, parentheses) survives.
    A word with no letter or digit (``—``, ``*``) would be an empty phrase, which matches nothing:
    it is dropped instead.
    """
    tokens = _TOKEN.findall(text)
    return '"' + " ".join(tokens) + '"' if tokens else None


def plain_query(text: str) -> str:
    """What was typed as an FTS5 query: each word, or "quoted phrase", required; no operators."""
    text = unicodedata.normalize("NFC", text)
    terms: list[str] = []
    last = 0
    for match in _PHRASE.finditer(text):  # paired quotes: a phrase; an unpaired one is just punctuation
        terms += text[last : match.start()].split()
        terms.append(match.group(1))
        last = match.end()
    terms += text[last:].split()
    phrases = [p for p in map(_phrase, terms) if p]
    return " AND ".join(dict.fromkeys(phrases)) or NOTHING


def fts_query(text: Any, advanced: Any = None) -> str:
    """The MATCH argument for what a user typed: plain words by default, raw FTS5 when ``advanced`` is on."""
    text = "" if text is None else str(text)
    if advanced is not None and str(advanced).strip().lower() in _ON:
        return text.strip() or NOTHING
    return plain_query(text)


def register(conn: sqlite3.Connection) -> None:
    """Make ``fts_query(text)`` and ``fts_query(text, advanced)`` available in SQL on ``conn``."""
    conn.create_function("fts_query", 1, fts_query, deterministic=True)
    conn.create_function("fts_query", 2, fts_query, deterministic=True)


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    register(conn)


def marked(text: str) -> markupsafe.Markup:
    """A highlighted text as HTML on one line: the ``[match]`` markers become ``<mark>``, everything else escaped."""
    text = " ".join(text.split())  # a snippet spans paragraphs: their blank lines would stretch the row
    out, last = [], 0
    for match in _MARKED.finditer(text):
        out += [markupsafe.escape(text[last : match.start()]), markupsafe.Markup("<mark>%s</mark>") % match.group(1)]
        last = match.end()
    out.append(markupsafe.escape(text[last:]))
    return markupsafe.Markup("").join(out)


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """In a search result (a query row with a ``snippet``): matches marked, the title a link to the article page."""
    if table is not None or not isinstance(value, str) or column not in ("title", "snippet"):
        return None
    try:
        keys = row.keys()
    except AttributeError:
        return None
    if not SEARCH_COLUMNS & set(keys):
        return None
    if column == "snippet":
        return marked(value)
    if "url" not in keys or not row["url"]:
        return marked(value)
    href = datasette.urls.path("/-/article?url=" + quote(row["url"], safe=""))
    return markupsafe.Markup('<a href="{}">{}</a>').format(href, marked(value))


@hookimpl
def extra_template_vars(template: str, database: str | None, table: str | None, request: Any, datasette: Any) -> Any:
    """``search_action`` for a table page: the canned query its metadata names as ``search_query``, if it exists.

    Datasette's own table search sorts every match before it keeps a page of them (docs/benchmarks.md §7);
    the canned query walks the publication-time index instead, and takes plain words.
    """
    if template != "table.html" or not database or not table:
        return None
    name = datasette.table_metadata(database, table).get("search_query")
    if not name:
        return None

    async def inner() -> dict[str, Any]:
        actor = request.actor if request is not None else None
        if not await datasette.get_canned_query(database, name, actor):
            return {}
        return {"search_action": datasette.urls.query(database, name)}

    return inner
