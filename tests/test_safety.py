"""Hostile page content: stored as the text it is, never run as SQL, never rendered as HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasette.utils import tilde_encode

from mirror.server import MirrorServer
from mirror.site import Site
from tests.conftest import crawl, rows
from tests.test_datasette import fetch

pytestmark = pytest.mark.slow  # a crawl, an `informburo` child process

HOSTILE_TITLE = "Заголовок <script>alert('x')</script> '); DROP TABLE articles; --"
HOSTILE_TEXT = 'Абзац с <img src=x onerror="alert(1)"> и " OR 1=1; --'


def test_hostile_text_is_stored_literally_and_shown_escaped(site: Site, tmp_path: Path) -> None:
    db = tmp_path / "informburo.db"
    article = site.articles[3]
    article["title"] = HOSTILE_TITLE
    article["blocks"][0] = {"tag": "p", "html": HOSTILE_TEXT.replace("<", "&lt;"), "text": HOSTILE_TEXT}
    with MirrorServer(site) as mirror:
        assert crawl(db, mirror.url).returncode == 0
        url = mirror.url + site.path_of(article)
    stored = rows(db, "SELECT title, body FROM articles WHERE url = ?", (url,))
    assert stored[0]["title"] == HOSTILE_TITLE and stored[0]["body"].startswith(HOSTILE_TEXT)
    assert len(rows(db, "SELECT url FROM articles")) > 1  # the "DROP TABLE" was data, not SQL

    [(status, page)] = fetch(db, f"/informburo/articles/{tilde_encode(url)}")
    assert status == 200
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
