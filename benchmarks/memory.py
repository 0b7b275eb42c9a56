"""Benchmark 5: peak RSS of a crawl as it grows, and the daemon's RSS over many scheduled runs.

Crawl: ``informburo crawl`` (the crawl benchmark's command) of N = 500, 2,000 and 8,000
articles, each a child process on a fresh database, with the extraction pool on (the
default) and off (``INFORMBURO_EXTRACTION_WORKERS=0``). Its peak RSS is that of the whole
process tree, pool workers included: every 50 ms the driver sums VmRSS over the crawl and
every live descendant (its forkserver, the workers the forkserver forked, the resource
tracker; members found by scanning ``/proc`` for parent ids every 250 ms) and keeps the
largest sum. A sum of RSS counts the pages the workers share with their forkserver once
per process, so it overstates the memory they use together; growth with N is what the
target is about. The crawl process's own ``VmHWM`` is kept beside it (``ru_maxrss``
would carry over the parent's RSS at fork). Bare Scrapy fetching the same URLs is the
baseline: the growth it shows is Scrapy's own (scheduler queue, duplicate filter). The
N = 2,000 runs of the crawl benchmark are reused when they were made.

Daemon: ``benchmarks.daemon_driver`` runs the real ``scheduler.Daemon`` with one ``rates``
job on a fast interval trigger against the fast mirror, and reads its own RSS after every
run; growth is from run 10 to the last run. The long series uses trivial children
(``python -c pass``) to fit the time budget; a shorter series of real ``rates`` runs
(about a second each) is reported beside it.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.common import PYTHON, Context, Figure, Result, check, fmt, median, run_child, standalone_main
from benchmarks.crawl import LABELS, crawl


def crawl_rss(ctx: Context) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Crawls of every memory size by every crawler of the crawl benchmark (pool off only if ``Sizes`` asks)."""
    kinds = ["bare", "ours", *(["ours-off"] if ctx.sizes.memory_pool_off else [])]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {kind: {} for kind in kinds}
    earlier = ctx.shared.get("crawl_runs", {})
    for n in ctx.sizes.memory_sizes:
        for kind in kinds:
            if n == ctx.sizes.articles and earlier.get(kind):
                runs[kind][n] = earlier[kind]
            else:
                runs[kind][n] = [crawl(ctx, kind, n, f"memory-{kind}-{n}")]
    return runs


def daemon(ctx: Context, runs: int, interval: float, trivial: bool) -> dict[str, Any]:
    folder = ctx.dir(f"daemon-{'trivial' if trivial else 'real'}")
    out = folder / "samples.json"
    cmd = [
        PYTHON,
        "-m",
        "benchmarks.daemon_driver",
        "--db",
        str(folder / "informburo.db"),
        "--base-url",
        ctx.served().url,
        "--runs",
        str(runs),
        "--interval",
        str(interval),
        "--out",
        str(out),
    ]
    child = check(run_child([*cmd, "--trivial"] if trivial else cmd, timeout=1800), "daemon driver")
    data = json.loads(out.read_text(encoding="utf-8"))
    samples = data["samples"]
    base_run = min(10, max(1, len(samples) // 2))
    rss = {s["run"]: s["rss_mb"] for s in samples}
    return {
        "runs": len(samples),
        "failed_runs": sum(1 for s in samples if s["code"] != 0),
        "seconds": data["seconds"],
        "wall_s": child.wall,
        "base_run": base_run,
        "rss_base_mb": rss[base_run],
        "rss_last_mb": rss[len(samples)],
        "rss_max_mb": max(rss.values()),
        "growth_mb": rss[len(samples)] - rss[base_run],
        "run_seconds_median": median([s["seconds"] for s in samples]),
        "samples": samples,
    }


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("memory", "Memory: crawl peak RSS by size, daemon RSS over runs")
    runs = crawl_rss(ctx)
    small, large = min(sizes.memory_sizes), max(sizes.memory_sizes)

    def peak_of(key: str) -> dict[str, dict[int, float]]:
        return {kind: {n: median([r[key] for r in rs]) for n, rs in by_n.items()} for kind, by_n in runs.items()}

    peak, own = peak_of("tree_peak_rss_mb"), peak_of("maxrss_mb")
    growth = {kind: by_n[large] - by_n[small] for kind, by_n in peak.items()}
    cheap = daemon(ctx, sizes.daemon_runs, sizes.daemon_interval, trivial=True)
    real = daemon(ctx, sizes.daemon_real_runs, 1.0, trivial=False)
    bare_text = (
        f"bare Scrapy {fmt(peak['bare'][small], 1)} → {fmt(peak['bare'][large], 1)} MB"
        f" (growth {fmt(growth['bare'], 1)} MB)"
    )
    workers = max(r["workers_seen"] for r in runs["ours"][large])
    result.figures += [
        Figure(
            f"crawl peak RSS growth, pool on (process tree), N = {small:,} → {large:,}",
            growth["ours"],
            "MB",
            "< 30 MB",
            growth["ours"] < 30,
            f"ours {fmt(peak['ours'][small], 1)} → {fmt(peak['ours'][large], 1)} MB,"
            f" {workers} worker process{'es' if workers != 1 else ''} at N = {large:,}",
            baseline=bare_text,
        ),
    ]
    if "ours-off" in peak:
        result.figures.append(
            Figure(
                f"crawl peak RSS growth, pool off, N = {small:,} → {large:,}",
                growth["ours-off"],
                "MB",
                "— (for information)",
                None,
                f"ours {fmt(peak['ours-off'][small], 1)} → {fmt(peak['ours-off'][large], 1)} MB",
                baseline=bare_text,
            )
        )
    result.figures += [
        Figure(
            f"daemon RSS growth, run {cheap['base_run']} → {cheap['runs']} (trivial children)",
            cheap["growth_mb"],
            "MB",
            "< 20 MB",
            cheap["growth_mb"] < 20,
            f"{fmt(cheap['rss_last_mb'], 1)} MB after run {cheap['runs']} (max {fmt(cheap['rss_max_mb'], 1)});"
            f" {cheap['failed_runs']} runs failed",
            baseline=f"{fmt(cheap['rss_base_mb'], 1)} MB after run {cheap['base_run']}",
        ),
        Figure(
            f"daemon RSS growth, run {real['base_run']} → {real['runs']} (real `rates` runs)",
            real["growth_mb"],
            "MB",
            "< 20 MB",
            real["growth_mb"] < 20,
            f"{fmt(real['rss_last_mb'], 1)} MB after run {real['runs']}; {real['failed_runs']} runs failed;"
            f" median run {fmt(real['run_seconds_median'])} s",
            baseline=f"{fmt(real['rss_base_mb'], 1)} MB after run {real['base_run']}",
        ),
    ]
    result.raw = {
        "crawl_peak_mb": peak,  # of the process tree
        "crawl_own_peak_mb": own,  # the crawl process's VmHWM
        "daemon_trivial": {k: v for k, v in cheap.items() if k != "samples"},
        "daemon_real": {k: v for k, v in real.items() if k != "samples"},
        "daemon_trivial_rss": [s["rss_mb"] for s in cheap["samples"]],
        "daemon_real_rss": [s["rss_mb"] for s in real["samples"]],
    }
    kinds = [kind for kind in LABELS if kind in runs]
    result.details += [
        "Peak RSS in MB: of the process tree (the crawl process's own VmHWM in parentheses).",
        "",
        "| N articles | pages | " + " | ".join(LABELS[kind] for kind in kinds) + " | pool on − bare |",
        "|---|---|" + "---|" * (len(kinds) + 1),
    ]
    for n in sizes.memory_sizes:
        pages = runs["ours"][n][0]["pages"]
        cells = " | ".join(f"{fmt(peak[kind][n], 1)} ({fmt(own[kind][n], 1)})" for kind in kinds)
        result.details.append(f"| {n:,} | {pages:,} | {cells} | {fmt(peak['ours'][n] - peak['bare'][n], 1)} |")
    result.details.append(
        f"| growth {small:,} → {large:,} | | "
        + " | ".join(fmt(growth[kind], 1) for kind in kinds)
        + f" | {fmt(growth['ours'] - growth['bare'], 1)} |"
    )

    def trace(samples: list[dict[str, Any]]) -> str:
        marks = sorted({1, 2, 5, 10, 20, 50, 100, 150, len(samples)} & {s["run"] for s in samples})
        by_run = {s["run"]: s["rss_mb"] for s in samples}
        return ", ".join(f"run {m}: {fmt(by_run[m], 1)}" for m in marks)

    result.details += [
        "",
        f"Daemon, {cheap['runs']} runs with trivial children every {sizes.daemon_interval:g} s"
        f" ({fmt(cheap['seconds'], 1)} s): RSS MB {trace(cheap['samples'])}.",
        f"Daemon, {real['runs']} real `informburo crawl --only rates` runs every 1 s ({fmt(real['seconds'], 1)} s):"
        f" RSS MB {trace(real['samples'])}.",
    ]
    return result


def main(argv: list[str] | None = None) -> None:
    standalone_main(run, __doc__, argv)


if __name__ == "__main__":
    main()
