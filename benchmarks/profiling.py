"""Benchmark 8: where a full crawl spends its time, by cProfile.

``informburo crawl`` of N articles (default 500) runs under ``python -m cProfile`` against
the fast mirror; the report lists the five functions with the most time of their own
(idle waiting in the event loop's poll left out), each with the chain of our code that
calls it and a note on what it is, and the cumulative share of our main entry points.
"""

from __future__ import annotations

import argparse
import pstats
from pathlib import Path
from typing import Any

from benchmarks.common import PYTHON, ROOT, Context, Figure, Result, Sizes, check, fmt, run_child, standalone
from benchmarks.crawl import ours_command

#: Idle time, not cost: the reactor waiting for the network.
IDLE = ("poll' of 'select.epoll", "select.select", "method 'poll'", "'select' of 'select")
#: What a hot function is, when we know it (matched against "file:line(name)"); ``{per_page}`` is its
#: calls per article page and ``{via}`` the function of our code that calls it most.
NOTES = {
    "sqlite3.Connection": (
        "SQLite statements and commits, FTS triggers included: {per_page} calls an article page, most of the"
        " time from `{via}`."
    ),
    "zlib.compress": (
        "Compression of every archived article page on the reactor thread (`{via}`): {ms_per_page} ms a page."
    ),
    "fields.py": "Text normalisation of `crawler/fields.py` ({per_page} calls an article page), from `{via}`.",
    "unicodedata": "Per-character Unicode lookups ({per_page} an article page), from `{via}`.",
    "create_root_node": (
        "lxml parsing each page into a tree (parsel `Selector`): the floor of any tree-based extractor,"
        " which bare Scrapy does not pay."
    ),
    "selector.py": (
        "parsel queries of the page objects ({per_page} an article page, each a CSS-to-XPath query over the whole"
        " tree), from `{via}`."
    ),
    "base_events.py": (
        "The Scrapy engine's scheduling on the asyncio reactor ({per_page} calls an article page); bare Scrapy pays"
        " it per page too, ours more for every item and pipeline step."
    ),
    "twisted": "Twisted deferreds behind Scrapy's engine and item pipeline ({per_page} calls an article page).",
    "deepcopy": "Copies of lxml subtrees ({per_page} an article page), from `{via}`.",
    "json": "JSON encoding and decoding ({per_page} calls an article page), from `{via}`.",
    "itemadapter": "itemadapter's generic access to items ({per_page} calls an article page), from `{via}`.",
}
#: Where the time goes, by entry point: (file, function, whether it must be our own code).
ENTRY_POINTS = {
    "page parse (lxml, parsel Selector)": ("selector.py", "create_root_node"),
    "normalise (pipelines/normalize.py normalize_item)": ("normalize.py", "normalize_item"),
    "store (pipelines/store.py Store.store)": ("store.py", "store"),
    "page objects: article (crawler/pages/article.py parse_article)": ("article.py", "parse_article"),
    "page objects: listing (crawler/pages/listing.py parse_listing)": ("listing.py", "parse_listing"),
    "raw-page archive (crawler/extensions.py response_received)": ("extensions.py", "response_received"),
    "validate (pipelines/validate.py check_item)": ("validate.py", "check_item"),
}

Func = tuple[str, int, str]


def label(func: Func) -> str:
    path, line, name = func
    if path == "~":
        return name
    try:
        path = str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        parts = Path(path).parts
        path = "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else Path(path).name
    return f"{path}:{line}({name})"


def _ours(func: Func) -> bool:
    path = func[0]
    return path.startswith(str(ROOT)) and "/.venv/" not in path and "/benchmarks/" not in path


def owner(stats: dict[Func, Any], func: Func, depth: int = 15) -> list[str]:
    """The heaviest chain of callers up to (and including) the first function of our own code."""
    chain: list[str] = []
    seen = {func}
    current = func
    for _ in range(depth):
        callers = stats[current][4]
        if not callers:
            break
        current = max(callers, key=lambda c: callers[c][3])
        if current in seen:
            break
        seen.add(current)
        chain.append(label(current))
        if _ours(current):
            break
    return chain if chain and _ours(current) else chain[-2:]


def note(func: Func, calls: int, own_s: float, pages: int, via: list[str]) -> str:
    text = label(func)
    for key, value in NOTES.items():
        if key in text or key in func[0]:
            return value.format(
                per_page=fmt(calls / pages, 1 if calls < 10 * pages else 0),
                ms_per_page=fmt(1000 * own_s / calls),
                via=via[-1] if via else "?",
            )
    return ""


def analyse(path: Path, pages: int, top: int = 5) -> dict[str, Any]:
    ps = pstats.Stats(str(path))
    stats: dict[Func, Any] = ps.stats  # type: ignore[attr-defined]
    total = ps.total_tt  # type: ignore[attr-defined]
    idle = sum(v[2] for f, v in stats.items() if any(k in label(f) for k in IDLE))
    ranked = sorted((f for f in stats if not any(k in label(f) for k in IDLE)), key=lambda f: stats[f][2], reverse=True)
    rows = []
    for func in ranked[:top]:
        _, nc, tt, ct, _ = stats[func]
        via = owner(stats, func)
        rows.append(
            {
                "function": label(func),
                "calls": nc,
                "self_s": tt,
                "self_share": tt / (total - idle),
                "cum_s": ct,
                "via": via,
                "note": note(func, nc, tt, max(1, pages), via),
            }
        )
    entries = {}
    for name, (file, func_name) in ENTRY_POINTS.items():
        found = [
            v
            for f, v in stats.items()
            if f[0].endswith(file) and f[2] == func_name and (_ours(f) or file == "selector.py")
        ]
        if found:
            entries[name] = max(v[3] for v in found) / (total - idle)
    return {"total_s": total, "idle_s": idle, "top": rows, "entry_points": entries}


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("profile", "Profile of a full crawl (cProfile)")
    served = ctx.served()
    folder = ctx.empty_dir("profile")
    out = folder / "crawl.prof"
    cmd = ours_command(folder / "informburo.db", served.url, sizes.profile_articles)
    child = check(run_child([PYTHON, "-m", "cProfile", "-o", str(out), *cmd[1:]]), "profiled crawl")
    found = analyse(out, sizes.profile_articles)
    busy = found["total_s"] - found["idle_s"]
    for rank, row in enumerate(found["top"], start=1):
        result.figures.append(
            Figure(
                f"profile #{rank}: {row['function']}",
                100 * row["self_share"],
                "% of CPU",
                "— (for information)",
                None,
                "via " + (row["via"][-1] if row["via"] else "—"),
                baseline=f"of {fmt(busy, 1)} s profiled CPU",
            )
        )
    result.raw = found
    result.details += [
        f"`python -m cProfile -o crawl.prof -m cli crawl …` of N = {sizes.profile_articles:,} articles (the crawl"
        f" benchmark's command): {fmt(found['total_s'], 1)} s profiled, of which {fmt(found['idle_s'], 2)} s idle"
        f" in the event loop's poll (left out); wall {fmt(child.wall, 1)} s under the profiler.",
        "",
        "| # | function (own time) | calls | own s | share | called via | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(found["top"], start=1):
        via = " ← ".join(f"`{v}`" for v in row["via"]) or "—"
        result.details.append(
            f"| {rank} | `{row['function']}` | {row['calls']:,} | {fmt(row['self_s'])} |"
            f" {fmt(100 * row['self_share'], 1)} % | {via} | {row['note'] or '—'} |"
        )
    result.details += [
        "",
        "Cumulative share of the profiled CPU time, by our entry point (nested calls counted once in each):",
        "",
        *(f"- {name}: {fmt(100 * share, 1)} %" for name, share in found["entry_points"].items()),
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--analyse", default=None, help="only print the analysis of this .prof file")
    parser.add_argument("--pages", type=int, default=500, help="with --analyse: article pages of that crawl")
    args = parser.parse_args(argv)
    if args.analyse:
        import json

        print(json.dumps(analyse(Path(args.analyse), args.pages), indent=1))
        return
    standalone(run, Sizes.quick_sizes() if args.quick else Sizes())


if __name__ == "__main__":
    main()
