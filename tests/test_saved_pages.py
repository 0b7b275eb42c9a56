"""Saved pages with hand-written expectations: one test runs them all (``fixtures/pages``).

Each ``NAME.json`` holds the URL, a frozen crawl time and the expected items; an
expected item is compared on the keys it names, and no fixture may expect nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from crawler.pages.dispatch import parse_page
from tests.conftest import informburo

PAGES = Path(__file__).parent / "fixtures" / "pages"
FIXTURES = sorted(p.stem for p in PAGES.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 10


@pytest.mark.parametrize("name", FIXTURES)
def test_saved_page(name: str) -> None:
    meta = load(name)
    expected = meta["items"]
    assert expected and all(item for item in expected), "empty expectations prove nothing"
    got = parse_page((PAGES / f"{name}.html").read_bytes(), meta["url"], datetime.fromisoformat(meta["now"]))
    assert [item["type"] for item in got] == [item["type"] for item in expected]
    for want, have in zip(expected, got, strict=True):
        if "sources" in want:  # only the layers the fixture names
            have = {**have, "sources": {k: have["sources"].get(k) for k in want["sources"]}}
        assert {key: have.get(key) for key in want} == want


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
