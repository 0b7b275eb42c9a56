"""Fuzzing the extractors with mutated mirror pages: an item or a structured reject, never a crash."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy import Request
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

import pipelines.normalize
import pipelines.validate
from crawler.fields import KZ_TZ
from crawler.items import Article, MostReadEntry, RateQuote
from mirror.site import Site, render_article, render_home, render_listing
from pipelines.normalize import NormalizePipeline, normalize_item
from pipelines.preview import parse_page
from pipelines.store import StorePipeline
from pipelines.validate import Rejected, ValidatePipeline, check_item

BASE = "https://informburo.kz"
NOW = datetime(2026, 1, 16, 15, 0, tzinfo=KZ_TZ)
SITE = Site.default()
PAGES = {
    "article": (render_article(SITE, SITE.articles[0], BASE), BASE + SITE.path_of(SITE.articles[0])),
    "drifted": (render_article(SITE, {**SITE.articles[1], "variant": "drifted"}, BASE), BASE + "/novosti/d"),
    "listing": (render_listing(SITE, 1) or "", BASE + "/novosti"),
    "home": (render_home(SITE), BASE + "/"),
}
CLASSES = {"article": Article, "most_read": MostReadEntry, "rate": RateQuote}

junk = st.sampled_from(
    [
        "<",
        ">",
        "</div>",
        "<div class='article'>",
        "<h1>",
        "</p><p>",
        "<time datetime='x'>",
        "&#0;",
        "\x00",
        "<script>",
        "]]>",
        "<!--",
        "\ufeff",
        "<table><tr><td class='currency-value'>",
        "💥",
        "&nbsp;",
        "<br/>",
        # hostile values: far dates, counts past 64 bits, no-URLs, wrong JSON-LD types, deep markup
        '<time datetime="9999-12-31T23:59:59Z">',
        '<time datetime="0001-01-01T00:00:00+06:00">',
        '<small id="arrilot-widget-container-1">99999999999999999999999</small>',
        '<span class="most-read-views">99999999999999999999999</span>',
        '<img class="article-img" data-src="http://[::1">',
        '<link rel="canonical" href="https://[informburo.kz/x">',
        '<script type="application/ld+json">{"@type": {"x": 1}, "dateModified": [1]}</script>',
        '<td class="currency-value">' + "9" * 400 + " / 1</td>",
        "<b>" * 1500,
    ]
)


@st.composite
def mutated(draw: st.DrawFn, html: str) -> str:
    for _ in range(draw(st.integers(1, 6))):
        if not html:
            break
        at = draw(st.integers(0, len(html)))
        kind = draw(st.sampled_from(["delete", "insert", "truncate", "text"]))
        if kind == "delete":
            html = html[:at] + html[at + draw(st.integers(1, 400)) :]
        elif kind == "insert":
            html = html[:at] + draw(junk) + html[at:]
        elif kind == "truncate":
            html = html[:at]
        else:
            html = html[:at] + draw(st.text(max_size=30)) + html[at:]
    return html


@pytest.mark.parametrize("kind", sorted(PAGES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_pages_give_items_or_structured_rejects(kind: str, data: st.DataObject) -> None:
    html, url = PAGES[kind]
    page = data.draw(mutated(html))
    for encoded in (page, page.encode("utf-8", errors="surrogatepass")):
        for record in parse_page(encoded, url, NOW):
            assert isinstance(record, dict) and record["type"] in (*CLASSES, "listing_entry")
            if record["type"] == "listing_entry":
                continue
            assert all(storable(v) for v in record.values()), record  # SQLite takes every value
            fields = {k: v for k, v in record.items() if k != "type"}
            item = CLASSES[record["type"]](**fields)
            try:
                check_item(item)
            except Rejected as reject:  # structured: a field and a reason
                assert reject.reason


# -- hostile values: every exception type a field can raise, not only ValueError ------------------

#: Articles with every field filled, with the date only in meta, only in JSON-LD, and drifted.
HOSTILE_BASES = {BASE + SITE.path_of(a): a for a in (SITE.articles[i] for i in (10, 13, 14, 11))}
REFERENCES = {
    url: next(r for r in parse_page(render_article(SITE, a, BASE), url, NOW) if r["type"] == "article")
    for url, a in HOSTILE_BASES.items()
}
LD_SCRIPT = re.compile(r'(<script type="application/ld\+json">)(.*?)(</script>)', re.S)
#: Below lxml's 2,048 levels (past them the parser drops the page's rest), above Python's recursion limit.
DEEP = st.integers(1100, 1900)

far_dates = st.sampled_from(
    [
        "9999-12-31T23:59:59Z",  # OverflowError once in Kazakhstan time
        "0001-01-01T00:00:00+06:00",
        "10000-01-01T00:00:00",
        "2026-13-45T99:99:99",
        "31 февраля 2026",
        "99:99, 16 января 2026",
    ]
)
huge_counts = st.sampled_from(["99999999999999999999999", "9" * 5000, "9" * 400 + " тыс.", "-5", "12.5", "NaN", "∞"])
bad_urls = st.sampled_from(
    ["http://[::1", "https://[informburo.kz/x", "http://a]b/c", "javascript:alert(1)", "http://", "ftp://x/y"]
)
#: Objects, lists and numbers where text is expected, nested lists included.
wrong_json = st.sampled_from([{"x": 1}, [{"x": 1}], [[[1]]], 5, 1e308, True, [1, 2], {"@type": "Person"}, 10**400]) | (
    st.integers(50, 600).map(lambda n: json.loads("[" * n + "1" + "]" * n))
)
#: JSON-LD key → the field it feeds.
LD_KEYS = {
    "headline": "title",
    "datePublished": "published_at",
    "dateModified": "modified_at",
    "author": "author",
    "image": "image_url",
    "keywords": "tags",
    "articleBody": "body",
    "inLanguage": "lang",
}
#: Where deep markup goes: (open tag, content, close tag), and the field it must not cost.
NESTS = {
    "title": (r"(<h1>)(.*?)(</h1>)", "title"),
    "body": (r'(<div class="article">.*?<p>)(.*?)(</p>)', "body"),
    "lead": (r'(<div class="article-excerpt">)(.*?)(</div>)', "lead"),
    "views": (r'(<small id="arrilot[^"]*">)(.*?)(</small>)', "views"),
    "tag": (r'(<ul class="article-tags"><li><a [^>]*>)(.*?)(</a>)', "tags"),
}
TARGETS = (
    [f"ld:{k}" for k in LD_KEYS]
    + ["ld:@type", "ld:deep", "time", "views", "image", "canonical", "meta:modified", "meta:image"]
    + [f"nest:{k}" for k in NESTS]
)


def _ld_edit(html: str, edit: Callable[[dict[str, Any]], str]) -> str:
    """The page with its (last) JSON-LD object replaced by ``edit(object)``, the new script text."""
    match = list(LD_SCRIPT.finditer(html))[-1]
    return html[: match.start(2)] + edit(json.loads(match[2])) + html[match.end(2) :]


def _nest(match: re.Match[str], depth: int) -> str:
    """(open tag, content, close tag) with the content inside ``depth`` nested ``<b>``."""
    return match[1] + "<b>" * depth + match[2] + "</b>" * depth + match[3]


@st.composite
def hostile_page(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """(page, URL, target → field it feeds): an article page with 1–5 hostile values in distinct places.

    Targets whose markup a page lacks (no ``<time>`` on a drifted page) are left out of the map.
    """
    url = draw(st.sampled_from(sorted(HOSTILE_BASES)))
    html = render_article(SITE, HOSTILE_BASES[url], BASE)
    fed: dict[str, str] = {}
    targets = draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=5, unique=True))
    for target in sorted(targets, key=lambda t: t == "ld:deep"):  # the other JSON-LD edits first
        kind, _, name = target.partition(":")
        n = 1
        if kind == "ld" and name == "@type":
            value = draw(wrong_json)
            html = _ld_edit(html, lambda ld, v=value: json.dumps({**ld, "@type": v}))
        elif kind == "ld" and name == "deep":  # past the JSON parser's own limit: the script is skipped
            html = _ld_edit(html, lambda ld: "[" * 5_000 + json.dumps(ld) + "]" * 5_000)
        elif kind == "ld":
            value = draw(far_dates if name.startswith("date") else bad_urls if name == "image" else wrong_json)
            html = _ld_edit(html, lambda ld, k=name, v=value: json.dumps({**ld, k: v}))
            fed[target] = LD_KEYS[name]
        elif kind == "nest":
            pattern, fed[target] = NESTS[name]
            depth = draw(DEEP)
            html, n = re.subn(pattern, partial(_nest, depth=depth), html, count=1, flags=re.S)
        else:
            pattern, values, fed[target] = {
                "time": (r'(<time datetime=")[^"]*', far_dates, "published_at"),
                "views": (r'(<small id="arrilot[^"]*">)[^<]*', huge_counts, "views"),
                "image": (r'(class="article-img" data-src=")[^"]*', bad_urls, "image_url"),
                "canonical": (r'(rel="canonical" href=")[^"]*', bad_urls, "url"),
                "meta:modified": (r'(property="article:modified_time" content=")[^"]*', far_dates, "modified_at"),
                "meta:image": (r'(property="og:image" content=")[^"]*', bad_urls, "image_url"),
            }[target]
            value = draw(values)
            html, n = re.subn(pattern, lambda m, v=value: m[1] + v, html, count=1)
        if not n:
            fed.pop(target, None)
    return html, url, fed


def storable(value: Any) -> bool:
    """A value SQLite (or the JSON of a column) takes as it is: no int past 64 bits, no infinity."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and isinstance(v, (str, type(None))) for k, v in value.items())
    return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=hostile_page())
def test_hostile_values_are_null_with_a_recorded_problem_never_an_escaped_exception(
    case: tuple[str, str, dict[str, str]],
) -> None:
    html, url, fed = case
    records = parse_page(html, url, NOW)  # extraction and normalisation: no exception may escape
    (article,) = [r for r in records if r["type"] == "article"]
    for record in records:
        assert all(storable(v) for v in record.values()), record
    problems = article.get("problems", {})
    assert all(isinstance(reason, str) and reason for reason in problems.values()), problems
    assert article["url"] == url  # an unreadable canonical link leaves the page's own URL, never none
    hostile_fields = {field for target, field in fed.items() if not target.startswith("nest:")}
    for target, field in fed.items():
        if target.startswith("nest:"):
            if field not in hostile_fields:  # deep markup is read whole, as if it were flat
                assert article[field] == REFERENCES[url][field], (target, field)
        elif target == "canonical":
            assert "url" in problems, problems
        elif article[field] in (None, [], ""):  # the field could not be read: it says why
            assert field in problems, (target, field, problems)
    try:
        check_item(Article(**{k: v for k, v in article.items() if k != "type"}))
    except Rejected as reject:  # a required field lost: structured, with its recorded reason
        assert reject.field and reject.reason == problems.get(reject.field, "missing")


# -- the pipelines: any exception ends as a recorded reject or problem, never Scrapy's log line --------

ITEM_URL = BASE + "/novosti/far-dates"


def hostile_article(**changes: Any) -> Article:
    """A raw article whose optional fields and publication time no rule can read."""
    fields = {
        "url": ITEM_URL,
        "title": "Заголовок",
        "body": ["Абзац."],
        "published_at": "0001-01-01T00:00:00+06:00",  # OverflowError in Kazakhstan time
        "modified_at": "9999-12-31T23:59:59Z",  # OverflowError too
        "views": "99999999999999999999999",  # past SQLite's 64-bit INTEGER
        "image_url": "http://[::1",  # ValueError: Invalid IPv6 URL
    }
    return Article(**{**fields, **changes})


def test_unreadable_fields_are_null_with_their_reasons_and_only_a_required_one_rejects() -> None:
    item = normalize_item(hostile_article())
    assert (item.published_at, item.modified_at, item.views, item.image_url) == (None, None, None, None)
    assert set(item.problems) == {"published_at", "modified_at", "views", "image_url"}
    assert "out of range" in item.problems["modified_at"] and "too large" in item.problems["views"]
    with pytest.raises(Rejected) as rejected:
        check_item(item)
    assert rejected.value.field == "published_at" and rejected.value.reason == item.problems["published_at"]
    item = normalize_item(hostile_article(published_at="2026-01-16T10:52:00+05:00"))
    check_item(item)  # the optional ones alone do not cost the article
    entry = normalize_item(MostReadEntry(rank="1", title="🥩 Ярмарка", views="9" * 30, url="http://[::1"))
    assert entry.views is None and entry.url is None and set(entry.problems) == {"views", "url"}
    quote = normalize_item(RateQuote(currency="USD", buy="9" * 400, sell="508,1"))
    assert quote.buy is None and quote.sell == 508.1 and "too large" in quote.problems["buy"]


def test_the_normalise_and_validate_pipelines_turn_any_exception_into_a_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(item: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(pipelines.normalize, "normalize_item", broken)
    with pytest.raises(Rejected, match="KeyError"):
        NormalizePipeline().process_item(Article(url=ITEM_URL))
    monkeypatch.setattr(pipelines.validate, "check_item", broken)
    with pytest.raises(Rejected, match="KeyError"):
        ValidatePipeline().process_item(Article(url=ITEM_URL))


@pytest.fixture
def store_pipeline(tmp_path: Path) -> Iterator[StorePipeline]:
    settings = {"INFORMBURO_DB": str(tmp_path / "run.db"), "INFORMBURO_LOCK_TIMEOUT": 5}
    pipeline = StorePipeline.from_crawler(get_crawler(settings_dict=settings))
    pipeline.open_spider()
    yield pipeline
    pipeline.spider_closed("finished")


def test_the_store_pipeline_keeps_what_any_exception_cost(store_pipeline: StorePipeline, tmp_path: Path) -> None:
    """An item SQLite cannot bind is a reject; an exception any pipeline let escape is a reject; an
    errback's exception is an error of its page; and the run stays ``ok``."""
    item = normalize_item(hostile_article(published_at="2026-01-16T10:52:00+05:00"))
    item.views = 10**30  # as if a rule had let it through: OverflowError at the binding
    with pytest.raises(Rejected) as rejected:
        store_pipeline.process_item(item)
    store_pipeline.item_dropped(item, None, rejected.value)
    stray = Article(url=BASE + "/novosti/stray", title="Т")
    store_pipeline.item_error(stray, None, Failure(RuntimeError("a pipeline's bug")))
    errback = Failure(ZeroDivisionError("an errback's bug"))
    errback.request = Request(BASE + "/novosti/errback")  # what Scrapy hands spider_error for an errback
    store_pipeline.spider_error(Failure(ZeroDivisionError("an errback's bug")), errback)
    store_pipeline.spider_closed("finished")
    db = sqlite3.connect(tmp_path / "run.db")
    try:
        rejects = db.execute("SELECT url, reason FROM rejects ORDER BY id").fetchall()
        errors = db.execute("SELECT url, stage, reason FROM crawl_errors").fetchall()
        status = db.execute("SELECT status FROM crawl_runs").fetchall()
        articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        db.close()
    assert [url for url, _ in rejects] == [ITEM_URL, BASE + "/novosti/stray"]
    assert "OverflowError" in rejects[0][1] and "RuntimeError: a pipeline's bug" in rejects[1][1]
    assert errors == [(BASE + "/novosti/errback", "parse", "ZeroDivisionError: an errback's bug")]
    assert status == [("ok",)] and articles == 0
