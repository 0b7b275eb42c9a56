"""Extraction in worker processes: the crawl's article pages (and reparse's) read on the other cores.

A page's extraction is pure CPU work (parse, page objects), so on a machine with more than one
core it runs in a ``ProcessPoolExecutor`` while the crawling process goes on downloading and
storing. The crawl's callback *awaits* its page's extraction and yields the items itself, so
items still reach the pipelines, and the database, inside the run: a run's status still says
whether its pages were stored.

What crosses the process boundary is plain: the response's bytes, headers and URL go out, an
``Article`` (a dataclass) or the reason the page could not be read comes back.

A worker that dies (killed, out of memory, a crash in C) breaks the pool: every page it held is
read again, one at a time, in a quarantine pool of its own, so the one page that kills a worker
there is the page recorded as failing, with its URL, and the others are stored. A pool that keeps
breaking (``MAX_POOL_RESTARTS``) ends the run ``extraction_workers_failed`` rather than grind on.
Workers exit by themselves when the process that started them is gone (``kill -9``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Workers start from a clean server process, not a fork of the crawling one: that process holds open
#: SQLite connections and runs threads (the reactor's thread pool, a writer lock's), which a forked
#: child would inherit half-way. The server imports the modules named at start-up once, so a worker
#: starts in milliseconds, not with an import of Scrapy.
POOL_CONTEXT = "forkserver"
#: Breaks of a pool (a worker gone) before the run gives up: each break costs the page that caused it,
#: but a pool that cannot stay up must not grind on.
MAX_POOL_RESTARTS = 10
#: How often a worker looks whether the process that started it is still there.
PARENT_WATCH_SECONDS = 1.0


class ExtractionWorkersError(RuntimeError):
    """The worker pool kept breaking: the run fails (its completed pages kept) rather than grind on."""


class WorkerDiedError(RuntimeError):
    """A page's extraction killed its worker process, alone in a pool: that page is the cause."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not merely those the machine has."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_crawl_workers() -> int:
    """A crawl's extraction workers: every core but the crawling process's; none on one core."""
    return max(0, usable_cores() - 1)


def worker_start(parent_pid: int) -> None:
    """In each worker: Ctrl-C and SIGTERM are the parent's to handle (a terminal's Ctrl-C and systemd's
    stop reach the whole group, and the parent still needs its workers to finish the pages in flight);
    the parent stops them when it is done, and a worker whose parent is gone (killed with -9) exits
    instead of waiting for work forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(PARENT_WATCH_SECONDS)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # a process of another user took the id: ours is gone
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def start_pool(workers: int, context_name: str, preload: list[str]) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes whose server has imported ``preload`` (forkserver only)."""
    context = multiprocessing.get_context(context_name)
    if context_name == "forkserver":
        context.set_forkserver_preload(preload)  # ignored once the server runs: then it has them already
    return ProcessPoolExecutor(workers, mp_context=context, initializer=worker_start, initargs=(os.getpid(),))


def stop_pool(executor: ProcessPoolExecutor, *, wait: bool) -> None:
    """Stop a pool: after a finished run, let it wind down; on any other path, end its workers now
    (killed: they ignore SIGTERM, and hold nothing that needs closing)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=wait, cancel_futures=True)
    if not wait:
        for process in processes:
            if process.is_alive():
                process.kill()
        for process in processes:
            process.join(5)


class ExtractionPool:
    """Worker processes for a crawl's callbacks to await, restarted when one dies.

    ``run(fn, *args)`` is awaited on the asyncio loop (Scrapy's reactor): the callback waits for
    its page while the reactor goes on with the others. Only module-level functions and plain
    arguments may be sent (they are pickled).
    """

    def __init__(self, workers: int, preload: list[str] | None = None, context: str | None = None) -> None:
        self.workers = workers
        self.preload = preload or []
        self.context = context or POOL_CONTEXT
        self.restarts = 0
        self.failed: str | None = None
        self.executor: ProcessPoolExecutor | None = None
        self.quarantine: ProcessPoolExecutor | None = None  # one worker, one page at a time
        self._alone = asyncio.Lock()
        self._lock = threading.Lock()

    def start(self) -> ProcessPoolExecutor:
        """The pool, made on first use (its processes start with the first call sent to it)."""
        with self._lock:
            self._check()
            if self.executor is None:
                self.executor = start_pool(self.workers, self.context, self.preload)
            return self.executor

    def warm_up(self) -> None:
        """Start the workers now, on a thread of their own: the server's imports take about a second,
        which would otherwise stall the reactor at the first article page."""
        executor = self.start()

        def first_call() -> None:
            try:
                executor.submit(os.getpid)
            except Exception:  # shut down already (a run that ended at once): nothing to start
                pass

        threading.Thread(target=first_call, name="extraction-warm-up", daemon=True).start()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker. A break of the pool is retried alone in quarantine; ``WorkerDiedError``
        when the call breaks that too, ``ExtractionWorkersError`` when the pool keeps breaking.
        Any other exception of ``fn`` is raised here as it was there."""
        executor = self.start()
        try:
            return await asyncio.wrap_future(executor.submit(fn, *args))
        except BrokenProcessPool:
            self.replace_broken(executor)
        async with self._alone:  # which page broke it is not known: each of them is read again alone
            self._check()
            if self.quarantine is None:
                self.quarantine = start_pool(1, self.context, self.preload)
            quarantine = self.quarantine
            try:
                return await asyncio.wrap_future(quarantine.submit(fn, *args))
            except BrokenProcessPool as exc:
                self.quarantine = None
                stop_pool(quarantine, wait=False)
                raise WorkerDiedError(f"the extraction worker died reading it ({type(exc).__name__})") from exc

    def _check(self) -> None:
        if self.failed:
            raise ExtractionWorkersError(self.failed)

    def replace_broken(self, broken: ProcessPoolExecutor) -> None:
        """A fresh pool in place of ``broken`` (once, however many of its calls report the break; started
        on next use); ``ExtractionWorkersError`` once it has broken more than ``MAX_POOL_RESTARTS`` times."""
        if self.executor is not broken:
            return
        self.executor = None
        self.restarts += 1
        stop_pool(broken, wait=False)
        logger.warning("An extraction worker died (break %s of %s allowed)", self.restarts, MAX_POOL_RESTARTS)
        if self.restarts > MAX_POOL_RESTARTS:
            self.failed = f"the extraction workers died {self.restarts} times"
            raise ExtractionWorkersError(self.failed)

    def close(self, *, wait: bool = True) -> None:
        """Stop every worker (the run is over: nothing is awaiting them)."""
        for executor in (self.executor, self.quarantine):
            if executor is not None:
                stop_pool(executor, wait=wait)
        self.executor = self.quarantine = None
