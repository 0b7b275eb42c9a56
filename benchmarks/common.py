"""What every benchmark shares: child processes with their peak RSS, the served site, statistics, the machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.synth import SyntheticSite

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Sizes:
    """Every size the suite uses; ``quick()`` is the smoke-test scale."""

    articles: int = 2000  # the crawl, reparse and storage benchmarks
    crawl_reps: int = 3
    extraction_pages: int = 300
    extraction_reps: int = 3
    generic_pages: int = 100  # trafilatura and newspaper4k are slow: a sample of the same pages
    storage_reps: int = 3
    memory_sizes: tuple[int, ...] = (500, 2000, 8000)
    daemon_runs: int = 200
    daemon_real_runs: int = 30
    daemon_interval: float = 0.25  # seconds, for the cheap (trivial-child) runs
    reparse_reps: int = 3
    query_articles: int = 200_000
    query_days: int = 365
    query_reps: int = 30
    profile_articles: int = 500
    quick: bool = False

    @classmethod
    def quick_sizes(cls) -> Sizes:
        return cls(
            articles=20,
            crawl_reps=1,
            extraction_pages=20,
            extraction_reps=2,
            generic_pages=5,
            storage_reps=2,
            memory_sizes=(20, 40, 80),
            daemon_runs=5,
            daemon_real_runs=3,
            reparse_reps=1,
            query_articles=2_000,
            query_days=7,
            query_reps=5,
            profile_articles=20,
            quick=True,
        )


# -- statistics ------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0–100), linear between the closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# -- child processes ---------------------------------------------------------------


@dataclass
class Child:
    returncode: int
    wall: float
    maxrss_mb: float  # the child's own peak RSS (VmHWM), its children not included
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds


def _hwm_mb(pid: int) -> float:
    """A live process's peak RSS so far (VmHWM), in MB; 0 when it cannot be read (exited, not Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def run_child(cmd: list[str], *, timeout: float = 1200, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Child:
    """Run ``cmd`` to completion: its wall time, CPU time (``wait4``) and peak RSS.

    The peak RSS is the child's ``VmHWM``, polled every 10 ms while it runs. ``ru_maxrss`` will not do:
    Linux carries the parent's RSS at fork over into the child's, and this driver holds the whole site.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        deadline = start + timeout
        peak = 0.0
        while True:
            peak = max(peak, _hwm_mb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(
            returncode=proc.returncode,
            wall=wall,
            maxrss_mb=peak,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu=usage.ru_utime + usage.ru_stime,
        )


class BenchError(RuntimeError):
    """A benchmark could not produce its figure (a child failed)."""


def check(child: Child, what: str) -> Child:
    if child.returncode != 0:
        raise BenchError(f"{what} exited {child.returncode}: {child.stderr[-2000:]}")
    return child


# -- the served synthetic site ---------------------------------------------------------


@dataclass
class Served:
    """``benchmarks.server`` in a child process."""

    articles: int
    seed: int = 1
    proc: subprocess.Popen[str] | None = None
    port: int = 0
    startup: float = 0.0

    def start(self) -> Served:
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "benchmarks.server", "--articles", str(self.articles), "--seed", str(self.seed)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise BenchError("the benchmark server did not start")
        self.port = int(line[1])
        self.startup = time.perf_counter() - start
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, what: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/__bench/{what}", timeout=10) as resp:
            return json.loads(resp.read())

    def reset(self) -> None:
        self._call("reset")

    def stats(self) -> dict[str, Any]:
        return self._call("stats")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def served_rate(stats: dict[str, Any]) -> tuple[int, float, float]:
    """(pages, seconds, pages/s) between the first and the last page the server answered."""
    count = stats["count"]
    span = (stats["last"] or 0) - (stats["first"] or 0)
    return count, span, (count - 1) / span if span > 0 else float("nan")


# -- the machine ---------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = float("nan")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": {
            "scrapy": _version("scrapy"),
            "twisted": _version("twisted"),
            "lxml": _version("lxml"),
            "parsel": _version("parsel"),
            "sqlite (library)": sqlite3.sqlite_version,
            "sqlite-utils": _version("sqlite-utils"),
            "trafilatura": _version("trafilatura"),
            "newspaper4k": _version("newspaper4k"),
            "apscheduler": _version("apscheduler"),
        },
    }


def self_rss_mb() -> float:
    """This process's current RSS (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Figure:
    """One reported figure: a value (usually a ratio against a baseline of the same run) and its target."""

    name: str
    value: float | None
    unit: str
    target: str
    passed: bool | None  # None: informational, no target
    detail: str = ""
    baseline: str = ""  # the baseline measured in the same run, as text
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "passed": self.passed,
            "detail": self.detail,
            "baseline": self.baseline,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class Result:
    """What one benchmark hands the report: its figures, and the raw numbers behind them."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # markdown lines for the report
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "figures": [f.as_dict() for f in self.figures],
            "raw": self.raw,
            "seconds": self.seconds,
        }


class Context:
    """Shared state of one suite run: sizes, a work directory, the served site, what benchmarks pass on."""

    def __init__(self, sizes: Sizes, workdir: Path) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.shared: dict[str, Any] = {}
        self._served: Served | None = None
        self._site: SyntheticSite | None = None

    @property
    def site_articles(self) -> int:
        return max(self.sizes.articles, max(self.sizes.memory_sizes), self.sizes.profile_articles)

    def served(self) -> Served:
        if self._served is None:
            self._served = Served(self.site_articles).start()
        return self._served

    def site(self) -> SyntheticSite:
        """The driver's copy of the served site (same seed: same paths and texts), rendered as the live host."""
        if self._site is None:
            self._site = SyntheticSite(self.site_articles, base_url="https://informburo.kz")
        return self._site

    def dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def empty_dir(self, name: str) -> Path:
        """``dir(name)`` emptied first: a repetition starts from nothing its predecessor left."""
        path = self.dir(name)
        shutil.rmtree(path)
        path.mkdir()
        return path

    def close(self) -> None:
        if self._served is not None:
            self._served.stop()
            self._served = None


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def standalone_main(bench: Callable[[Context], Result], doc: str | None, argv: list[str] | None = None) -> None:
    """The command line of one benchmark module: ``python -m benchmarks.<name> [--quick]``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    args = parser.parse_args(argv)
    standalone(bench, Sizes.quick_sizes() if args.quick else Sizes())


def standalone(bench: Callable[[Context], Result], sizes: Sizes) -> None:
    """Run one benchmark on its own and print its figures as JSON."""
    temp = Path(tempfile.mkdtemp(prefix="informburo-bench-"))
    ctx = Context(sizes, temp)
    try:
        start = time.perf_counter()
        result = bench(ctx)
        result.seconds = time.perf_counter() - start
    finally:
        ctx.close()
        shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1, default=str))
    print("\n".join(result.details), file=sys.stderr)
