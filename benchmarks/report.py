"""docs/benchmarks.md from one suite run: the machine, the command, a summary of every figure, then details."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from benchmarks.common import Figure, Result, Sizes, fmt, median
from crawler.workers import usable_cores

#: The numbering of the benchmarks issue (9: distributed mode, 10: foreign pages, from their own issues).
NUMBERS = {
    "crawl": "1–2",
    "extraction": "3",
    "storage": "4",
    "memory": "5",
    "reparse": "6",
    "queries": "7",
    "profile": "8",
    "distributed": "9",
    "foreign": "10",
}


def _value(fig: Figure) -> str:
    if fig.value is None:
        return "not measured"
    digits = 1 if fig.unit in ("MB", "ms", "KB", "pages/s", "% of CPU") else 2
    unit = fig.unit if fig.unit in ("×", "") else f" {fig.unit}"
    return f"{fmt(fig.value, digits)}{unit}"


def _verdict(fig: Figure) -> str:
    if fig.passed is None:
        return "—"
    return "PASS" if fig.passed else "**MISS**"


def render(results: list[Result], info: dict[str, Any], sizes: Sizes, command: str, total: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (the whole suite at full size); do not edit by hand, run it again."
        " Every time figure is the median of several repetitions and stands beside a baseline measured in the"
        " same run on the same machine; absolute numbers only mean something next to their baseline.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), {info['memory_gib']} GiB",
        f"- OS: {info['os']}",
        f"- Python {info['python']}",
        "- Packages: " + ", ".join(f"{name} {version}" for name, version in info["packages"].items()),
        "",
        "## Command",
        "",
        "```sh",
        "make bench    # = .venv/bin/python -m benchmarks --output docs/benchmarks.md",
        "```",
        "",
        f"This run: `{command}`{' (quick sizes)' if sizes.quick else ''}, finished"
        f" {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, **{fmt(total, 0)} s** in all"
        f" ({', '.join(f'{r.key} {fmt(r.seconds, 0)} s' for r in results)}).",
        "One benchmark alone, at full size or tiny: `python -m benchmarks.<crawl|extraction|store_bench|memory|"
        "reparse_bench|queries|profiling|distributed|foreign> [--quick]`; the whole suite tiny:"
        " `python -m benchmarks --quick`.",
        "",
        f"Sizes: N = {sizes.articles:,} articles for the crawl, storage and reparse; memory at"
        f" N = {', '.join(f'{n:,}' for n in sizes.memory_sizes)}; {sizes.crawl_reps} crawl repetitions;"
        f" {sizes.extraction_pages} pages for extraction ({sizes.generic_pages} for the generic extractors);"
        f" daemon {sizes.daemon_runs} cheap + {sizes.daemon_real_runs} real runs; query database"
        f" {sizes.query_articles:,} articles over {sizes.query_days} days.",
        "",
        "## Summary",
        "",
        "| # | figure | measured | baseline (same run) | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for fig in result.figures:
            measured = _value(fig) + (f" ({fig.detail})" if fig.detail else "")
            lines.append(
                f"| {NUMBERS.get(result.key, '')} | {fig.name} | {measured} | {fig.baseline or '—'} | {fig.target} |"
                f" {_verdict(fig)} |"
            )
    missed = [f.name for r in results for f in r.figures if f.passed is False]
    lines += [
        "",
        f"{len(missed)} target(s) missed." if missed else "Every target met.",
        "",
    ]
    why = [text for r in results for f in r.figures if f.passed is False and (text := _why(r, f, results))]
    if why:
        lines += ["### Why the misses, and what would fix them", "", *(f"- {text}" for text in why), ""]
    for result in results:
        lines += [f"## {NUMBERS.get(result.key, '')}. {result.title}", ""]
        doc = _doc(result.key)
        if doc:
            lines += [doc, ""]
        lines += [*result.details, ""]
    return "\n".join(lines).rstrip() + "\n"


#: What to do about an entry point of the profile that costs a lot (§8).
PROPOSALS = {
    "reading an article page": (
        "the extraction pool (`INFORMBURO_EXTRACTION_WORKERS`, crawler/workers.py) takes it off the reactor thread"
    ),
    "raw-page archive": "the raw-page archive is on a writer thread already, 50 pages a transaction",
    "store": (
        "`pipelines/store.py`: fewer statements per article (§4; batches, prepared SQL and plain savepoints are in)"
    ),
    "page parse": "parsing every page is the floor while extraction runs in the crawling process",
    "page objects: article": (
        "`crawler/pages/article.py`: fewer separate queries over the whole tree (selectors are compiled once,"
        " meta tags read in one pass and the body read in place already)"
    ),
    "page objects: listing": "`crawler/pages/listing.py`: fewer XPath queries per feed entry",
    "normalise": "`pipelines/normalize.py` / `crawler/fields.py`: cheaper field rules",
}


def _profile_stages(results: list[Result], column: str) -> list[tuple[str, float]]:
    """§8's stages of ``column`` ("off", "on", "workers") in ms of CPU an article page, largest first."""
    from benchmarks.profiling import ENTRY_POINTS, NESTED

    rows = next((r.raw.get("stages_ms_per_article", []) for r in results if r.key == "profile"), [])
    stages = [
        (row["stage"], row[column])
        for row in rows
        if row["stage"] in ENTRY_POINTS and row.get(column) and not row["stage"].startswith(NESTED)
    ]
    return sorted(stages, key=lambda kv: -kv[1])


def _why_crawl(result: Result, fig: Figure, results: list[Result]) -> str:
    """Where the crawl's CPU goes, pool on or off, against what the target allows the crawling process."""
    runs = result.raw.get("runs", {})

    def cpu(kind: str, key: str = "cpu_ms_per_page") -> float:
        values = [r[key] for r in runs.get(kind, []) if r.get(key) is not None]
        return median(values) if values else float("nan")

    bare = cpu("bare")
    budget = bare / 0.85  # the crawling process's main thread, CPU-bound, must not spend more a page
    on = ", pool on" in fig.name
    kind = "ours" if on else "ours-off"
    main, thread, pool = (
        cpu(kind, "main_cpu_ms_per_page"),
        cpu(kind, "main_thread_cpu_ms_per_page"),
        cpu(kind, "pool_cpu_ms_per_page"),
    )
    stages = _profile_stages(results, "on" if on else "off")
    where = ", ".join(f"{name.split(' (')[0]} {fmt(ms)} ms" for name, ms in stages if ms >= 0.05)
    fixes = [text for name, _ in stages[:4] for key, text in PROPOSALS.items() if name.startswith(key)]
    workers = max((r.get("workers_seen", 0) for r in runs.get("ours", [])), default=0)
    text = (
        f"**Crawl throughput, pool {'on' if on else 'off'}**: both crawlers are CPU-bound; per page served ours"
        f" spends {fmt(main)} ms of CPU in the crawling process ({fmt(thread)} ms on its main thread, the"
        f" reactor's) and {fmt(pool)} ms in other processes, against bare Scrapy's {fmt(bare)} ms for the whole"
        f" process. At 0.85× the reactor thread may spend about {fmt(budget)} ms a page."
    )
    if on and not workers:
        text += " No worker process ran: the pool did not start, so pool on measured the crawl without it."
    if where:
        text += f" Left on the crawling process's main thread, by the profile (§8, ms an article page): {where};"
        text += " the rest is Scrapy itself (downloading, which bare Scrapy pays too, and the item pipeline)."
    if fixes:
        text += " Largest first: " + "; ".join(dict.fromkeys(fixes)) + "."
    if not on:
        text += (
            f" Pool off is the crawl as it was before the pool (extraction on the reactor thread); the target is"
            f" not to fall below the {fmt(result.raw.get('before_pool_ratio', 0.30))}× measured then."
        )
    return text


def _why(result: Result, fig: Figure, results: list[Result]) -> str:
    """Cause and proposed fix of a missed target, from what this run measured."""
    raw = result.raw
    if fig.name.startswith("crawl throughput"):
        return _why_crawl(result, fig, results)
    if fig.name.startswith("extraction speed: ours ÷ trafilatura"):
        floor = raw.get("lxml parse alone (no extraction)", {}).get("pages_per_s") or float("nan")
        traf = raw.get("trafilatura", {}).get("pages_per_s") or float("nan")
        mine = raw.get("ours (sample)", {}).get("pages_per_s") or float("nan")
        budget_us = 1e6 / (10 * traf) - 1e6 / floor  # what 10× leaves a page once it is parsed
        ours_us = 1e6 / mine - 1e6 / floor
        room = (
            f"leaves {fmt(budget_us, 0)} µs a page for extraction and normalisation once the page is parsed"
            if budget_us > 0
            else "is faster than parsing the page alone"
        )
        parts = raw.get("profile_us_per_page", {})
        largest = sorted(((k, v) for k, v in parts.items() if k.startswith("↳")), key=lambda kv: -kv[1])[:5]
        where = "; ".join(f"{k.removeprefix('↳ ').split(' (')[0]} {fmt(v, 0)} µs" for k, v in largest)
        return (
            f"**Extraction speed**: 10× trafilatura ({fmt(10 * traf, 0)} pages/s) {room} (lxml alone:"
            f" {fmt(floor, 0)} pages/s); ours spends {fmt(ours_us, 0)} µs a page after the parse."
            + (f" By the profile in §3, the largest parts of the reading: {where}" if where else "")
            + (
                f"; normalisation {fmt(parts['normalise (normalize_item)'], 0)} µs."
                if "normalise (normalize_item)" in parts
                else "."
            )
            + (
                " No one of them alone closes the gap; a parser that builds its tree faster (selectolax's Lexbor"
                " parses these pages in about half lxml's time) would mean rewriting every page object."
                if budget_us > 0
                else " 10× is out of reach for an extractor that parses the page."
            )
        )
    if fig.name.startswith("storage"):
        per_item = raw.get("statements_per_article")
        return (
            "**Storage**: ours stores item by item: "
            + (f"{per_item} statements an article (the baseline: 3, batched), " if per_item else "")
            + "a savepoint per item (sqlite-utils `atomic()`), reading back the stored row, and in Python the"
            " conversion of every item to a dict (`ItemAdapter(item).asdict()`, a recursive walk of the"
            " dataclass). Fix in `pipelines/store.py`: build the row from the dataclass's attributes directly,"
            " a plain `SAVEPOINT` of a fixed name, and insert the version and view point with the article in one"
            " `executemany` per batch."
        )
    if fig.name.startswith("reparse pages/s: pool on"):
        workers = raw.get("workers", 0)
        alone = median(raw.get("rates") or [float("nan")])
        reading = median(raw.get("extraction_only") or [float("nan")])
        read_ms, all_ms = 1000 / reading, 1000 / alone
        store_ms = all_ms - read_ms
        cores = usable_cores()
        best = min(cores * 1000 / all_ms, 1000 / store_ms) if store_ms > 0 else float("nan")
        return (
            f"**Reparse, pool on ÷ off**: one process spends {fmt(all_ms)} ms a page: reading it"
            f" ({fmt(read_ms)} ms, extraction alone) and storing it ({fmt(store_ms)} ms: the rest, the start-up"
            f" included). With {workers}"
            f" worker{'s' if workers != 1 else ''} the writer only stores, but the workers and the writer share"
            f" {cores} cores, so the pool can at best spread the same {fmt(all_ms)} ms over them: {fmt(best, 0)}"
            f" pages/s ({fmt(best / alone)}× one process), before the pages' round trip to the workers and the"
            f" start of their processes. Per pair: {', '.join(fmt(r) for r in raw.get('ratios', []))}×."
        )
    if fig.name.startswith("reparse"):
        return (
            "**Reparse**: the baseline is extraction alone on the same pages; the rest is the store path per"
            " page (§4), already one transaction per 500 pages: reading the stored row and the last version,"
            " writing the article (its FTS and tag triggers) and the version. It moves by ±15 % between runs on"
            " this machine."
        )
    if fig.name.startswith("crawl peak RSS") or fig.name.startswith("daemon RSS"):
        return f"**{fig.name}**: see §5 (compare with the baseline's own growth)."
    if fig.name.startswith("polite: 2 workers"):
        return (
            f"**{fig.name}**: a worker keeps up to CONCURRENT_REQUESTS requests leased in its downloader, so on a"
            " run of few pages the first worker holds most of them; the second pays off on long runs (backfills)."
            " A lower CONCURRENT_REQUESTS per worker spreads short runs too (docs/distributed.md, limits)."
        )
    if fig.name.startswith("query p95"):
        return f"**{fig.name.removeprefix('query p95: ')}**: see §7 for its plan and the proposed fix."
    return ""


def _doc(key: str) -> str:
    """The benchmark module's docstring, as the section's method."""
    from benchmarks import crawl, distributed, extraction, memory, profiling, queries, reparse_bench, store_bench

    module = {
        "crawl": crawl,
        "distributed": distributed,
        "extraction": extraction,
        "storage": store_bench,
        "memory": memory,
        "reparse": reparse_bench,
        "queries": queries,
        "profile": profiling,
    }.get(key)
    if module is None or not module.__doc__:
        return ""
    paragraphs = module.__doc__.strip().split("\n\n")
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs[1:] or paragraphs)
    return text.replace("``", "`")
