"""Faults for tests, plugged into a real crawl through ``-s SPIDER_MIDDLEWARES=…`` (never in production)."""

from __future__ import annotations

import time
from typing import Any


class RaiseOnHomePage:
    """The spider's processing of the home page raises: the pass cannot complete."""

    def process_spider_input(self, response: Any) -> None:
        if response.url.rstrip("/").count("/") == 2:
            raise RuntimeError("injected fault while reading the home page")


class HangOnEveryPage:
    """Blocks the reactor for a long time, as a wedged parser would."""

    def process_spider_input(self, response: Any) -> None:
        time.sleep(120)
