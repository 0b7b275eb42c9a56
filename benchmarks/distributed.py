"""Benchmark: distributed mode (docs/distributed.md), one and two workers against one process.

All three crawl the same served synthetic site, N articles deep, in the same run:
``informburo crawl`` (one process), and ``informburo seed`` drained by one or two
``informburo worker`` processes and one ``informburo store``, on a private redis-server.
The rate is what the server saw (first to last page); a distributed run's wall clock runs
from the seed to its ``crawl_runs`` row closing, the store's last write included.

Two regimes: *fast* (no delay: every process competes for the machine's two cores) and
*polite* (a per-worker delay, as on the live site, where a worker waits on the site, not on
the CPU; that is when more workers pay).
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    PYTHON,
    ROOT,
    BenchError,
    Context,
    Figure,
    Result,
    fmt,
    median,
    served_rate,
    standalone_main,
)
from benchmarks.crawl import FAST, _s, listing_pages
from mirror.redis_server import RedisServer

#: The polite regime: each worker fetches one page at a time, 50 ms apart (the live default is 1 s).
POLITE = {**FAST, "DOWNLOAD_DELAY": "0.05", "RANDOMIZE_DOWNLOAD_DELAY": "False", "CONCURRENT_REQUESTS_PER_DOMAIN": "1"}


def _run_status(db: Path) -> tuple[str | None, int]:
    try:
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT status FROM crawl_runs WHERE seed IS NOT NULL").fetchone()
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the store has not created the schema yet
        return None, 0
    return (row[0] if row else None), stored


def distributed_crawl(
    ctx: Context, redis_server: RedisServer, workers: int, articles: int, settings: dict[str, str], tag: str
) -> dict[str, Any]:
    """One seed of ``articles`` articles drained by ``workers`` workers and one store."""
    served = ctx.served()
    folder = ctx.empty_dir(f"distributed/{tag}")
    db = folder / "informburo.db"
    client = redis_server.client()
    client.flushall()
    common = ["--redis-url", redis_server.url, "--db", str(db), "--base-url", served.url, *_s(settings)]
    procs = []
    for name, command in [("store", "store")] + [(f"worker-{i}", "worker") for i in range(workers)]:
        with open(folder / f"{name}.log", "wb") as log:
            cmd = [PYTHON, "-m", "cli", command, *common]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log))
    try:
        deadline = time.monotonic() + 60
        while len(list(client.scan_iter(match="informburo:worker:*"))) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise BenchError(f"workers did not start ({tag}); see {folder}")
            time.sleep(0.1)
        served.reset()
        start = time.perf_counter()
        seed = subprocess.run(
            [PYTHON, "-m", "cli", "seed", *common, "--only", "articles", "--max-pages", str(listing_pages(articles))],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if seed.returncode != 0:
            raise BenchError(f"seed failed: {seed.stderr[-1000:]}")
        deadline = time.monotonic() + 1200
        while True:
            status, stored = _run_status(db)
            if status not in (None, "running"):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"distributed run {tag} did not finish; see {folder}")
            time.sleep(0.05)
        wall = time.perf_counter() - start
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    pages, span, rate = served_rate(served.stats())
    return {"workers": workers, "status": status, "stored": stored, "pages": pages, "span_s": span,
            "pages_per_s": rate, "wall_s": wall, "wall_pages_per_s": pages / wall}  # fmt: skip


def single_crawl(ctx: Context, articles: int, settings: dict[str, str], tag: str) -> dict[str, Any]:
    """``informburo crawl --only articles``, the same walk as the seed's."""
    served = ctx.served()
    served.reset()
    folder = ctx.empty_dir(f"distributed/{tag}")
    db = folder / "informburo.db"
    cmd = [PYTHON, "-m", "cli", "crawl", "--db", str(db), "--base-url", served.url, "--only", "articles"]
    cmd += _s({**settings, "INFORMBURO_MAX_PAGES": str(listing_pages(articles))})
    start = time.perf_counter()
    child = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if child.returncode != 0:
        raise BenchError(f"informburo crawl ({tag}) exited {child.returncode}: {child.stderr[-1000:]}")
    wall = time.perf_counter() - start
    pages, span, rate = served_rate(served.stats())
    return {"pages": pages, "span_s": span, "pages_per_s": rate, "wall_s": wall, "wall_pages_per_s": pages / wall}


def run(ctx: Context) -> Result:
    sizes = ctx.sizes
    result = Result("distributed", "Distributed mode: one and two workers against one process")
    try:
        redis_server = RedisServer(ctx.dir("distributed/redis"), appendonly=False).start()
    except (FileNotFoundError, RuntimeError) as exc:
        raise BenchError(str(exc)) from exc
    regimes = {"fast": (FAST, sizes.articles), "polite": (POLITE, max(20, sizes.articles // 4))}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        for regime, (settings, n) in regimes.items():
            runs[regime] = {"single": [], "1 worker": [], "2 workers": []}
            for rep in range(max(1, sizes.crawl_reps)):  # interleaved: drift in the machine hits all three
                runs[regime]["single"].append(single_crawl(ctx, n, settings, f"{regime}-single-{rep}"))
                for workers in (1, 2):
                    key = "1 worker" if workers == 1 else "2 workers"
                    tag = f"{regime}-{workers}w-{rep}"
                    runs[regime][key].append(distributed_crawl(ctx, redis_server, workers, n, settings, tag))
    finally:
        redis_server.stop()

    def rate(regime: str, kind: str, field: str = "pages_per_s") -> float:
        return median([r[field] for r in runs[regime][kind]])

    for regime, (_settings, n) in regimes.items():
        single, one, two = (rate(regime, k) for k in ("single", "1 worker", "2 workers"))
        walls = {k: rate(regime, k, "wall_pages_per_s") for k in ("single", "1 worker", "2 workers")}
        scaling_target = "≥ 1.8× (each worker waits on the site)" if regime == "polite" else ""
        result.figures += [
            Figure(
                f"{regime}: 2 workers ÷ 1 worker (pages/s, N = {n:,})",
                two / one,
                "×",
                scaling_target or "reported (2 cores shared by the workers, the store and the server)",
                two / one >= 1.8 if regime == "polite" else None,
                f"2 workers {fmt(two, 1)} pages/s; seed to last write: {fmt(walls['2 workers'], 1)} pages/s",
                baseline=f"1 worker {fmt(one, 1)} pages/s",
            ),
            Figure(
                f"{regime}: 1 worker + store ÷ one process (pages/s, N = {n:,})",
                one / single,
                "×",
                "reported (the cost of Redis between crawling and storing)",
                None,
                f"seed to last write {fmt(walls['1 worker'], 1)} vs whole process {fmt(walls['single'], 1)} pages/s",
                baseline=f"informburo crawl {fmt(single, 1)} pages/s",
            ),
        ]
    stored = {
        f"{regime} {k}": [r["stored"] for r in v]
        for regime, kinds in runs.items()
        for k, v in kinds.items()
        if k != "single"
    }
    result.raw = {"runs": runs, "polite_settings": POLITE}
    result.details += [
        f"Fast: the crawl benchmark's settings (no delay, 16 requests at once), N = {regimes['fast'][1]:,}."
        f" Polite: one request at a time per worker, {POLITE['DOWNLOAD_DELAY']} s apart, N = {regimes['polite'][1]:,}.",
        f"Articles stored by the distributed runs: {stored}.",
        "",
        "| regime | crawler | rep | pages | pages/s (server window) | wall s (seed to last write) |",
        "|---|---|---|---|---|---|",
    ]
    for regime, kinds in runs.items():
        for kind, reps in kinds.items():
            for rep, r in enumerate(reps):
                result.details.append(
                    f"| {regime} | {kind} | {rep} | {r['pages']} | {fmt(r['pages_per_s'], 1)} | {fmt(r['wall_s'], 1)} |"
                )
    return result


if __name__ == "__main__":
    standalone_main(run, __doc__)
