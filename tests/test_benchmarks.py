"""The benchmark suite runs end to end at tiny sizes and produces every figure (no timing is asserted)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.extraction import f1
from benchmarks.synth import PER_PAGE, SyntheticSite
from crawler.pages.article import parse_article
from pipelines.normalize import normalize_item
from tests.conftest import ROOT

#: Every benchmark of the issue, and the figures each must report.
EXPECTED = {
    "crawl": [
        "mirror page weight",
        "server headroom",
        "crawl throughput, pool on: ours ÷ bare Scrapy",
        "crawl throughput, pool off: ours ÷ bare Scrapy",
        "crawl CPU per page, pool on",
        "crawl CPU per page, pool off",
    ],
    "extraction": ["extraction speed: ours ÷ trafilatura", "body token F1: ours ÷ trafilatura"],
    "distributed": ["fast: 2 workers ÷ 1 worker", "polite: 2 workers ÷ 1 worker", "1 worker + store ÷ one process"],
    "storage": ["storage: ours ÷ raw executemany"],
    "memory": [
        "crawl peak RSS growth, pool on",
        "crawl peak RSS growth, pool off",
        "daemon RSS growth",
        "real `rates` runs",
    ],
    "reparse": ["reparse pages/s, one process", "reparse pages/s, pool on", "reparse pages/s: pool on ÷ pool off"],
    "queries": ["query p95: search box (FTS)", *(f"query p95: {name}" for name in ("latest_rates", "search"))],
    "profile": [f"profile #{rank}" for rank in range(1, 6)],
    "foreign": ["foreign pages: body token F1, ours ÷ trafilatura", "foreign pages: worst page"],
}


# The tests of the quick run are slow (it takes minutes) and need redis (its distributed benchmark
# starts a private redis-server).
@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    folder = tmp_path_factory.mktemp("bench")
    report, data = folder / "benchmarks.md", folder / "benchmarks.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(report), "--json", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(data.read_text(encoding="utf-8")), report.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.redis
def test_every_benchmark_produces_every_figure(suite: tuple[dict, str]) -> None:
    payload, _ = suite
    assert payload["quick"] is True
    results = {r["key"]: r for r in payload["results"]}
    assert set(results) == set(EXPECTED)
    for key, wanted in EXPECTED.items():
        names = [f["name"] for f in results[key]["figures"]]
        for prefix in wanted:
            assert any(n.startswith(prefix) or prefix in n for n in names), (key, prefix, names)
        for fig in results[key]["figures"]:
            assert isinstance(fig["value"], (int, float)) and math.isfinite(fig["value"]), fig
            assert fig["passed"] in (True, False, None), fig
            if fig["passed"] is not None:
                assert fig["target"] and fig["baseline"], fig  # a target, and a baseline from the same run


@pytest.mark.slow
@pytest.mark.redis
def test_every_canned_query_is_timed(suite: tuple[dict, str]) -> None:
    from benchmarks.queries import canned_queries

    payload, _ = suite
    queries = next(r for r in payload["results"] if r["key"] == "queries")
    timed = {f["name"].removeprefix("query p95: ") for f in queries["figures"]}
    assert set(canned_queries()) <= timed


@pytest.mark.slow
@pytest.mark.redis
def test_the_report_names_the_machine_command_and_verdicts(suite: tuple[dict, str]) -> None:
    payload, report = suite
    machine = payload["machine"]
    for text in (machine["cpu"], machine["python"], "scrapy", "lxml", "parsel", "sqlite", "trafilatura"):
        assert text in report
    assert "python -m benchmarks --quick" in report
    assert "| 1–2 |" in report and "| 8 |" in report
    assert ("PASS" in report) and ("MISS" in report or "Every target met." in report)


@pytest.mark.slow
@pytest.mark.redis
def test_the_report_has_the_crawl_pool_and_stage_tables(suite: tuple[dict, str]) -> None:
    payload, report = suite
    crawl = next(r for r in payload["results"] if r["key"] == "crawl")
    for kind in ("bare", "ours", "ours-off"):
        for run in crawl["raw"]["runs"][kind]:
            assert run["cpu_ms_per_page"] >= run["main_cpu_ms_per_page"] >= run["main_thread_cpu_ms_per_page"]
            assert run["tree_peak_rss_mb"] > 0
    assert all(r["pool_cpu_ms_per_page"] == 0 for r in crawl["raw"]["runs"]["bare"])
    for text in ("| ours, pool on |", "| ours, pool off |", "CPU per article page of each stage"):
        assert text in report
    assert "| store (pipelines/store.py Store.store) |" in report and "| **all** (" in report


def _pool_child() -> str:
    """A child that burns 0.3 s of CPU in a forkserver pool's worker, as the crawl's pool does its pages."""
    return (
        "import multiprocessing, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "def burn(s):\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < s: pass\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('forkserver')) as ex:\n"
        "        ex.submit(burn, 0.3).result()\n"
    )


def test_a_child_s_process_tree_counts_its_pool_workers(tmp_path: Path) -> None:
    from benchmarks.common import _processes, run_child

    script = tmp_path / "pool_child.py"
    script.write_text(_pool_child(), encoding="utf-8")
    child = run_child([sys.executable, str(script)], tree=True, cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    tree = child.tree
    assert tree is not None and tree.exact
    assert tree.grandchildren >= 1  # the worker, forked by the forkserver
    assert tree.workers_cpu >= 0.25 and tree.pool_cpu >= tree.workers_cpu
    assert tree.cpu == pytest.approx(tree.main_cpu + tree.pool_cpu)
    assert tree.cpu > child.cpu + 0.25  # wait4 of the child alone misses the orphaned forkserver's workers
    assert tree.peak_rss_mb > child.maxrss_mb  # the workers' RSS is in the tree's
    assert tree.processes >= 3
    leftovers = [pid for pid, stat in _processes().items() if stat[0] == os.getpid() and stat[1] == "Z"]
    assert not leftovers  # every orphan adopted was reaped


def test_synthetic_pages_are_realistic_and_their_truth_is_what_we_extract() -> None:
    site = SyntheticSite(PER_PAGE + 5)
    for article in site.articles[:10]:
        _, body = site.render_article(article)
        assert 55_000 <= len(body) <= 125_000
        item = normalize_item(parse_article(body, site.base_url + site.path_of(article), "2026-01-16T12:00:00+05:00"))
        assert f1(item.body, site.truth(article)) > 0.99
    listing = site.render_listing(2)
    assert listing is not None and "/novosti?page=1" in listing
    assert site.crawl_paths(PER_PAGE)[:3] == ["/", "/novosti", site.path_of(site.articles[0])]


def test_f1_is_token_overlap() -> None:
    assert f1("a b c", "a b c") == 1.0
    assert f1("", "a b") == 0.0
    assert f1("a b", "a b c d") == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_make_bench_target_runs_the_full_suite_into_the_docs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "bench:" in makefile and "-m benchmarks --output docs/benchmarks.md" in makefile
    assert Path(ROOT / "docs" / "benchmarks.md").exists()
