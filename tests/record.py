"""Re-record a saved-page fixture's expectation from the current extractor: review the diff!

python -m tests.record NAME [NAME ...]
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from crawler.pages.dispatch import parse_page

PAGES = Path(__file__).parent / "fixtures" / "pages"


def record(name: str) -> None:
    path = PAGES / f"{name}.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    items = parse_page((PAGES / f"{name}.html").read_bytes(), meta["url"], datetime.fromisoformat(meta["now"]))
    meta["items"] = items
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        record(arg)
