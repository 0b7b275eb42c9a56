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
from crawler.workers import usable_cores

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Sizes:
    """Every size the suite uses; ``quick()`` is the smoke-test scale."""

    articles: int = 2000  # the crawl, reparse and storage benchmarks
    crawl_reps: int = 3
    extraction_pages: int = 300
    extraction_reps: int = 5  # each gives a pair (ours, trafilatura) close in time: the ratio is their median
    generic_pages: int = 100  # trafilatura and newspaper4k are slow: a sample of the same pages
    storage_reps: int = 3
    memory_sizes: tuple[int, ...] = (500, 2000, 8000)
    memory_pool_off: bool = True  # the memory crawls with the pool off too (about 3 minutes at full size)
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
    cpu: float = 0.0  # user + system seconds: the child and the descendants it waited for (``wait4``)
    tree: Tree | None = None  # with ``run_child(tree=True)``: the whole process tree


@dataclass
class Tree:
    """The child and every process it started, however deep (a pool's forkserver and its workers)."""

    cpu: float  # user + system seconds of every process of the tree, exact when ``exact``
    main_cpu: float  # the child's own (every thread of it)
    main_thread_cpu: float  # the child's main thread, as last sampled (within ~50 ms of its exit)
    pool_cpu: float  # every descendant: ``cpu - main_cpu``
    workers_cpu: float  # descendants of descendants (a forkserver's workers), as last sampled
    peak_rss_mb: float  # the largest sum of VmRSS over the tree's processes, sampled every ~50 ms
    processes: int  # most processes alive in the tree at one sample, the child included
    descendants: int  # distinct descendants seen
    grandchildren: int  # distinct descendants of descendants seen (a forkserver's workers)
    exact: bool  # False: no subreaper, so orphans' CPU is as last sampled


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_MB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) / 2**20
#: ``prctl(PR_SET_CHILD_SUBREAPER)``: orphans of our descendants are reparented to us, not to init.
_PR_SET_CHILD_SUBREAPER = 36


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


Stat = tuple[int, str, int, float, float, float]


def _stat(path: str) -> Stat | None:
    """(ppid, state, start time, own CPU s, waited-for children's CPU s, RSS MB) from a ``/proc/…/stat`` file."""
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    try:
        utime, stime, cutime, cstime = (int(v) / _CLK_TCK for v in fields[11:15])
        return int(fields[1]), fields[0], int(fields[19]), utime + stime, cutime + cstime, int(fields[21]) * _PAGE_MB
    except (IndexError, ValueError):
        return None


def _processes() -> dict[int, Stat]:
    """Every process of the machine: pid → ``_stat``. A few ms for a hundred processes."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(f"/proc/{name}/stat")) is not None:
            found[int(name)] = stat
    return found


def _descendants(root: int, procs: dict[int, Stat]) -> dict[int, int]:
    """pid → depth below ``root`` (1: its children) of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    for pid, stat in procs.items():
        children.setdefault(stat[0], []).append(pid)
    found: dict[int, int] = {}
    todo = [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        for child in children.get(pid, ()):
            if child not in found:
                found[child] = depth + 1
                todo.append((child, depth + 1))
    return found


def _subreaper(on: bool) -> bool:
    """Make this process a child subreaper (Linux), or stop; False when it cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class _TreeWatch:
    """Samples a running child's process tree from ``/proc``: RSS sums, who belongs to it, their CPU.

    Known members are sampled every call; the whole of ``/proc`` is scanned (to find new members) on every
    ``rescan``-th call only, since a scan costs a few ms of a core the crawl needs.
    """

    def __init__(self, root: int, rescan: int = 5) -> None:
        self.root = root
        self.rescan = rescan
        self.calls = 0
        self.members: dict[int, tuple[int, int]] = {}  # pid → (start time, depth), the child excluded
        self.last_cpu: dict[int, float] = {}  # pid → own + children's CPU at its last sample (the fallback)
        self.own_cpu: dict[int, float] = {}  # pid → own CPU at its last sample
        self.peak_rss = 0.0
        self.processes = 1
        self.main_thread_cpu = 0.0

    def sample(self) -> None:
        if self.calls % self.rescan == 0:
            for pid, depth in _descendants(self.root, _processes()).items():
                self.members.setdefault(pid, (0, depth))
        self.calls += 1
        total, alive = 0.0, 1
        for pid in list(self.members):
            stat = _stat(f"/proc/{pid}/stat")
            start, depth = self.members[pid]
            if stat is None or stat[1] == "Z" or (start and stat[2] != start):
                continue  # gone (or its id taken by another process)
            if not start:
                self.members[pid] = (stat[2], depth)
            self.last_cpu[pid] = stat[3] + stat[4]
            self.own_cpu[pid] = stat[3]
            total += stat[5]
            alive += 1
        main = _stat(f"/proc/{self.root}/stat")
        if main is not None and main[1] != "Z":
            total += main[5]
            thread = _stat(f"/proc/{self.root}/task/{self.root}/stat")
            if thread is not None:
                self.main_thread_cpu = thread[3]
        self.processes = max(self.processes, alive)
        self.peak_rss = max(self.peak_rss, total)

    def alive(self) -> list[int]:
        """Members still running (same pid, same start time)."""
        return [pid for pid, (start, _) in self.members.items() if (s := _stat(f"/proc/{pid}/stat")) and s[2] == start]


def _reap_orphans(watch: _TreeWatch, before: set[int], timeout: float = 30) -> float:
    """Wait for the processes the child left behind, now our children (we are their subreaper); their CPU.

    ``wait4`` gives each one's own CPU and that of the descendants it waited for (the forkserver's workers).
    Whatever is still running after ``timeout`` seconds is killed: a benchmark must not leave processes.
    """
    me = os.getpid()
    cpu = 0.0
    deadline = time.perf_counter() + timeout
    while True:
        mine = [pid for pid, stat in _processes().items() if stat[0] == me and pid not in before]
        for pid in mine:
            try:
                done, _, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done:
                cpu += usage.ru_utime + usage.ru_stime
        left = watch.alive()
        if not mine and not left:
            return cpu
        if time.perf_counter() > deadline:
            for pid in left:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            deadline = time.perf_counter() + 5
        time.sleep(0.02)


def run_child(
    cmd: list[str],
    *,
    timeout: float = 1200,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    tree: bool = False,
) -> Child:
    """Run ``cmd`` to completion: its wall time, CPU time (``wait4``) and peak RSS.

    The peak RSS is the child's ``VmHWM``, polled every 10 ms while it runs. ``ru_maxrss`` will not do:
    Linux carries the parent's RSS at fork over into the child's, and this driver holds the whole site.

    With ``tree``, the whole process tree is measured too (``Child.tree``). CPU: this driver is made a child
    subreaper for the run, so a process the child leaves behind (a multiprocessing forkserver outlives its
    parent by a moment; its resource tracker too) is reparented to us, not to init, and we ``wait4`` it. Each
    ``wait4`` counts a process's own CPU and that of every descendant it waited for (a forkserver waits for its
    workers), so the sum over the child and its orphans is every process of the tree, to the microsecond. The
    child's own share is read from its ``/proc/<pid>/stat`` while it is a zombie (``waitid(WNOWAIT)``: exited,
    not yet reaped): ``wait4``'s figure less the CPU of the children it waited for (its stat's cutime and
    cstime, in clock ticks). RSS: the sum of VmRSS over the child and its live
    descendants, sampled every 50 ms (members found by a scan of ``/proc`` every 250 ms).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = {pid for pid, stat in _processes().items() if stat[0] == os.getpid()} if tree else set()
        reaper = _subreaper(True) if tree else False
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
            watch = _TreeWatch(proc.pid) if tree else None
            deadline = start + timeout
            peak = 0.0
            ticks = 0
            while True:
                peak = max(peak, _hwm_mb(proc.pid))
                if watch is not None and ticks % 5 == 0:
                    watch.sample()
                ticks += 1
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                    break
                time.sleep(0.01)
            zombie = _stat(f"/proc/{proc.pid}/stat")  # exited, not yet reaped: its final CPU figures
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            found = None
            if watch is not None:
                orphans = _reap_orphans(watch, before | {proc.pid}) if reaper else 0.0
                main_cpu = max(0.0, cpu - zombie[4]) if zombie else cpu  # less what it waited for
                if not reaper:  # orphans went to init: their CPU as last sampled
                    orphans = sum(c for p, c in watch.last_cpu.items() if watch.members[p][1] == 1)
                total = cpu + orphans
                found = Tree(
                    cpu=total,
                    main_cpu=main_cpu,
                    main_thread_cpu=min(watch.main_thread_cpu, main_cpu),
                    pool_cpu=total - main_cpu,
                    workers_cpu=sum(c for p, c in watch.own_cpu.items() if watch.members[p][1] >= 2),
                    peak_rss_mb=watch.peak_rss,
                    processes=watch.processes,
                    descendants=len(watch.members),
                    grandchildren=sum(1 for _, depth in watch.members.values() if depth >= 2),
                    exact=reaper,
                )
        finally:
            if reaper:
                _subreaper(False)
        out.seek(0)
        err.seek(0)
        return Child(
            returncode=proc.returncode,
            wall=wall,
            maxrss_mb=peak,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu=cpu,
            tree=found,
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
        "usable_cores": usable_cores(),
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
