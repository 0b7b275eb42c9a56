"""The benchmark suite runs end to end at tiny sizes and produces every figure (no timing is asserted)."""

from __future__ import annotations

import json
import math
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
    "crawl": ["mirror page weight", "server headroom", "crawl throughput: ours ÷ bare Scrapy"],
    "extraction": ["extraction speed: ours ÷ trafilatura", "body token F1: ours ÷ trafilatura"],
    "distributed": ["fast: 2 workers ÷ 1 worker", "polite: 2 workers ÷ 1 worker", "1 worker + store ÷ one process"],
    "storage": ["storage: ours ÷ raw executemany"],
    "memory": ["crawl peak RSS growth", "daemon RSS growth", "real `rates` runs"],
    "reparse": ["reparse pages/s"],
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
