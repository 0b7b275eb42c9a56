"""Foreign pages: our layered article reader against trafilatura alone, field by field.

The pages are ``tests/fixtures/foreign/NAME.html``: article pages written in the style of other
publishers' CMSs (what a redesign of our site may look like), each with ``NAME.json`` holding its
ground truth (url, title, published_at with the page's own offset, author or null, body). Ours is
``crawler.pages.article.parse_article`` + ``pipelines.normalize.normalize_item``; the generic
extractor is ``trafilatura.bare_extraction(html, url=url, with_metadata=True)`` with its defaults.

Per field: title right when equal after whitespace and case normalisation; published_at right
for ours when it is the true instant, and, so that trafilatura (whose date is a day) can be
compared, right by day when its calendar date in the page's own offset is the true one; author
right when the set of names is equal after normalisation (no author where the page names none
is right); body scored by token F1 (``benchmarks.extraction.f1``). An item of ours is rejected
when normalisation leaves it without a title, body or published_at. ``python -m benchmarks.foreign``
prints the table per page and the summary.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import html

from benchmarks.common import ROOT, Context, Figure, Result, fmt
from benchmarks.extraction import f1
from crawler.pages.article import parse_article
from pipelines.normalize import normalize_item

FIXTURES = ROOT / "tests" / "fixtures" / "foreign"
CAPTURED_AT = "2026-11-30T12:00:00+05:00"
#: Fields without which the pipeline rejects an article (``pipelines.validate.REQUIRED`` less the URL).
REQUIRED = ("title", "body", "published_at")
#: A page whose body F1 is under this counts as lost.
LOST = 0.5
#: How far under trafilatura's body F1 one page of ours may fall.
BODY_SLACK = 0.05

_SPLIT_NAMES = re.compile(r"\s*(?:[;,&]|\band\b|\bи\b)\s*", re.IGNORECASE)
#: A byline's label before the names ("By Jane Doe", "Автор: Арман Калиев"): not part of a name.
_BYLINE_LABEL = re.compile(r"^(?:written by|by|авторы|автор|авторлар)\b[\s:.—–-]*", re.IGNORECASE)
_ORGANIZATION = re.compile(r"Organi[sz]ation$")


@dataclass(frozen=True)
class Page:
    """One saved page and its ground truth."""

    name: str
    html: str
    truth: dict[str, Any]

    @property
    def url(self) -> str:
        return self.truth["url"]


@dataclass
class Extracted:
    """What one extractor made of a page (ours: the normalised item; generic: trafilatura's Document)."""

    title: str | None = None
    published_at: str | None = None  # ours: ISO with offset; trafilatura: a day, "YYYY-MM-DD"
    author: str | None = None
    body: str | None = None
    rejected: list[str] = field(default_factory=list)  # required fields left empty (ours only)
    sources: dict[str, str] = field(default_factory=dict)  # the layer behind each field (ours only)
    error: str | None = None  # the extractor raised


@dataclass
class Scored:
    """One page's fields, ours and trafilatura's, each right or wrong (body: F1)."""

    name: str
    covers: list[str]
    ours: Extracted
    generic: Extracted
    title: tuple[bool, bool]
    day: tuple[bool, bool]
    exact: bool  # ours only: trafilatura gives no time
    author: tuple[bool, bool]
    f1: tuple[float, float]
    organization_author: bool  # ours stored the name of an organization named on the page as the author


# -- the corpus -------------------------------------------------------------------


def load_pages(folder: Path = FIXTURES) -> list[Page]:
    """Every ``NAME.html`` of the folder with its ``NAME.json``, in name order."""
    pages = []
    for path in sorted(folder.glob("*.html")):
        truth = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        pages.append(Page(path.stem, path.read_text(encoding="utf-8"), truth))
    return pages


# -- the two extractors --------------------------------------------------------------


def read_ours(page: Page) -> Extracted:
    try:
        item = normalize_item(parse_article(page.html, page.url, CAPTURED_AT))
    except Exception as exc:  # a reader being rewritten may raise: the page counts as lost, the run goes on
        return Extracted(rejected=list(REQUIRED), error=f"{type(exc).__name__}: {exc}")
    return Extracted(
        title=item.title,
        published_at=item.published_at,
        author=item.author,
        body=item.body,
        rejected=[name for name in REQUIRED if getattr(item, name) in (None, "")],
        sources=dict(item.sources),
    )


def read_generic(page: Page) -> Extracted:
    import trafilatura

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = trafilatura.bare_extraction(page.html, url=page.url, with_metadata=True)
    except Exception as exc:
        return Extracted(error=f"{type(exc).__name__}: {exc}")
    if doc is None:
        return Extracted()
    return Extracted(title=doc.title, published_at=doc.date, author=doc.author, body=doc.text)


# -- scoring ---------------------------------------------------------------------------


def normal(text: str | None) -> str:
    """Whitespace collapsed (NBSP and other Unicode spaces too), case folded."""
    return " ".join((text or "").split()).casefold()


def title_right(got: str | None, want: str) -> bool:
    return bool(got) and normal(got) == normal(want)


def _moment(value: str | None) -> datetime | date | None:
    """An ISO date or date-time; ``None`` when there is none or it does not read."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def instant_right(got: str | None, want: str) -> bool:
    """Is ``got`` the instant ``want`` names? A time without an offset names no instant."""
    moment, truth = _moment(got), _moment(want)
    if not isinstance(moment, datetime) or moment.utcoffset() is None or not isinstance(truth, datetime):
        return False
    return moment == truth


def day_of(value: str | None, want: str) -> date | None:
    """The calendar day of ``value`` in the offset of the true ``want``: an instant is moved into it,
    a bare day (trafilatura's date) or a time without an offset is taken as written."""
    moment, truth = _moment(value), _moment(want)
    if moment is None:
        return None
    if isinstance(moment, datetime):
        if moment.utcoffset() is not None and isinstance(truth, datetime) and truth.tzinfo is not None:
            moment = moment.astimezone(truth.tzinfo)
        return moment.date()
    return moment


def day_right(got: str | None, want: str) -> bool:
    truth = _moment(want)
    assert isinstance(truth, datetime), f"ground truth {want!r} is not a date-time"
    return day_of(got, want) == truth.date()


def author_names(value: str | None) -> frozenset[str]:
    """The people an author field names: a byline label ("By", "Автор:") dropped, split at ``,`` ``;``
    ``&`` "and" "и", each name normalised."""
    text = _BYLINE_LABEL.sub("", normal(value))
    names = (part.strip(" .:") for part in _SPLIT_NAMES.split(text))
    return frozenset(name for name in names if name)


def author_right(got: str | None, want: str | None) -> bool:
    return author_names(got) == author_names(want)


def organization_names(page_html: str) -> frozenset[str]:
    """Normalised names of the organizations a page names in JSON-LD (any ``…Organization`` type:
    publisher, author, ``NewsMediaOrganization``), and its ``og:site_name``."""
    root = html.fromstring(page_html)
    names: set[str] = set()
    for content in root.xpath('//meta[@property="og:site_name"]/@content'):
        names.add(normal(content))
    for script in root.xpath('//script[@type="application/ld+json"]'):
        try:
            stack: list[Any] = [json.loads(script.text or "")]
        except ValueError:
            continue
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, dict):
                types = value.get("@type")
                types = types if isinstance(types, list) else [types]
                if any(isinstance(t, str) and _ORGANIZATION.search(t) for t in types):
                    if isinstance(value.get("name"), str):
                        names.add(normal(value["name"]))
                stack.extend(value.values())
    return frozenset(name for name in names if name)


def is_organization(author: str | None, page_html: str) -> bool:
    return bool(author_names(author) & organization_names(page_html))


def score_page(page: Page) -> Scored:
    truth = page.truth
    ours, generic = read_ours(page), read_generic(page)
    both = (ours, generic)
    return Scored(
        name=page.name,
        covers=list(truth.get("covers", [])),
        ours=ours,
        generic=generic,
        title=tuple(title_right(x.title, truth["title"]) for x in both),  # type: ignore[arg-type]
        day=tuple(day_right(x.published_at, truth["published_at"]) for x in both),  # type: ignore[arg-type]
        exact=instant_right(ours.published_at, truth["published_at"]),
        author=tuple(author_right(x.author, truth["author"]) for x in both),  # type: ignore[arg-type]
        f1=(f1(ours.body, truth["body"]), f1(generic.body, truth["body"])),
        organization_author=is_organization(ours.author, page.html),
    )


@cache
def _scored(folder: str) -> tuple[Scored, ...]:
    return tuple(score_page(page) for page in load_pages(Path(folder)))


def score_corpus(folder: Path = FIXTURES) -> list[Scored]:
    """Every page scored, once per process (the tests share it)."""
    return list(_scored(str(folder)))


def summary(scores: list[Scored]) -> dict[str, dict[str, Any]]:
    """Per side (``ours``, ``trafilatura``): mean body F1, pages lost (F1 under 0.5), accuracy of
    title, day, author (and for ours the exact instant), rejected items, organizations as author."""
    n = len(scores)
    out: dict[str, dict[str, Any]] = {}
    for side, key in (("ours", 0), ("trafilatura", 1)):
        out[side] = {
            "pages": n,
            "body_f1_mean": sum(s.f1[key] for s in scores) / n,
            "body_f1_min": min(s.f1[key] for s in scores),
            "pages_under_0.5": sum(1 for s in scores if s.f1[key] < LOST),
            "title_accuracy": sum(s.title[key] for s in scores) / n,
            "day_accuracy": sum(s.day[key] for s in scores) / n,
            "author_accuracy": sum(s.author[key] for s in scores) / n,
        }
    out["ours"]["exact_published_at_accuracy"] = sum(s.exact for s in scores) / n
    out["ours"]["rejected"] = sum(1 for s in scores if s.ours.rejected)
    out["ours"]["organization_authors"] = sum(1 for s in scores if s.organization_author)
    out["ours"]["worst_body_gap"] = min(s.f1[0] - s.f1[1] for s in scores)
    return out


# -- output -------------------------------------------------------------------------------


def _mark(right: bool) -> str:
    return "✓" if right else "✗"


def page_table(scores: list[Scored]) -> list[str]:
    """Markdown rows, one per page: each field ours / trafilatura."""
    lines = [
        "| page | covers | title | published (exact, ours) | day | author | body F1 | rejected (ours) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        lines.append(
            f"| {s.name} | {', '.join(s.covers)} | {_mark(s.title[0])} / {_mark(s.title[1])} | {_mark(s.exact)} |"
            f" {_mark(s.day[0])} / {_mark(s.day[1])} | {_mark(s.author[0])} / {_mark(s.author[1])}"
            f"{' (org)' if s.organization_author else ''} | {fmt(s.f1[0], 3)} / {fmt(s.f1[1], 3)} |"
            f" {', '.join(s.ours.rejected) or '—'} |"
        )
    return lines


def summary_table(stats: dict[str, dict[str, Any]]) -> list[str]:
    ours, gen = stats["ours"], stats["trafilatura"]
    pct = lambda v: f"{fmt(100 * v, 0)} %"  # noqa: E731
    return [
        "| measure | ours | trafilatura alone |",
        "|---|---|---|",
        f"| pages | {ours['pages']} | {gen['pages']} |",
        f"| mean body token F1 | {fmt(ours['body_f1_mean'], 3)} | {fmt(gen['body_f1_mean'], 3)} |",
        f"| lowest body F1 | {fmt(ours['body_f1_min'], 3)} | {fmt(gen['body_f1_min'], 3)} |",
        f"| pages with body F1 under {LOST} | {ours['pages_under_0.5']} | {gen['pages_under_0.5']} |",
        f"| title right | {pct(ours['title_accuracy'])} | {pct(gen['title_accuracy'])} |",
        f"| published day right (page's own offset) | {pct(ours['day_accuracy'])} | {pct(gen['day_accuracy'])} |",
        f"| published_at the true instant | {pct(ours['exact_published_at_accuracy'])} | — (a day only) |",
        f"| author right | {pct(ours['author_accuracy'])} | {pct(gen['author_accuracy'])} |",
        f"| an organization stored as the author | {ours['organization_authors']} | — |",
        f"| items rejected (no title, body or published_at) | {ours['rejected']} | — |",
        f"| worst page: body F1 ours − trafilatura | {fmt(ours['worst_body_gap'], 3)} | — |",
    ]


def legend() -> list[str]:
    return [
        "Each cell is ours / trafilatura alone (✓ right, ✗ wrong; body: token F1); `published (exact)` is ours"
        " only, `(org)` marks an organization stored as the author. Pages: `tests/fixtures/foreign/` (its README"
        " says which page covers which failure class).",
    ]


def run(ctx: Context | None = None) -> Result:
    """The suite's section: figures against trafilatura alone, and the table per page."""
    start = time.perf_counter()
    scores = score_corpus()
    stats = summary(scores)
    seconds = time.perf_counter() - start
    ours, gen = stats["ours"], stats["trafilatura"]
    result = Result("foreign", "Foreign pages: ours against trafilatura alone, field by field")

    def accuracy(name: str, key: str) -> Figure:
        return Figure(
            f"foreign pages: {name} accuracy, ours",
            ours[key],
            "",
            "≥ trafilatura's",
            ours[key] >= gen[key],
            f"{fmt(100 * ours[key], 0)} % of {ours['pages']} pages",
            baseline=f"trafilatura {fmt(100 * gen[key], 0)} %",
        )

    ratio = ours["body_f1_mean"] / gen["body_f1_mean"] if gen["body_f1_mean"] else float("nan")
    result.figures += [
        Figure(
            "foreign pages: body token F1, ours ÷ trafilatura",
            ratio,
            "×",
            "≥ 1× (never worse than the generic extractor alone)",
            ours["body_f1_mean"] >= gen["body_f1_mean"],
            f"ours F1 {fmt(ours['body_f1_mean'], 3)}, {ours['pages_under_0.5']} pages under {LOST}",
            baseline=f"trafilatura F1 {fmt(gen['body_f1_mean'], 3)}, {gen['pages_under_0.5']} pages under {LOST}",
        ),
        Figure(
            "foreign pages: worst page, body F1 ours − trafilatura",
            ours["worst_body_gap"],
            "",
            f"≥ −{BODY_SLACK}",
            ours["worst_body_gap"] >= -BODY_SLACK,
            "",
            baseline="trafilatura on the same page",
        ),
        accuracy("title", "title_accuracy"),
        accuracy("published day", "day_accuracy"),
        accuracy("author", "author_accuracy"),
        Figure(
            "foreign pages: published_at the true instant, ours",
            ours["exact_published_at_accuracy"],
            "",
            "every page",
            ours["exact_published_at_accuracy"] == 1,
            f"{fmt(100 * ours['exact_published_at_accuracy'], 0)} % of {ours['pages']} pages",
            baseline="— (trafilatura gives a day)",
        ),
        Figure(
            "foreign pages: items rejected, ours",
            ours["rejected"],
            "",
            "0",
            ours["rejected"] == 0,
            "no title, body or published_at after normalisation",
            baseline="— (trafilatura rejects nothing)",
        ),
    ]
    result.raw = {"summary": stats, "pages": [asdict(s) for s in scores], "seconds": seconds}
    result.details += [
        *(" ".join(part.split()).replace("``", "`") + "\n" for part in (__doc__ or "").split("\n\n")[1:3]),
        *summary_table(stats),
        "",
        *legend(),
        "",
        *page_table(scores),
    ]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.foreign", description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="also write the summary and every page's fields as JSON here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run()
    print("\n".join([*legend(), "", *page_table(score_corpus()), "", *summary_table(result.raw["summary"])]))
    missed = [fig.name for fig in result.figures if fig.passed is False]
    print(f"\n{len(result.raw['pages'])} pages in {time.perf_counter() - start:.1f} s;", end=" ")
    print(f"{len(missed)} target(s) missed" + (": " + "; ".join(missed) if missed else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
