"""Fuzzing the extractors with mutated mirror pages: an item or a structured reject, never a crash."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.fields import KZ_TZ
from crawler.items import Article, MostReadEntry, RateQuote
from mirror.site import Site, render_article, render_home, render_listing
from pipelines.preview import parse_page
from pipelines.validate import Rejected, check_item

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
            fields = {k: v for k, v in record.items() if k != "type"}
            item = CLASSES[record["type"]](**fields)
            try:
                check_item(item)
            except Rejected as reject:  # structured: a field and a reason
                assert reject.reason
