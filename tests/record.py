"""Re-record a saved-page fixture's expectation from its extractor version: review the diff!

python -m tests.record NAME [NAME ...]

A fixture belongs to an extractor version: ``"version": "v1"`` names that version of
every page type the page carries, or ``{"article": "v2", "most_read": "v1", ...}`` one
per page type. A fixture without one gets the versions current at its frozen ``now``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from crawler.pages.dispatch import page_types
from crawler.pages.versions import version_for, version_named
from pipelines.preview import parse_page

PAGES = Path(__file__).parent / "fixtures" / "pages"


def load(name: str) -> dict[str, Any]:
    return json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))


def versions_of(meta: dict[str, Any]) -> dict[str, str]:
    """The version each page type of a fixture is parsed with; ``ValueError`` when the fixture
    names none, names an unknown one, or does not name one for each page type it carries."""
    named = meta.get("version")
    types = page_types(meta["url"])
    if isinstance(named, str) and named:
        versions = dict.fromkeys(types, named)
    elif isinstance(named, dict) and set(named) == set(types):
        versions = dict(named)
    else:
        raise ValueError(f"a fixture must name its version: a name, or one per page type of {types}; got {named!r}")
    for page_type, name in versions.items():
        version_named(page_type, name)
    return versions


def parse_fixture(name: str, meta: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The fixture's page as ``informburo parse`` prints it, parsed with the versions it names."""
    meta = meta or load(name)
    page = (PAGES / f"{name}.html").read_bytes()
    return parse_page(page, meta["url"], datetime.fromisoformat(meta["now"]), versions=versions_of(meta))


def record(name: str) -> None:
    path = PAGES / f"{name}.json"
    meta = load(name)
    if "version" not in meta:
        names = {t: version_for(t, meta["now"]).name for t in page_types(meta["url"])}
        distinct = set(names.values())
        meta["version"] = distinct.pop() if len(distinct) == 1 else names
    meta["items"] = parse_fixture(name, meta)
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        record(arg)
