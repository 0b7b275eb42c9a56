"""The shortcuts extraction takes for speed give the answers of the slow way, on the pages where they could not.

``PageIndex`` answers CSS queries from two passes instead of one XPath each; ``clean_text``,
``canonical_url`` and ``parse_datetime`` keep their answers; ``clean_text`` skips plain text;
the boilerplate search tests a first letter before its alternatives. Each is checked here
against the plain XPath or the uncached rule, on inputs built to tell them apart.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # the test reads the pattern's structure: private, but only here

import pytest
from lxml import etree
from parsel import Selector

from crawler import fields
from crawler.pages.article import BANNER_PREFIX, PAGE_QUERIES, ArticlePage, _meta_tags
from crawler.pages.base import css
from crawler.pages.index import PageIndex, has_token, matcher, plan, select_in

#: Class lists XPath's ``normalize-space`` and Python's ``str.split`` split differently, nesting,
#: comments, a class on the root, metas and titles outside the head: what an index could get wrong.
TRICKY = """<html class="article-excerpt"><head><title>head title</title>
<meta property="og:title" content="A"><meta name="empty" content="">
<link rel="canonical" href="https://informburo.kz/novosti/x"><link rel="Canonical" href="/wrong">
<script type="application/ld+json">{}</script><script type="application/LD+json">{}</script></head>
<body><title>body title</title><meta property="in-body" content="B"><meta property="no-content">
<!-- <div class="article"> a comment, not an element -->
<h1>Title <script>x()</script></h1><H1 class="x">second</H1>
<p class="article-excerpt&#160;wide">a no-break space joins the words: no lead</p>
<p class="article-author\f">a form feed is no XPath space: no author</p>
<strong class="\tarticle-excerpt\nlead ">the lead</strong>
<span class="by article-author">Author</span>
<div class="article"><p>one</p><div class="article inner"><p>two</p><ul class="article-tags"><li><a>#t</a>
<ul class="article-tags"><li><a>#u</a></li></ul></li></ul></div><div class="article-banner-mobile">ad</div>
<blockquote class="twitter-tweet">tweet</blockquote><p class="read-more">more</p></div>
<div class="article-text-card">card</div><img class="article-img wide" src="/a.jpg">
<small id="arrilot-widget-container-1">12</small><small id="x-arrilot-widget-container">13</small>
<time itemprop="datePublished dateCreated">t</time><span itemprop="datePublishedX">no</span>
<a rel="author me" href="/x">a</a><a href="/authors/y">b</a><i itemprop="author">c</i>
<aside><nav>n</nav></aside><footer class="article">f</footer><ul class="several-images-read-more"></ul>
</body></html>"""

QUERIES = (
    *PAGE_QUERIES,
    "ul.article-tags",
    "script, style, noscript, template",
    'a[rel~="author"], [itemprop="author"], a[href*="/author/"], a[href*="/authors/"]',
    '[itemprop="name"]',
    "span.article-author",
    "p",
    "a",
    "*",
    "div > p",
    "p:first-child",
    "li a",
    "h1, .article-excerpt",
    ".read-more, h1",
    "[class]",
    "#arrilot-widget-container-1",
    'small[id^="x"]',
    '[class*="banner"]',
)


def pages() -> list[etree._Element]:
    return [Selector(text=TRICKY).root, Selector(text="<html><body><p>bare</p></body></html>").root]


@pytest.mark.parametrize("query", QUERIES)
def test_the_index_answers_as_the_xpath_does(query: str) -> None:
    for root in pages():
        index = PageIndex(root, PAGE_QUERIES, (BANNER_PREFIX,))
        assert index.select(query) == css(query)(root), query
        assert index.select(query) is index.select(query)  # answered once a page
        for el in css("div.article, h1, body")(root):
            assert select_in(el, query) == css(query)(el), query


def test_the_tricky_page_tells_the_rules_apart() -> None:
    """The page above is one on which a Python ``split()`` or a per-pass answer would differ."""
    root = Selector(text=TRICKY).root
    index = PageIndex(root, PAGE_QUERIES, (BANNER_PREFIX,))
    lead = index.select(".article-excerpt")
    assert [el.tag for el in lead] == ["html", "strong"]  # not the no-break space one
    assert [el.text for el in index.select(".article-author")] == ["Author"]  # not the form feed one
    assert [el.text for el in index.select("ul.article-tags a")] == ["#t", "#u"]  # nested lists: each link once
    assert [el.text for el in index.select("h1, .article-excerpt")][1:] == [
        "Title ",
        "second",
        "the lead",
    ]  # document order
    assert not has_token("a\u00a0b", "a") and has_token("\ta\nb ", "b")


def test_class_prefixes_are_the_banner_xpath() -> None:
    banner = etree.XPath(".//*[contains(concat(' ', normalize-space(@class)), ' article-banner')]")
    for root in pages():
        assert PageIndex(root, PAGE_QUERIES, (BANNER_PREFIX,)).with_class_prefix(BANNER_PREFIX) == banner(root)
        assert PageIndex(root).with_class_prefix(BANNER_PREFIX) == banner(root)  # undeclared: a walk


def test_a_query_below_the_root_leaves_the_documents_metas_and_title_to_the_document() -> None:
    body = Selector(text=TRICKY).css("body")[0]
    page = ArticlePage(body, "https://informburo.kz/novosti/x")
    metas = etree.XPath("//head/meta[@content] | //body//meta[@content]")(body.root)
    assert _meta_tags(page._document) == metas
    assert page._index.select("h1") == css("h1")(body.root)
    assert page._page_title == "head title"
    assert page._index.select('link[rel="canonical"]') == []  # in the head: outside the selector


def test_reading_a_page_leaves_its_tree_as_it_was() -> None:
    """The index is a snapshot of the tree: it holds because page objects never change the tree."""
    sel = Selector(text=TRICKY)
    before = etree.tostring(sel.root)
    ArticlePage(sel, "https://informburo.kz/novosti/x").to_item()
    assert etree.tostring(sel.root) == before


def test_a_container_matcher_refuses_what_it_cannot_plan() -> None:
    assert plan("div > p") is None and plan("p::first-line") is None
    with pytest.raises(ValueError):
        matcher("ul.article-tags a")
    noise = matcher("script, .banner, blockquote.twitter-tweet")
    root = Selector(text=TRICKY).root
    assert [el for el in root.iter() if isinstance(el.tag, str) and noise(el)] == css(
        "script, .banner, blockquote.twitter-tweet"
    )(root)


TEXTS = [
    "plain text",
    "  ends  ",
    "double  space",
    "tab\there",
    "line\nbreak",
    "no\u00a0break",
    "zero\u200bwidth",
    "soft\u00adhyphen",
    "\u202eoverride",
    "👨\u200d👩\u200d👧 family",
    "a\u200db",
    "❤\ufe0f heart",
    "x\ufe0f",
    "\u3000ideographic\u3000",
    "\x00nul",
    "",
    "   ",
    "\u200b",
    "ſ",
]


@pytest.mark.parametrize("text", TEXTS)
def test_clean_text_kept_and_plain_answers_are_the_steps_answers(text: str) -> None:
    slow = fields._REMOVE.sub("", text)
    if fields._CONTEXT.search(slow):
        slow = fields._keep_emoji_joiners(slow)
    slow = fields._SPACE_RUN.sub(" ", fields._OTHER_SPACES.sub(" ", slow)).strip() or None
    assert fields.clean_text(text) == slow
    assert fields.clean_text(text) == slow  # again, from the cache
    assert fields._clean_text(text) == slow


@pytest.mark.parametrize("value", [5, b"bytes", ["list"]])
def test_clean_text_of_what_is_not_text_raises_as_before(value: object) -> None:
    with pytest.raises(TypeError) as new:
        fields.clean_text(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError) as old:
        fields._REMOVE.sub("", value)  # type: ignore[call-overload]
    assert str(new.value) == str(old.value)


def test_kept_answers_raise_again_and_equal_the_rule() -> None:
    for _ in range(2):  # an exception is never kept: the second call raises it too
        with pytest.raises(ValueError, match="not an absolute"):
            fields.canonical_url("/relative")
        with pytest.raises(ValueError, match="not a date"):
            fields.parse_datetime("не дата")
    for url, base in [
        ("HTTP://Informburo.KZ:443/novosti/x/?utm_source=a#f", "https://informburo.kz/"),
        ("/a", "https://x.kz/b"),
    ]:
        assert fields.canonical_url(url, base) == fields._canonical_url(url, base)
    assert fields.parse_datetime("10:52, 16 января 2026") == fields._parse_datetime("10:52, 16 января 2026")
    long = "https://informburo.kz/novosti/" + "x" * 5000  # past the cached length: read each time, same answer
    assert fields.canonical_url(long) == fields._canonical_url(long)


def test_every_boilerplate_word_starts_with_a_letter_the_search_tests_first() -> None:
    (op, (_, branches)) = sre_parse.parse(fields._BOILERPLATE_WORDS, re.IGNORECASE)[0]
    assert str(op) == "BRANCH"
    for branch in branches:
        first_op, first = branch[0]
        assert str(first_op) == "LITERAL" and chr(first) in fields._BOILERPLATE_FIRST
    plain = re.compile(fields._BOILERPLATE_WORDS, re.IGNORECASE)
    text = "We use COOKIES. Принять все cookie. ſubscribe to read. \u1c83огласие на обработку. Access Denied"
    assert [m.group(0) for m in fields._BOILERPLATE.finditer(text)] == [m.group(0) for m in plain.finditer(text)]
