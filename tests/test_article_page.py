"""An article's page, ``/-/article?url=…`` (datasette/plugins/article.py): its versions, diff, chart, errors, escaping.

The word diff is unit-tested directly (the plugin module loaded by path, as Datasette loads it);
the page through Datasette's own test client on the mirror crawled twice with an edit between
(tests/test_datasette.py's ``build_archive``), with the templates and plugins ``informburo serve`` uses.
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import json
import re
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import pytest
from datasette.app import Datasette

from storage.browse import PLUGINS, TEMPLATES, database_name, load_metadata
from tests.test_datasette import Archive, build_archive, sidebar_entry


def _load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("informburo_article_plugin", PLUGINS / "article.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


article = _load_plugin()
word_diff = article.word_diff
WORDS = re.compile(r"\w+(?:-\w+)*|[^\w\s]")


def tokens(text: str) -> list[str]:
    return WORDS.findall(text)


def side(ops: list[tuple[str, str]], keep: str) -> str:
    """One side of a diff: the unchanged text and the ``keep`` ("delete" or "insert") parts."""
    return "".join(text for op, text in ops if op in ("equal", keep))


# --- word_diff ---------------------------------------------------------------------------------


def test_word_diff_marks_changed_cyrillic_words_and_keeps_the_rest() -> None:
    old = "Снег и похолодание пришли в южные регионы страны."
    new = "Снег и сильное похолодание пришли в северные регионы страны."
    ops = word_diff(old, new)
    assert [t.strip() for op, t in ops if op == "insert"] == ["сильное", "северные"]
    assert [t for op, t in ops if op == "delete"] == ["южные"]
    assert tokens(side(ops, "delete")) == tokens(old) and tokens(side(ops, "insert")) == tokens(new)
    assert "skip" not in dict(ops)  # the unchanged runs are short: nothing to elide


def test_word_diff_tells_punctuation_from_words() -> None:
    ops = word_diff("до 8 градусов мороза, днем – до 8.", "до 8 градусов мороза; днем – до 9.")
    assert ("delete", ",") in ops and ("insert", ";") in ops
    assert ("delete", "8") in ops and ("insert", "9") in ops
    assert not any("мороза" in t for op, t in ops if op != "equal")  # the word itself did not change
    # A hyphenated place name is one word, changed as a whole.
    ops = word_diff("рейс Алматы-Астана отменен", "рейс Алматы-Шымкент отменен")
    assert [(op, t) for op, t in ops if op != "equal"] == [("delete", "Алматы-Астана"), ("insert", "Алматы-Шымкент")]


def test_word_diff_of_empty_and_equal_texts() -> None:
    assert word_diff("", "Новый лид.") == [("insert", "Новый лид.")]
    assert word_diff(None, "Новый лид.") == [("insert", "Новый лид.")]
    assert word_diff("Старый лид.", "") == [("delete", "Старый лид.")]
    assert word_diff("Старый лид.", None) == [("delete", "Старый лид.")]
    assert word_diff("", "") == word_diff(None, None) == []
    assert word_diff("Тот же  текст.", "Тот же текст.") == []  # spacing alone is no change


def test_word_diff_elides_long_unchanged_runs_to_a_few_words_of_context() -> None:
    before = " ".join(f"слово{i}" for i in range(200))
    after = before.replace("слово100", "ИЗМЕНЕНО")
    ops = word_diff(before, after)
    kinds = [op for op, _ in ops]
    assert kinds == ["skip", "equal", "delete", "insert", "equal", "skip"], ops
    shown = tokens(" ".join(t for op, t in ops if op == "equal"))
    assert shown == [
        f"слово{i}" for i in range(100 - article.CONTEXT_WORDS, 100 + article.CONTEXT_WORDS + 1) if i != 100
    ]
    # Two changes far apart: the run between them keeps context on both sides, its middle elided.
    after = before.replace("слово20 ", "").replace("слово180", "ИЗМЕНЕНО")
    ops = word_diff(before, after)
    assert [op for op, _ in ops].count("skip") == 3
    assert tokens(side(ops, "delete")) != tokens(before)  # elided, so not the whole text
    # Without elision (context large enough) each side is the whole text again.
    ops = word_diff(before, after, context=1000)
    assert "skip" not in dict(ops)
    assert tokens(side(ops, "delete")) == tokens(before) and tokens(side(ops, "insert")) == tokens(after)


def test_word_diff_keeps_paragraph_breaks() -> None:
    old = "Первый абзац.\n\nВторой абзац."
    new = "Первый абзац.\n\nНовый абзац.\n\nВторой абзац."
    ops = word_diff(old, new)
    assert [op for op, _ in ops if op != "equal"] == ["insert"]  # one new paragraph, nothing removed
    assert sorted(tokens("".join(t for op, t in ops if op == "insert"))) == sorted(tokens("Новый абзац."))
    assert side(ops, "insert") == new and side(ops, "delete") == old  # the breaks are where they were


# --- The page ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("article") / "informburo.db")


def get(*dbs: Path, paths: list[str]) -> list[tuple[int, str]]:
    """GET each path from a Datasette on ``dbs`` as ``informburo serve`` runs it: our metadata, templates, plugins."""
    ds = Datasette(
        [str(db) for db in dbs],
        metadata=load_metadata(database_name(dbs[0])),
        template_dir=str(TEMPLATES),
        plugins_dir=str(PLUGINS),
    )

    async def get_all() -> list[tuple[int, str]]:
        return [((r := await ds.client.get(path)).status_code, r.text) for path in paths]

    return asyncio.run(get_all())


def page_of(url: str, **extra: str) -> str:
    return "/-/article?" + urlencode({"url": url, **extra})


def diff_blocks(page: str) -> list[str]:
    return re.findall(r'<div class="diff"[^>]*>(.*?)</div>', page, re.S)


def marked(page: str, tag: str) -> list[str]:
    """The unescaped text of every ``<del>`` or ``<ins>`` in the page's diffs."""
    return [html.unescape(t) for block in diff_blocks(page) for t in re.findall(rf"<{tag}>(.*?)</{tag}>", block, re.S)]


def chart_of(page: str) -> dict[str, Any]:
    [spec] = re.findall(r'<script type="application/json" id="article-chart-spec">(.*?)</script>', page, re.S)
    return json.loads(spec)


@pytest.mark.slow
def test_edited_article_shows_its_text_two_versions_and_the_changed_words(archive: Archive) -> None:
    edited = archive.edited
    before = next(a for a in archive.first.articles if a["slug"] == edited["slug"])
    [(status, page)] = get(archive.db, paths=[page_of(archive.url(edited))])
    assert status == 200, page
    text = html.unescape(page)
    assert edited["title"] in text and edited["lead"] in text
    assert all(f"<p>{html.escape(block['text'], quote=False)}</p>" in page for block in edited["blocks"][:1])
    assert edited["author"] in text and all(f"#{tag}" in text for tag in edited["tags"])
    assert edited["published"] in text and "Kazakhstan time" in text
    assert 'id="version-1"' in page and 'id="version-2"' in page and "Versions (2)" in page
    assert re.search(r"· run <a href=\"/informburo/crawl_runs/2\">2</a>", page)
    # The edit replaced the first paragraph: exactly its words are struck out, exactly the new ones added.
    removed, added = before["blocks"][0]["text"], edited["blocks"][0]["text"]
    assert [w for t in marked(page, "del") for w in tokens(t)] == tokens(removed)[:-1]  # the final "." stays
    assert [w for t in marked(page, "ins") for w in tokens(t)] == tokens(added)[:-1]
    [block] = diff_blocks(page)
    assert "Прогноз на выходные" in block  # context after the change
    assert "коммунальные" not in block and 'class="elided"' in block  # the unchanged rest elided
    # The source layer of each field, and the tags linking to their canned query.
    assert re.search(r"<th>body</th><td>site</td>", page)
    tag = edited["tags"][0]
    assert f'href="/informburo/articles_by_tag?{urlencode({"tag": tag})}"' in page


@pytest.mark.slow
def test_an_article_never_edited_has_one_version_and_no_diff(archive: Archive) -> None:
    [(status, page)] = get(archive.db, paths=[page_of(archive.url(archive.today))])
    assert status == 200
    assert "Versions (1)" in page and "First version stored" in page and not diff_blocks(page)


@pytest.mark.slow
def test_chart_data_holds_the_articles_views_and_rank(archive: Archive) -> None:
    edited = archive.edited
    [(_, page)] = get(archive.db, paths=[page_of(archive.url(edited))])
    views, ranks = chart_of(page)["vconcat"]
    sidebar = [sidebar_entry(s, edited) for s in (archive.first, archive.site)]
    assert sorted((v["counter"], v["views"]) for v in views["data"]["values"]) == sorted(
        [("article page", edited["views"] - 100), ("article page", edited["views"])]
        + [("most-read sidebar", int(e["views"])) for e in sidebar]
    )
    assert [r["rank"] for r in ranks["data"]["values"]] == [int(e["rank"]) for e in sidebar]  # oldest first
    assert ranks["encoding"]["y"]["scale"]["reverse"] is True  # rank 1 on top
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", v["time"]) for v in views["data"]["values"])
    # The chart is drawn by the bundle datasette-dashboards serves, and asks for no data: it is in the page.
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert "/-/static-plugins/datasette_dashboards/vega-lite.min.js" in scripts
    assert all(s.startswith("/") and not s.startswith("//") for s in scripts), scripts
    assert ".json?sql=" not in page
    # An article without a counter and never in the sidebar: no chart, and it says so.
    quiet = next(a for a in archive.stored() if a["views"] is None)
    [(status, page)] = get(archive.db, paths=[page_of(archive.url(quiet))])
    assert status == 200 and "article-chart-spec" not in page and "No view counter" in page


@pytest.mark.slow
def test_unknown_or_missing_url_is_an_error_page_not_a_traceback(archive: Archive) -> None:
    unknown = archive.base + "/novosti/net-takoj-stati"
    (s1, missing), (s2, empty), (s3, page), (s4, injected) = get(
        archive.db, paths=["/-/article", "/-/article?url=+", page_of(unknown), page_of("x' OR '1'='1")]
    )
    assert s1 == s2 == 400
    assert "Give its canonical URL" in missing and "Give its canonical URL" in empty
    assert s3 == 404 and f"holds no article with the URL {unknown}" in page
    assert s4 == 404 and "holds no article" in injected  # the URL is a parameter, not SQL
    assert "Traceback" not in page + missing


@pytest.mark.slow
def test_several_databases_need_db(archive: Archive, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    _copy(archive.db, other)
    url = archive.url(archive.edited)
    (s1, page), (s2, _), (s3, unknown) = get(
        archive.db, other, paths=[page_of(url), page_of(url, db="other"), page_of(url, db="nope")]
    )
    assert s1 == 400 and "say which with &amp;db=" in page
    assert s2 == 200
    assert s3 == 404 and "No database named nope" in unknown


def _copy(src: Path, dst: Path) -> None:
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    target.close()
    source.close()


@pytest.mark.slow
def test_hostile_text_is_escaped(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "hostile.db"
    _copy(archive.db, db)
    url = archive.url(archive.edited)
    title = "<script>alert(1)</script> Заголовок"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE articles SET title = ?, lead = ?, author = ?, image_url = ?, tags = ? WHERE url = ?",
            (title, '<img src="http://evil.example/x.png">', "</script><b>x</b>", "javascript:alert(3)",
             json.dumps(["<i>тег</i>"]), url),
        )  # fmt: skip
        conn.execute(
            "UPDATE article_versions SET title = ? WHERE id = (SELECT max(id) FROM article_versions WHERE url = ?)",
            (title, url),
        )
    conn.close()
    [(status, page)] = get(db, paths=[page_of(url)])
    assert status == 200
    assert "<script>alert" not in page and "<img src" not in page and "<b>x</b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Заголовок" in page
    assert 'href="javascript:' not in page
    assert marked(page, "ins")[0].startswith("<script>alert(1)</script>")  # in the title's diff, escaped


@pytest.mark.slow
def test_other_changed_fields_show_old_and_new_unless_not_recorded(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "fields.db"
    _copy(archive.db, db)
    url = archive.url(archive.edited)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE article_versions SET author = 'Новый Автор', tags = :tags"
            " WHERE id = (SELECT max(id) FROM article_versions WHERE url = :url)",
            {"url": url, "tags": json.dumps([*archive.edited["tags"], "мороз"], ensure_ascii=False)},
        )
    conn.close()
    [(status, page)] = get(db, paths=[page_of(url)])
    assert status == 200
    changes = [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(r"<li>(.*?)</li>", page, re.S)]
    tags = ", ".join(archive.edited["tags"])
    assert f"Author: {archive.edited['author']} → Новый Автор" in changes
    assert f"Tags: {tags} → {tags}, мороз" in changes
    # A version stored before schema 10 recorded only its text: nothing but the text is compared with it.
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE article_versions SET lang = NULL, author = NULL, published_at = NULL, modified_at = NULL,"
            " tags = NULL, image_url = NULL"
            " WHERE url = :url AND id < (SELECT max(id) FROM article_versions WHERE url = :url)",
            {"url": url},
        )
    conn.close()
    [(status, page)] = get(db, paths=[page_of(url)])
    assert status == 200 and "Only the text is compared" in page
    assert not re.findall(r"<li>(Author|Tags):", page) and len(diff_blocks(page)) == 1


def test_web_href_keeps_only_http_links() -> None:
    assert article.web_href("https://informburo.kz/a") == "https://informburo.kz/a"
    assert article.web_href("JavaScript:alert(1)") is None
    assert article.web_href(None) is None and article.web_href("/relative") is None
