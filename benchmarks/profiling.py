"""Benchmark 8: where a full crawl spends its time, by cProfile, and the CPU per page of each stage.

``informburo crawl`` of N articles (default 500) runs under ``python -m cProfile`` against
the fast mirror, once with the extraction pool off and once on; the report lists the five
functions with the most time of their own in the pool-off crawl (idle waiting in the event
loop's poll left out), each with the chain of our code that calls it and a note on what it
is, and the cumulative share of our main entry points.

CPU per article page of each stage: cProfile's clock is the wall clock and its overhead is
per call, so its seconds are not CPU seconds; what it gives is each stage's share of the
profiled main thread (cumulative, idle poll left out). Each share is multiplied by the
main thread's CPU per article page in unprofiled crawls of the same mode (the crawl
benchmark's, median of its repetitions, or one of the same N when it did not run; the
thread's utime + stime from ``/proc/<pid>/task/<pid>/stat``), so the stages are in the
crawl's real milliseconds; call-heavy stages (Scrapy's engine) come out a little high and
C-heavy ones (lxml) a little low. The crawl process's other threads (the archive's writer,
and with the pool on the executor's threads that pickle pages to the workers and results
back) are not profiled: their CPU is the process's less its main thread's. With the pool
on, every worker runs under cProfile too (with a CPU clock: ``time.process_time``), started
by a ``sitecustomize`` the benchmark puts on ``PYTHONPATH`` for that crawl only, which hooks
multiprocessing's after-fork callbacks in the forkserver; a worker writes its profile when it
exits normally. Worker shares are multiplied by the workers' CPU per article page in the
unprofiled crawl (their own utime + stime, sampled from ``/proc`` every 50 ms while idle at
the end). "Pool processes, rest" is the forkserver and resource tracker plus the workers'
CPU outside their tasks. Bare Scrapy fetching the same pages is the reference for what
fetching alone costs. Every figure is CPU ÷ article pages (listings and robots.txt included
in the cost, not in the count).
"""

from __future__ import annotations

import argparse
import os
import pstats
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    Context,
    Figure,
    Result,
    Sizes,
    check,
    fmt,
    median,
    run_child,
    standalone,
)
from benchmarks.crawl import POOL, crawl, ours_command

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
#: Where the time goes, by entry point: its functions as (file ending, function name); a file ending
#: "selector.py", "reduction.py" or "~" (a built-in) may be outside our code, any other must be ours.
ENTRY_POINTS: dict[str, list[tuple[str, str]]] = {
    "reading an article page (crawler/spiders/informburo.py read_article_page)": [
        ("informburo.py", "read_article_page")
    ],
    "page parse (lxml, parsel Selector; listing pages too)": [("selector.py", "create_root_node")],
    "page checks (crawler/spiders/informburo.py page_problem)": [("informburo.py", "page_problem")],
    "page objects: article (crawler/pages/article.py parse_article)": [("article.py", "parse_article")],
    "page objects: listing (crawler/pages/listing.py parse_listing)": [("listing.py", "parse_listing")],
    "validate (pipelines/validate.py check_item)": [("validate.py", "check_item")],
    "store (pipelines/store.py Store.store)": [("store.py", "store")],
    "normalise (pipelines/normalize.py normalize_item)": [("normalize.py", "normalize_item")],
    "raw-page archive (crawler/extensions.py response_received)": [("extensions.py", "response_received")],
    "pickling to and from the other process (multiprocessing)": [
        ("reduction.py", "dumps"),
        ("~", "<built-in method _pickle.loads>"),
    ],
}
#: Stages whose time is inside the stage listed before them (reading a page; the store normalises its items):
#: shown indented, not added to the sum of the stages.
NESTED = ("page parse", "page checks", "page objects: article", "normalise")
#: Functions of these files count as an entry point though they are not our code.
FOREIGN_OK = ("selector.py", "reduction.py", "~")

#: The ``sitecustomize`` that profiles every pool worker: in the forkserver, a multiprocessing after-fork
#: callback (run in each child after its finalizers are cleared) starts a CPU-clock profiler in the worker
#: and a finalizer that writes it out when the worker exits (``multiprocessing.util._exit_function``).
WORKER_HOOK = """\
import os

_OUT = os.environ.get("INFORMBURO_BENCH_WORKER_PROFILE")


class _Hook:
    pass


def _start(_: object) -> None:
    import cProfile
    import time
    from multiprocessing import util

    profile = cProfile.Profile(time.process_time)

    def dump() -> None:
        profile.disable()
        profile.dump_stats(os.path.join(_OUT, f"worker-{os.getpid()}.prof"))

    util.Finalize(None, dump, exitpriority=100)
    profile.enable()


if _OUT:
    from multiprocessing import util as _util

    _HOOK = _Hook()
    _util.register_after_fork(_HOOK, _start)
"""

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
    for name, funcs in ENTRY_POINTS.items():
        cum = 0.0
        for file, func_name in funcs:
            found = [
                v[3]
                for f, v in stats.items()
                if f[0].endswith(file) and f[2] == func_name and (_ours(f) or file in FOREIGN_OK)
            ]
            cum += max(found, default=0.0)
        if cum:
            entries[name] = cum / (total - idle)
    return {"total_s": total, "idle_s": idle, "top": rows, "entry_points": entries}


def profiled_crawl(ctx: Context, mode: str) -> dict[str, Any]:
    """``informburo crawl`` under cProfile, pool ``mode`` "off" or "on" (the workers profiled too)."""
    n = ctx.sizes.profile_articles
    folder = ctx.empty_dir(f"profile/{mode}")
    out = folder / "crawl.prof"
    cmd = ours_command(folder / "informburo.db", ctx.served().url, n, POOL["ours-off" if mode == "off" else "ours"])
    env = None
    if mode == "on":
        hook, workers = ctx.empty_dir(f"profile/{mode}-hook"), ctx.empty_dir(f"profile/{mode}-workers")
        (hook / "sitecustomize.py").write_text(WORKER_HOOK, encoding="utf-8")
        path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "PYTHONPATH": path, "INFORMBURO_BENCH_WORKER_PROFILE": str(workers)}
    ctx.served().reset()
    child = check(run_child([PYTHON, "-m", "cProfile", "-o", str(out), *cmd[1:]], env=env), "profiled crawl")
    found = analyse(out, n)
    found["wall_s"] = child.wall
    found["workers"] = None
    if mode == "on":
        profiles = sorted(ctx.dir(f"profile/{mode}-workers").glob("worker-*.prof"))
        if profiles:
            merged = ctx.dir(f"profile/{mode}") / "workers.prof"
            pstats.Stats(*(str(p) for p in profiles)).dump_stats(str(merged))
            found["workers"] = {**analyse(merged, n), "profiles": len(profiles)}
    return found


def unprofiled(ctx: Context) -> dict[str, dict[str, Any]]:
    """Each crawler's figures unprofiled: the medians of the crawl benchmark's runs (N articles) when it ran,
    or one crawl of the profile's N each (CPU per article page does not depend on N once start-up is paid)."""
    earlier = ctx.shared.get("crawl_runs", {})
    plain = {}
    for kind in ("bare", "ours-off", "ours"):
        runs = earlier.get(kind) or [crawl(ctx, kind, ctx.sizes.profile_articles, f"profile-plain-{kind}")]
        plain[kind] = {
            key: median([r[key] for r in runs]) if isinstance(value, (int, float)) and key != "articles" else value
            for key, value in runs[0].items()
        }
    return plain


def stage_table(n: int, profiles: dict[str, dict[str, Any]], plain: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of CPU ms per article page: each stage's profiled share × the unprofiled crawl's CPU of that side."""

    def per_article(run: dict[str, Any], key: str) -> float:
        return run[key] * run["pages"] / run["articles"]  # the crawl's figures are per page served

    rows: list[dict[str, Any]] = []
    sides = {
        "off": ("main", profiles["off"], per_article(plain["ours-off"], "main_thread_cpu_ms_per_page")),
        "on": ("main", profiles["on"], per_article(plain["ours"], "main_thread_cpu_ms_per_page")),
        "workers": ("workers", profiles["on"].get("workers"), per_article(plain["ours"], "workers_cpu_ms_per_page")),
    }
    sums = dict.fromkeys(sides, 0.0)
    for name in ENTRY_POINTS:
        row: dict[str, Any] = {"stage": name}
        for col, (_, found, cpu) in sides.items():
            share = (found or {}).get("entry_points", {}).get(name)
            row[col] = None if share is None else share * cpu
            if share is not None and not name.startswith(NESTED):
                sums[col] += share * cpu
        if any(row[col] for col in sides):
            rows.append(row)
    thread = {col: cpu for col, (_, _, cpu) in sides.items()}
    rows.append(
        {
            "stage": "rest of the main thread (Scrapy: downloading, engine, item pipeline plumbing)",
            "off": thread["off"] - sums["off"],
            "on": thread["on"] - sums["on"],
            "workers": None,
        }
    )
    rows.append({"stage": "main thread, all", "off": thread["off"], "on": thread["on"], "workers": None})
    rows.append(
        {
            "stage": "other threads of the crawl process (archive writer; pool on: the executor's pickling threads)",
            "off": per_article(plain["ours-off"], "main_cpu_ms_per_page") - thread["off"],
            "on": per_article(plain["ours"], "main_cpu_ms_per_page") - thread["on"],
            "workers": None,
        }
    )
    if profiles["on"].get("workers"):
        rows.append(
            {"stage": "rest of the workers (outside the stages above)", "workers": thread["workers"] - sums["workers"]}
        )
    rows.append({"stage": "workers, all", "workers": thread["workers"]})
    rows.append(
        {
            "stage": "pool processes, rest (forkserver, resource tracker)",
            "workers": per_article(plain["ours"], "pool_cpu_ms_per_page") - thread["workers"],
        }
    )
    rows.append(
        {
            "stage": "**all** (pool off: the crawl process; pool on: the crawl process, the pool processes)",
            "off": per_article(plain["ours-off"], "cpu_ms_per_page"),
            "on": per_article(plain["ours"], "main_cpu_ms_per_page"),
            "workers": per_article(plain["ours"], "pool_cpu_ms_per_page"),
        }
    )
    rows.append({"stage": "bare Scrapy fetching the same pages, whole process (reference)",
                 "off": per_article(plain["bare"], "cpu_ms_per_page")})  # fmt: skip
    return rows


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    n = sizes.profile_articles
    result = Result("profile", "Profile of a full crawl (cProfile), and the CPU per page of each stage")
    plain = unprofiled(ctx)
    profiles = {mode: profiled_crawl(ctx, mode) for mode in ("off", "on")}
    found = profiles["off"]
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
    rows = stage_table(n, profiles, plain)
    result.raw = {**found, "pool_on": profiles["on"], "stages_ms_per_article": rows, "plain": plain}
    result.details += [
        f"`python -m cProfile -o crawl.prof -m cli crawl …` of N = {n:,} articles (the crawl benchmark's command),"
        f" pool off: {fmt(found['total_s'], 1)} s profiled, of which {fmt(found['idle_s'], 2)} s idle"
        f" in the event loop's poll (left out); wall {fmt(found['wall_s'], 1)} s under the profiler.",
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
    workers = profiles["on"]["workers"]
    result.details += [
        "",
        "Cumulative share of the profiled main thread, by our entry point (nested calls counted once in each):",
        "",
        "| entry point | pool off | pool on, crawl process | pool on, workers |",
        "|---|---|---|---|",
    ]
    for name in ENTRY_POINTS:
        shares = [
            profiles["off"]["entry_points"].get(name),
            profiles["on"]["entry_points"].get(name),
            (workers or {}).get("entry_points", {}).get(name),
        ]
        if any(shares):
            cells = " | ".join("—" if v is None else f"{fmt(100 * v, 1)} %" for v in shares)
            result.details.append(f"| {name} | {cells} |")
    worker_note = (
        f"{workers['profiles']} worker profile{'s' if workers['profiles'] != 1 else ''},"
        f" {fmt(workers['total_s'], 1)} s of worker CPU under the profiler"
        if workers
        else "no worker wrote a profile (no worker ran, or none exited normally): the workers' column has"
        " their CPU from /proc only"
    )
    result.details += [
        "",
        f"CPU per article page of each stage, in ms (profiled N = {n:,}; unprofiled crawls of"
        f" N = {plain['ours']['articles']:,}: pool off"
        f" {fmt(plain['ours-off']['pages_per_s'], 1)} pages/s, pool on {fmt(plain['ours']['pages_per_s'], 1)}"
        f" pages/s, {plain['ours']['workers_seen']} worker process{'es' if plain['ours']['workers_seen'] != 1 else ''}"
        f" seen; {worker_note}). Stages marked ↳ are inside the one above them (the parse inside the listing's"
        " too) and not added again:",
        "",
        "| stage | pool off: crawl process | pool on: crawl process | pool on: pool processes |",
        "|---|---|---|---|",
    ]
    for row in rows:
        name = row["stage"]
        label = ("↳ " + name) if name.startswith(NESTED) else name
        cells = " | ".join(fmt(row.get(col)) for col in ("off", "on", "workers"))
        result.details.append(f"| {label} | {cells} |")
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
