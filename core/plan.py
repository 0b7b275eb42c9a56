"""A run's plan: what one pass starts from. Plain data, built once by the jobs layer under the
writer lock (jobs/plan.py) and only consumed below it: the spider, the conditional-request
middleware and distributed seeding never open the database themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Walk:
    """How deep a pass walks the listing, or the sitemaps. It travels in the listing and sitemap
    requests' meta, so a worker on another machine walks a seed as its seeder asked."""

    max_pages: int
    may_stop_early: bool  # stop at a listing page of stored articles
    until: str | None = None  # a backfill --until: stop at entries older than this (ISO 8601)
    sitemaps: bool = False  # a backfill --sitemaps: walk robots.txt's sitemaps instead of the listing and feed


@dataclass
class RunPlan:
    """Everything a pass needs to know of the database before it fetches anything."""

    parts: list[str]
    base_url: str
    walk: Walk
    #: canonical URLs already stored (a listing page of only these may end the walk)
    known_urls: set[str] = field(default_factory=set)
    #: URL → (ETag, Last-Modified) of each article page's last full download
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: article pages that failed in recent runs and are still not stored: tried again
    retry: list[str] = field(default_factory=list)
    #: stored articles published recently: fetched again for edits and views
    recheck: list[str] = field(default_factory=list)

    def seed(self) -> dict[str, Any]:
        """The plan as JSON-ready data for the workers of distributed mode.

        Known URLs travel in a Redis set instead; validators only for the pages the seed names.
        """
        wanted = set(self.retry) | set(self.recheck)
        walk = asdict(self.walk)
        if not self.walk.sitemaps:  # a listing walk reads as it did before: a worker not yet upgraded takes it
            del walk["sitemaps"]
        return {
            "parts": sorted(self.parts),
            "base_url": self.base_url,
            "walk": walk,
            "retry": list(self.retry),
            "recheck": list(self.recheck),
            "validators": {url: list(v) for url, v in self.validators.items() if url in wanted},
        }
