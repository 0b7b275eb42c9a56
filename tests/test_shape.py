"""The sidebar and the rates found by their shape when the named selectors miss (issue 14, item 3).

The one thing known for sure about the live sidebar and rates is the text the page shows
(``fixtures/seed/informburo-page.txt``). ``fixtures/shape/`` carries that very content in
markups that share no class name with docs/anatomy.md (UIkit-like lists, a definition list, a
plain table, divs with icons, counters before the title, nested lists as the seed's text reads),
and pages that carry no sidebar or rates at all. Expectations come from the seed's text and the
mirror's links (``mirror/content/widgets.json``), never from the fixtures themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from parsel import Selector

from crawler.fields import canonical_url
from crawler.pages import parse_most_read, parse_rates
from crawler.pages import rates as rates_page
from crawler.pages import sidebar as sidebar_page
from crawler.pages.shape import find_most_read, find_rates
from mirror.site import Site, render_home
from pipelines.normalize import normalize_item
from tests.test_seed_golden import read_seed

HERE = Path(__file__).parent
SHAPES = HERE / "fixtures" / "shape"
ANATOMY = HERE.parent / "docs" / "anatomy.md"
WIDGETS = HERE.parent / "mirror" / "content" / "widgets.json"
URL = "https://informburo.kz/novosti/zamglavy-mid-alibek-bakaev-rasskazal-o-peregovorah-po-atakam-na-ktk"

MARKUPS = ["uikit-lists", "definition-list", "plain-table", "icon-divs", "counters-first", "seed-lists"]
NOTHING = ["none-article-prose", "none-listing", "none-numbered-links", "none-converter-footer", "none-home-cards"]


def html(name: str) -> str:
    return (SHAPES / f"{name}.html").read_text(encoding="utf-8")


def expected_entries() -> list[tuple[Any, ...]]:
    """(rank, emoji, title, url, views, comments, reactions) of the seed's ten entries: the emoji is
    what stands between the rank and the first letter or digit of the title."""
    _, entries, _ = read_seed()
    hrefs = [e["href"] for e in json.loads(WIDGETS.read_text(encoding="utf-8"))["most_read"]]
    out = []
    for (line, views, comments, reactions), href in zip(entries, hrefs, strict=True):
        rank = re.match(r"\d+", line).group()
        after = line[len(rank) :]
        title_at = next(i for i, ch in enumerate(after) if ch.isalnum())
        emoji = after[:title_at].strip() or None
        url = canonical_url(href, URL)
        out.append((int(rank), emoji, after[title_at:].strip(), url, views, comments, reactions))
    return out


def entries_of(widget: Any) -> list[tuple[Any, ...]]:
    items = [normalize_item(e) for e in widget]
    assert all(not e.problems for e in items), [e.problems for e in items]
    return [(e.rank, e.emoji, e.title, e.url, e.views, e.comments, e.reactions) for e in items]


def rates_of(widget: Any) -> list[tuple[Any, ...]]:
    items = [normalize_item(q) for q in widget]
    assert all(not q.problems for q in items), [q.problems for q in items]
    return [(q.currency, q.buy, q.sell) for q in items]


def without_classes(page: str) -> str:
    return re.sub(r'\sclass="[^"]*"', "", page)


@pytest.mark.parametrize("name", MARKUPS)
def test_every_markup_of_the_seed_gives_its_ten_entries_and_three_rates(name: str) -> None:
    page = html(name)
    sidebar, rates = parse_most_read(page, URL, "2026-01-16T15:00:00+05:00"), parse_rates(page, URL)
    assert entries_of(sidebar) == expected_entries()
    assert rates_of(rates) == read_seed()[2]
    assert (sidebar.layer, rates.layer) == ("shape", "shape")
    assert sidebar.problems == rates.problems == []  # ten read, nothing cut off
    assert "found by its shape (10 entries)" in sidebar.notes[0]
    assert "found by their shape (3 currencies)" in rates.notes[0]
    assert {e.captured_at for e in sidebar} == {"2026-01-16T15:00:00+05:00"}


def test_the_markups_share_no_class_name_with_the_anatomy() -> None:
    code = " ".join(re.findall(r"`([^`]+)`", ANATOMY.read_text(encoding="utf-8")))
    named = set(re.findall(r"\.([A-Za-z_][\w@-]*)", code))
    assert {"most-read-item", "currency-code", "uk-nav", "uk-width-2-3@m"} <= named  # the check reads them
    for name in MARKUPS + NOTHING:
        used = {c for attr in re.findall(r'class="([^"]*)"', html(name)) for c in attr.split()}
        assert not used & named, f"{name}: {used & named}"


@pytest.mark.parametrize("name", NOTHING)
def test_a_page_without_a_sidebar_or_rates_gives_nothing(name: str) -> None:
    page = html(name)
    for widget in (parse_most_read(page, URL), parse_rates(page, URL)):
        assert list(widget) == [] and widget.layer is None
        assert widget.problems == widget.notes == []


def test_ten_numbered_links_are_a_sidebar_only_with_three_counters_each() -> None:
    """The negative page fails for the reason it is meant to: give its ranked links three
    counters each and it is a sidebar."""
    page = html("none-numbered-links")
    counted = re.sub(r"<time>16 января</time>", "<span>100</span> <span>2</span> <span>3</span>", page)
    [entries] = find_most_read(Selector(text=counted).root, URL)
    assert [(e.rank, e.views, e.comments, e.reactions) for e in entries] == [
        (str(n), "100", "2", "3") for n in range(1, 11)
    ]


def test_the_named_selectors_are_never_overridden() -> None:
    site_page = (HERE / "fixtures" / "pages" / "home-widgets.html").read_text(encoding="utf-8")
    other = html("plain-table")  # another sidebar and rates, in a markup only the shape layer reads
    both = site_page.replace(
        "</aside>", other[other.index("<aside>") + len("<aside>") : other.index("</aside>")] + "</aside>"
    )
    alone_sidebar, alone_rates = parse_most_read(site_page, URL), parse_rates(site_page, URL)
    sidebar, rates = parse_most_read(both, URL), parse_rates(both, URL)
    assert (sidebar.layer, rates.layer) == ("site", "site") and sidebar.notes == rates.notes == []
    assert entries_of(sidebar) == entries_of(alone_sidebar) and len(sidebar) == 8
    assert rates_of(rates) == rates_of(alone_rates) and len(rates) == 4
    # the shape layer alone would have read the other blocks: the test is not vacuous
    root = Selector(text=both).root
    assert any(len(run) == 10 for run in find_most_read(root, URL)) and any(len(b) == 3 for b in find_rates(root))


def test_the_shape_layer_runs_only_when_the_selectors_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sidebar_page, "find_most_read", lambda *a, **k: calls.append("most_read") or [])
    monkeypatch.setattr(rates_page, "find_rates", lambda *a, **k: calls.append("rates") or [])
    page = render_home(Site.default())
    parse_most_read(page, URL), parse_rates(page, URL)
    assert calls == []
    parse_most_read(without_classes(page), URL), parse_rates(without_classes(page), URL)
    assert calls == ["most_read", "rates"]


def test_the_mirror_home_page_without_its_classes_reads_as_with_them() -> None:
    page = render_home(Site.default())
    base = "http://127.0.0.1:8000/"
    bare = without_classes(page)
    assert parse_most_read(page, base).layer == "site"
    assert parse_most_read(bare, base).layer == parse_rates(bare, base).layer == "shape"
    assert entries_of(parse_most_read(bare, base)) == entries_of(parse_most_read(page, base))
    assert rates_of(parse_rates(bare, base)) == rates_of(parse_rates(page, base))


def test_abbreviated_missing_and_empty_counters_read_as_the_selectors_read_them() -> None:
    """ "1,2 тыс.", "12K", "—" and an empty counter element, by shape; the eighth entry shows two
    counters and no empty third, so which one is missing cannot be told: the run ends before it."""
    page = (HERE / "fixtures" / "pages" / "home-widgets.html").read_text(encoding="utf-8")
    named, shaped = parse_most_read(page, URL), parse_most_read(without_classes(page), URL)
    assert shaped.layer == "shape"
    assert entries_of(shaped) == entries_of(named)[:7]
    assert shaped.problems == [  # never left out in silence
        "most-read sidebar found by its shape up to rank 7: entry 8 follows but is not one article link"
        " and three counters; left out"
    ]
    assert [e[4] for e in entries_of(shaped)] == [11674, 11674, 11674, 1200, 12000, None, None]
    assert rates_of(parse_rates(without_classes(page), URL)) == rates_of(parse_rates(page, URL))


def test_a_widget_twice_by_shape_keeps_the_first_and_says_what_was_left() -> None:
    page = html("uikit-lists")
    aside = page[page.index("<aside>") + len("<aside>") : page.index("</aside>")]
    twice = page.replace("</aside>", aside + "</aside>")
    sidebar, rates = parse_most_read(twice, URL), parse_rates(twice, URL)
    assert entries_of(sidebar) == expected_entries()
    assert sidebar.problems == [
        "2 most-read blocks on the page: took the first (10 entries); left block 2: 10 entries, the same as the first"
    ]
    assert rates.problems == [
        "2 currency-rates blocks on the page: took the first (3 entries);"
        " left block 2: 3 entries, the same as the first"
    ]
    again = page.replace('<span class="uk-text-bold">RUB:</span>', '<span class="uk-text-bold">USD:</span>')
    quotes = parse_rates(again, URL)
    assert [q.currency for q in quotes] == ["USD:", "EUR:"]
    assert quotes.problems == [
        "USD listed twice in the currency rates: took the first ('505.1 / 508.1'), left '6.51 / 6.63'"
    ]


def test_counters_just_before_the_sidebar_do_not_shift_its_entries() -> None:
    """icon-divs.html has a card with three counters of its own right before entry 1: read as
    counters-then-title, every entry would take the counters of the one before it. The reading
    whose entries each sit in an element of their own wins."""
    [entries] = find_most_read(Selector(text=html("icon-divs")).root, URL)
    assert (entries[0].views, entries[9].reactions) == ("11674", "8")


def test_the_shape_layer_reads_markup_nested_deeper_than_python_recurses() -> None:
    root = node = etree.Element("div")
    for _ in range(10_000):
        node = etree.SubElement(node, "span")
    node.text = "USD: 505.1 / 508.1"
    assert find_most_read(root, URL) == [] and find_rates(root) == []


def test_thousands_of_empty_cells_neither_recurse_nor_change_the_reading() -> None:
    page = html("uikit-lists").replace("<aside>", "<aside>" + "<span></span>" * 5000)
    page = page.replace("<li><span uk-icon", "<li>" + "<b></b>" * 50 + "<span uk-icon")
    assert entries_of(parse_most_read(page, URL)) == expected_entries()
    assert rates_of(parse_rates(page, URL)) == read_seed()[2]
