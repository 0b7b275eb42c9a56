"""An article's page in a real browser: ``informburo serve`` on the twice-crawled mirror, headless Chromium.

The page must draw its versions, their marked words and its chart with the bundle served here,
asking no other host (Chromium's network log); the test also makes the screenshots
docs/datasette.md shows, so they stay current: ``docs/images/article-page.png`` and ``docs/images/chart.png``.
A screenshot is written there only once it has passed its checks.
"""

from __future__ import annotations

import html
import re
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import test_browser
from tests.conftest import ROOT
from tests.test_browser import (
    SERIES_COLOURS,
    NetLog,
    Served,
    assert_no_other_host,
    chart_points,
    chromium,
    read_png,
    render,
)
from tests.test_datasette import sidebar_entry

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

#: tests/test_browser.py's fixture: ``informburo serve`` on a fresh twice-crawled archive, for this module.
served = test_browser.served

IMAGES = ROOT / "docs" / "images"
#: The diff's backgrounds (datasette/templates/article.html): removed words, added words.
DELETED, INSERTED = (0xFF, 0xD7, 0xD5), (0xCC, 0xFF, 0xD8)


def article_path(served: Served) -> str:
    return "/-/article?url=" + quote(served.archive.url(served.archive.edited), safe="")


def assert_this_server_only(log: NetLog, served: Served) -> None:
    urls = assert_no_other_host(log, "article page")
    assert any(u.startswith(f"{served.url}/-/static-plugins/datasette_dashboards/vega-lite.min.js") for u in urls)
    assert not any(".json?sql=" in u for u in urls), "the chart's data is in the page; it needs no request"


def test_article_page_draws_versions_and_chart_from_this_server_only(served: Served, tmp_path: Path) -> None:
    archive = served.archive
    edited = archive.edited
    before = next(a for a in archive.first.articles if a["slug"] == edited["slug"])
    dom, net = render(served, tmp_path, article_path(served))
    assert_this_server_only(net, served)
    assert 'id="version-1"' in dom and 'id="version-2"' in dom
    deleted = " ".join(html.unescape(t) for t in re.findall(r"<del>(.*?)</del>", dom, re.S))
    inserted = " ".join(html.unescape(t) for t in re.findall(r"<ins>(.*?)</ins>", dom, re.S))
    assert before["blocks"][0]["text"].rstrip(".") in deleted
    assert edited["blocks"][0]["text"].rstrip(".") in inserted
    points = chart_points(dom)
    sidebar = [sidebar_entry(s, edited) for s in (archive.first, archive.site)]
    for value in [edited["views"] - 100, edited["views"], *(int(e["views"]) for e in sidebar)]:
        assert any(f"Views: {value};" in p for p in points), (value, points)
    for entry in sidebar:
        assert any(f"Rank: {entry['rank']}" in p for p in points), (entry["rank"], points)
    assert len(points) == 6  # two runs: page and sidebar counters, and the rank


def screenshot(served: Served, tmp_path: Path, path: str, size: tuple[int, int]) -> tuple[Path, Counter]:
    shot = tmp_path / "shot.png"
    chromium(tmp_path / "profile", served.url + path, f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}")
    width, height, pixels = read_png(shot)
    assert (width, height) == size
    colours = Counter(pixels)
    assert len(colours) > 50, "the screenshot is nearly blank"
    for colour in SERIES_COLOURS:
        assert colours[colour] > 30, f"no {colour} line or points in the screenshot"
    return shot, colours


def test_screenshots_for_the_docs(served: Served, tmp_path: Path) -> None:
    shot, colours = screenshot(served, tmp_path / "article", article_path(served), (1280, 1200))
    assert colours[DELETED] > 100 and colours[INSERTED] > 100, "no marked words in the first screen"
    IMAGES.mkdir(exist_ok=True)
    shutil.copyfile(shot, IMAGES / "article-page.png")
    chart = "/-/dashboards/article-views?url=" + quote(served.archive.url(served.archive.edited), safe="")
    shot, _ = screenshot(served, tmp_path / "chart", chart, (1280, 1200))
    shutil.copyfile(shot, IMAGES / "chart.png")
