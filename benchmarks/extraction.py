"""Benchmark 3: our article extractor against generic extractors, on the same saved synthetic pages.

Ours is ``crawler.pages.article.parse_article`` + ``pipelines.normalize.normalize_item``;
the generic ones are ``trafilatura.extract`` (with the options our own last-resort layer
uses, and with its defaults) and, when installed, newspaper4k. Every extractor gets the
page as decoded text and parses it itself; speed is single-threaded pages/s (median of
repetitions), quality the body's token-level F1 against ``mirror.site.body_text``.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parsel import Selector
from w3lib.encoding import html_to_unicode

from benchmarks.common import Context, Figure, Result, fmt, median, standalone_main
from crawler.pages.article import parse_article
from crawler.pages.base import html_selector
from pipelines.normalize import normalize_item

_TOKEN = re.compile(r"\w+")
CAPTURED_AT = "2026-01-16T12:00:00+05:00"


def tokens(text: str | None) -> Counter[str]:
    return Counter(_TOKEN.findall((text or "").lower()))


def f1(predicted: str | None, truth: str) -> float:
    """Token-level F1 (bag of words) of an extracted body against the true one."""
    got, want = tokens(predicted), tokens(truth)
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0
    precision = overlap / sum(got.values())
    recall = overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def save_pages(ctx: Context, count: int) -> list[dict[str, Any]]:
    """Render the first ``count`` articles to files (as a crawl would have saved them) and read them back."""
    folder = ctx.dir("pages")
    site = ctx.site()
    index = []
    for article in site.articles[:count]:
        ctype, body = site.render_article(article)
        path = folder / f"{article['slug']}.html"
        path.write_bytes(body)
        index.append(
            {
                "file": str(path),
                "url": site.base_url + site.path_of(article),
                "ctype": ctype,
                "truth": site.truth(article),
            }
        )
    (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    pages = []
    for entry in index:
        _, text = html_to_unicode(entry["ctype"], Path(entry["file"]).read_bytes())
        pages.append({**entry, "html": text})
    return pages


def ours(page: dict[str, Any]) -> str | None:
    item = normalize_item(parse_article(page["html"], page["url"], CAPTURED_AT))  # parsed as the crawl parses
    return item.body


def trafilatura_ours_options(page: dict[str, Any]) -> str | None:
    import trafilatura

    return trafilatura.extract(page["html"], include_comments=False, include_tables=False, favor_precision=True)


def trafilatura_defaults(page: dict[str, Any]) -> str | None:
    import trafilatura

    return trafilatura.extract(page["html"])


def plain_parse_only(page: dict[str, Any]) -> str | None:
    """Only the tree ours reads (``html_selector``: plain lxml elements, no ``lxml.html`` classes)."""
    html_selector(page["html"])
    return None


def lxml_parse_only(page: dict[str, Any]) -> str | None:
    """Only the lxml tree of the page, as every extractor here builds one: the floor of their cost."""
    Selector(text=page["html"])
    return None


def newspaper(page: dict[str, Any]) -> str | None:
    import newspaper as np  # newspaper4k

    article = np.Article(page["url"], fetch_images=False)
    article.download(input_html=page["html"])
    article.parse()
    return article.text


def newspaper_available() -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import newspaper  # noqa: F401
    except ImportError:
        return False
    return True


#: The parts of ours that the profile names, each a function whose cumulative time is reported (µs a page).
#: Nested ones (↳) are inside the one above and are not added again.
PARTS = (
    ("parse (html_selector)", "crawler/pages/base.py", "html_selector"),
    ("reading the page (parse_article; the parse above is inside it)", "crawler/pages/article.py", "parse_article"),
    ("↳ every page-object query (crawler/pages/index.py select: its passes, and the XPath of a query it cannot plan)",
     "crawler/pages/index.py", "select"),
    ("↳ the body (site container; JSON-LD and generic layers when in doubt)", "crawler/pages/article.py", "body"),
    ("↳ the title (h1 against JSON-LD, og:title, <title>)", "crawler/pages/article.py", "_title"),
    ("↳ the canonical URL", "crawler/pages/article.py", "_canonical"),
    ("↳ published_at (every layer read)", "crawler/pages/article.py", "published_at"),
    ("↳ the author", "crawler/pages/article.py", "author"),
    ("↳ the image", "crawler/pages/article.py", "image_url"),
    ("↳ JSON-LD (json.loads)", "crawler/pages/article.py", "_ld_read"),
    ("normalise (normalize_item)", "pipelines/normalize.py", "normalize_item"),
)  # fmt: skip


def profile_ours(pages: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Where ours spends its time: each of ``PARTS`` in µs a page, from cProfile's cumulative times
    scaled to the unprofiled rate (the profiler slows Python code more than C, so shares, not times)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for page in pages:
        ours(page)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, _), (_, _, tt, _, _) in stats.items())
    found = []
    for label, path, function in PARTS:
        cumulative = sum(
            ct for (file, _, name), (_, _, _, ct, _) in stats.items() if file.endswith(path) and name == function
        )
        if cumulative:
            found.append((label, cumulative / total))
    return found


Extractor = Callable[[dict[str, Any]], str | None]


def measure_all(jobs: dict[str, tuple[Extractor, list[dict[str, Any]]]], reps: int) -> dict[str, dict[str, Any]]:
    """Each extractor's pages/s in each of ``reps`` repetitions (after one warm-up page each), and its mean F1.

    The extractors take turns within a repetition, in an order that rotates between repetitions, so
    drift in the machine hits them all alike and the ratio of two of them can be taken pass by pass
    (``paired``): measured one after the other, a slow minute made one side look faster than it is.
    """
    names = list(jobs)
    for extract, pages in jobs.values():
        extract(pages[0])
    rates: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, list[str | None]] = {}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            extract, pages = jobs[name]
            start = time.perf_counter()
            outputs[name] = [extract(page) for page in pages]
            rates[name].append(len(pages) / (time.perf_counter() - start))
    return {name: summary(rates[name], outputs[name], jobs[name][1]) for name in names}


def summary(rates: list[float], outputs: list[str | None], pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Median pages/s of the passes, and the last pass's F1 (every pass gives the same text)."""
    found: dict[str, Any] = {"pages": len(pages), "pages_per_s": median(rates), "reps": rates}
    if all(out is None for out in outputs):  # a parse-only baseline: no text to score
        return {**found, "f1": None, "f1_min": None}
    scores = [f1(out, page["truth"]) for out, page in zip(outputs, pages, strict=True)]
    return {
        **found,
        "f1": sum(scores) / len(scores),
        "f1_min": min(scores),
        "exact": sum(1 for out, page in zip(outputs, pages, strict=True) if (out or "") == page["truth"]),
    }


def paired(measured: dict[str, dict[str, Any]], top: str, bottom: str) -> list[float]:
    """``top`` ÷ ``bottom`` in each repetition (the two ran in the same repetition, close in time)."""
    return [a / b for a, b in zip(measured[top]["reps"], measured[bottom]["reps"], strict=True)]


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("extraction", "Extraction: ours against generic extractors")
    pages = save_pages(ctx, sizes.extraction_pages)
    sample = pages[: sizes.generic_pages]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generic extractors warn about optional parts they miss
        jobs: dict[str, tuple[Extractor, list[dict[str, Any]]]] = {
            "ours": (ours, pages),
            "ours (sample)": (ours, sample),
            "trafilatura": (trafilatura_ours_options, sample),
            "trafilatura (defaults)": (trafilatura_defaults, sample),
        }
        if newspaper_available():
            jobs["newspaper4k"] = (newspaper, sample)
        jobs["lxml parse alone (no extraction)"] = (lxml_parse_only, pages)
        jobs["ours: parse alone (plain lxml elements)"] = (plain_parse_only, pages)
        measured: dict[str, Any] = measure_all(jobs, sizes.extraction_reps)
    shares = profile_ours(pages)
    per_page_us = 1e6 / measured["ours"]["pages_per_s"]
    measured["profile_us_per_page"] = {label: share * per_page_us for label, share in shares}
    mine, traf = measured["ours (sample)"], measured["trafilatura"]
    pairs = paired(measured, "ours (sample)", "trafilatura")
    speed = median(pairs)
    floor = measured["lxml parse alone (no extraction)"]["pages_per_s"]
    own_floor = measured["ours: parse alone (plain lxml elements)"]["pages_per_s"]
    floor_ratio = median(paired(measured, "lxml parse alone (no extraction)", "trafilatura"))
    after_parse = median(paired(measured, "ours: parse alone (plain lxml elements)", "ours")) - 1
    measured["paired"] = {"ours ÷ trafilatura": pairs, "after the parse ÷ the parse": after_parse}
    result.figures += [
        Figure(
            "extraction speed: ours ÷ trafilatura (pages/s, one thread)",
            speed,
            "×",
            "≥ 10×",
            speed >= 10,
            f"ours {fmt(mine['pages_per_s'], 0)} pages/s; median of the passes' ratios"
            f" ({', '.join(fmt(r, 2) for r in pairs)}); parsing alone reaches"
            f" {fmt(floor_ratio, 1)}× ({fmt(floor, 0)} pages/s; ours parses at {fmt(own_floor, 0)},"
            f" so extraction after the parse is {fmt(after_parse, 2)}× the parse)",
            baseline=f"trafilatura {fmt(traf['pages_per_s'], 1)} pages/s",
        ),
        Figure(
            "body token F1: ours ÷ trafilatura",
            mine["f1"] / traf["f1"] if traf["f1"] else float("nan"),
            "×",
            "≥ 1× (ours at least as good)",
            mine["f1"] >= traf["f1"],
            f"ours F1 {fmt(mine['f1'], 3)}",
            baseline=f"trafilatura F1 {fmt(traf['f1'], 3)}",
        ),
    ]
    if "newspaper4k" in measured:
        news = measured["newspaper4k"]
        result.figures.append(
            Figure(
                "extraction speed: ours ÷ newspaper4k (pages/s)",
                mine["pages_per_s"] / news["pages_per_s"],
                "×",
                "— (for information)",
                None,
                f"ours F1 {fmt(mine['f1'], 3)}",
                baseline=f"newspaper4k {fmt(news['pages_per_s'], 1)} pages/s, F1 {fmt(news['f1'], 3)}",
            )
        )
    result.raw = measured
    result.details += [
        f"{len(pages)} saved article pages for ours; the generic extractors get the first {len(sample)} of them"
        " (ours is measured on that sample too, and the ratio uses the sample). Every extractor runs once in"
        " each repetition, in an order that rotates between repetitions; a ratio is the median of the"
        " repetitions' ratios, each of two passes made close in time.",
        "`trafilatura` is called with our last-resort layer's options (`favor_precision=True`, no comments, no"
        " tables); `trafilatura (defaults)` with none. F1 is the mean over pages of bag-of-words F1 on lower-cased"
        " `\\w+` tokens; exact = pages whose body equals the ground truth character for character. The last two rows"
        " only parse each page: into an lxml tree as parsel builds it (`Selector(text=…)`, which every extractor"
        " here does first), and as ours does (`crawler.pages.base.html_selector`: the same parse into plain lxml"
        " elements, without `lxml.html`'s element classes). Ours is given the page's text, as the crawl's"
        " `read_page` gives it.",
        "",
        "| extractor | pages | pages/s (median) | repetitions | mean F1 | min F1 | exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in measured.items():
        if name in ("profile_us_per_page", "paired"):
            continue
        result.details.append(
            f"| {name} | {m['pages']} | {fmt(m['pages_per_s'], 1)} | {', '.join(fmt(r, 1) for r in m['reps'])} |"
            f" {fmt(m['f1'], 3)} | {fmt(m['f1_min'], 3)} | {m.get('exact', '—')} |"
        )
    if "newspaper4k" not in measured:
        result.details.append("\nnewspaper4k is not installed: not measured.")
    result.details += [
        "",
        f"Where ours spends a page's {fmt(per_page_us, 0)} µs (all {len(pages)} pages profiled with cProfile once;"
        " each part's share of the profiled time, times the unprofiled time a page; ↳ parts are inside the"
        " reading, and the queries are also inside the fields that make them):",
        "",
        "| part | µs a page |",
        "|---|---|",
        *(f"| {label} | {fmt(us, 0)} |" for label, us in measured["profile_us_per_page"].items()),
    ]
    ctx.shared["extraction_pages"] = pages
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
