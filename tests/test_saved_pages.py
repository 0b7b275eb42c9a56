"""Saved pages with hand-written expectations: one test runs them all (``fixtures/pages``).

Each ``NAME.json`` holds the URL, a frozen crawl time, the extractor version it belongs
to and the expected items; an expected item is compared on the keys it names, and no
fixture may expect nothing. A fixture is parsed with the version it names, so the pages
of an old design keep testing the old version after a redesign.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.fields import KZ_TZ
from crawler.items import Article
from crawler.pages import parse_article, versions
from crawler.pages.versions import PageVersion, check_registry
from pipelines.preview import parse_page
from tests.conftest import informburo
from tests.record import PAGES, load, parse_fixture, versions_of

FIXTURES = sorted(p.stem for p in PAGES.glob("*.json"))


def assert_matches(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    assert expected and all(item for item in expected), "empty expectations prove nothing"
    assert [item["type"] for item in got] == [item["type"] for item in expected]
    for want, have in zip(expected, got, strict=True):
        if "sources" in want:  # only the layers the fixture names
            have = {**have, "sources": {k: have["sources"].get(k) for k in want["sources"]}}
        assert {key: have.get(key) for key in want} == want


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("name", FIXTURES)
def test_saved_page(name: str) -> None:
    meta = load(name)
    assert "version" in meta, "a saved page belongs to an extractor version"
    assert_matches(meta["items"], parse_fixture(name, meta))


@pytest.mark.parametrize(
    "version",
    [None, "", "v9", {"article": "v1"}, {"article": "v1", "most_read": "v1", "rates": "v9"}, ["v1"]],
)
def test_a_fixture_must_name_a_known_version_for_each_page_type(version: Any) -> None:
    meta = {"url": "https://informburo.kz/novosti/x", "now": "2026-01-16T15:00:00+05:00"}
    if version is not None:
        meta["version"] = version
    with pytest.raises(ValueError):
        versions_of(meta)


def test_a_fixture_names_one_version_or_one_per_page_type() -> None:
    url = "https://informburo.kz/novosti/x"
    assert versions_of({"url": url, "version": "v1"}) == {"article": "v1", "most_read": "v1", "rates": "v1"}
    per_type = {"article": "v1", "most_read": "v1", "rates": "v1"}
    assert versions_of({"url": url, "version": per_type}) == per_type
    assert versions_of({"url": "https://informburo.kz/", "version": "v1"}) == {"most_read": "v1", "rates": "v1"}


def test_a_fixture_is_parsed_with_its_version_not_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # A redesign before the fixture's crawl time: by date, its page would go to v2.
    redesign = datetime(2026, 1, 1, tzinfo=KZ_TZ)

    def parse_v2(page: Any, url: str, captured_at: str | None = None, listing_published: str | None = None) -> Article:
        return Article(url=url, title="v2", captured_at=captured_at)

    article = (PageVersion("v1", None, redesign, parse_article), PageVersion("v2", redesign, None, parse_v2))
    monkeypatch.setattr(versions, "VERSIONS", check_registry({**versions.VERSIONS, "article": article}))
    meta = load("article-noise")
    page = (PAGES / "article-noise.html").read_bytes()
    by_date = parse_page(page, meta["url"], datetime.fromisoformat(meta["now"]))
    assert by_date[0]["title"] == "v2"
    assert_matches(meta["items"], parse_fixture("article-noise", meta))  # names v1
    assert (
        parse_fixture("article-noise", {**meta, "version": {**versions_of(meta), "article": "v2"}})[0]["title"] == "v2"
    )


def test_parse_command_prints_json_lines() -> None:
    meta = load("article-noise")
    result = informburo("parse", str(PAGES / "article-noise.html"), "--url", meta["url"], "--now", meta["now"])
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert items[0]["type"] == "article" and items[0]["url"] == meta["items"][0]["url"]
    assert len(items) == len(meta["items"])


def test_parse_command_refuses_a_missing_file(tmp_path: Path) -> None:
    result = informburo("parse", str(tmp_path / "nope.html"), "--url", "https://informburo.kz/novosti/x")
    assert result.returncode == 2 and "nope.html" in result.stderr
