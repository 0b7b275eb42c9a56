"""Distributed mode keeps honest books: a run closes with its last lease, a Redis outage costs no
refetch, the log says what is true, and an open run shows its totals so far.

One cluster for the module, as docs/distributed.md runs it: a private redis-server, the mirror,
two ``informburo worker`` processes and an ``informburo store`` (started anew with its own
database for each run). Workers run with a 4 s heartbeat TTL, so an outage of a few seconds
outlives their heartbeats, as a longer one does with the default 15 s.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cli import main
from crawler.distributed import Keys, envelope, item_envelope
from crawler.items import PageError
from mirror.faults import SLOW_SECONDS
from mirror.redis_server import RedisServer
from mirror.server import MirrorServer
from mirror.site import RSS_PATH, Site
from tests.conftest import rows, wait_for
from tests.test_distributed import Cluster, ended_quietly, run_done

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TTL = 4.0
KEYS = Keys()
#: Listed only on the last listing page: the run's last pages.
LAST_PAGES = (
    "/stati/kak-izmenitsya-pensionnyj-vozrast-zhenshchin-v-2026-godu",
    "/novosti/v-almaty-otkryli-novyj-punkt-obogreva",
    "/novosti/novyj-most-cherez-ishim-otkroyut-osenyu.html",
)
#: On the first listing page and in the feed.
EARLY_PAGES = (
    "/novosti/blogera-zaderzhali-za-vymogatelstvo-v-turkestanskoj-oblasti",
    "/novosti/vybrat-gosnomer-dlya-avto-po-svoemu-zhelaniyu-teper-mozhno-onlajn-v-kazahstane",
)


def until(condition: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.1) -> Any:
    """Wait for ``condition`` to hold (its value), failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return value


class Books:
    """The module's cluster; ``begin`` gives each test a fresh database and store."""

    def __init__(self, tmp: Path, redis_server: RedisServer, mirror: MirrorServer) -> None:
        self.tmp = tmp
        self.redis = redis_server
        self.client = redis_server.client()
        self.mirror = mirror
        settings = ("-s", f"INFORMBURO_WORKER_TTL={TTL}", "-s", "DOWNLOAD_DELAY=0.2")
        self.cluster = Cluster(tmp, redis_server.url, tmp / "unused.db", mirror.url, *settings)
        for n in (1, 2):
            self.cluster.start(f"worker-{n}", "worker")
        until(lambda: len(self.heartbeats()) == 2, "two workers' heartbeats")

    def begin(self, name: str, faults: dict[str, str]) -> Path:
        """A new database with its own store process; the mirror's faults; nothing known to the workers."""
        old = self.cluster.processes.get("store")
        if old is not None:
            old.send_signal(signal.SIGTERM)
            old.wait(timeout=30)
        db = self.tmp / f"{name}.db"
        self.cluster.common[self.cluster.common.index("--db") + 1] = str(db)
        self.client.delete(KEYS.known, KEYS.store)  # the old store's heartbeat outlives it by 30 s
        self.mirror.site.faults.clear()
        self.mirror.site.faults.update(faults)
        self.cluster.start("store", "store")  # its log is per database: store.log is rewritten
        until(lambda: self.client.exists(KEYS.store), "the store's heartbeat")
        return db

    def heartbeats(self) -> dict[str, dict[str, Any]]:
        found = {}
        for key in self.client.scan_iter(match=KEYS.of("worker", "*")):
            value = self.client.get(key)
            if value:
                state = json.loads(value)
                found[state["id"]] = state
        return found

    def log(self, name: str, since: int = 0) -> str:
        return self.cluster.log(name)[since:]

    def stop(self) -> None:
        self.cluster.stop_all()


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    tmp = tmp_path_factory.mktemp("books")
    redis_server = RedisServer(tmp / "redis").start()
    mirror = MirrorServer(Site.default()).start()
    books = None
    try:
        books = Books(tmp, redis_server, mirror)
        yield books
    finally:
        if books is not None:
            books.stop()
            for process in books.cluster.processes.values():
                ended_quietly(process)
        mirror.stop()
        redis_server.stop()


def requests_since(mirror: MirrorServer, start: int) -> list[str]:
    """The pages the mirror served since its ``start``-th request (robots.txt: once per worker, by design)."""
    return [path for path in mirror.paths()[start:] if path != "/robots.txt"]


def twice(paths: list[str]) -> dict[str, int]:
    return {path: n for path, n in Counter(paths).items() if n > 1}


def test_an_idle_worker_logs_an_outage_once_and_the_recovery_once(books: Books) -> None:
    """An idle worker has nothing to send: it must not take its empty queue of owed steps for a
    sign that Redis is back (``flush``), and so say "unavailable" and "back" once a second."""
    books.begin("idle", {})
    names = ("worker-1", "worker-2", "store")
    offsets = {name: len(books.log(name)) for name in names}
    books.redis.stop()
    until(lambda: all("Redis unavailable" in books.log(n, offsets[n]) for n in names[:2]), "workers to see it")
    time.sleep(4)  # the outage: a few of the workers' one-second ticks
    books.redis.start()
    until(lambda: len(books.heartbeats()) == 2, "both workers to beat again")
    until(lambda: all("Redis is back" in books.log(n, offsets[n]) for n in names), "every process to say so")
    for name in names:
        log = books.log(name, offsets[name])
        assert log.count("Redis unavailable") == 1, f"{name}:\n{log}"
        assert log.count("Redis is back") == 1, f"{name}:\n{log}"
        assert log.index("Redis unavailable") < log.index("Redis is back")


def test_a_redis_outage_while_workers_hold_fetched_pages_costs_no_refetch(books: Books) -> None:
    """Redis goes away while the feed (slow) and article pages are in the workers' hands, for longer
    than their heartbeats live: what they held is delivered once when it is back, the feed's links
    found during the outage are filtered then, and nobody takes a live worker's pages for a dead one's."""
    faults = {RSS_PATH: "slow", **dict.fromkeys(EARLY_PAGES, "slow")}
    db = books.begin("outage", faults)
    start = len(books.mirror.paths())
    seed = books.cluster.seed()
    until(lambda: any(p == RSS_PATH for p in books.mirror.paths()[start:]), "the feed to be requested", every=0.02)
    books.redis.stop()
    outage = time.monotonic()
    # the slow feed answers during the outage; the heartbeats (TTL 4 s) expire before Redis is back
    until(lambda: time.monotonic() - outage > SLOW_SECONDS + TTL + 1, "the outage to last", every=0.2)
    books.redis.start()
    run = run_done(db, seed)
    fetched = requests_since(books.mirror, start)
    logs = books.log("worker-1") + books.log("worker-2")
    assert twice(fetched) == {}, logs
    assert "stopped answering" not in logs
    assert run["status"] == "ok"
    stored = {t: len(rows(db, f"SELECT 1 FROM {t}")) for t in ("articles", "most_read", "rates")}
    rejected = rows(db, "SELECT count(*) AS n FROM rejects WHERE item LIKE '%\"body\"%'")[0]["n"]  # article pages
    assert run["items_stored"] == sum(stored.values()), (run, stored)
    assert run["article_pages"] == stored["articles"] + rejected, (run, stored)
    assert run["pages"] == len(fetched) + 1, (run, fetched)  # + the draft robots.txt forbids: a lease, no fetch
    assert stored["articles"] >= 15 and "Redis is back" in logs


def test_a_run_closes_with_its_last_lease_and_shows_its_totals_while_open(books: Books, capsys: Any) -> None:
    """The run's last pages are slow (3 s). While they are fetched the run is open, and its row and
    ``informburo status`` show its totals so far; it closes only when they are in, and at that moment
    the workers' own books (heartbeats) agree with the run's: nothing in flight, the same pages. A copy
    of a page that reaches the store after the run closed changes nothing."""
    db = books.begin("slow", dict.fromkeys(LAST_PAGES, "slow"))
    before = {worker: state["pages"] for worker, state in books.heartbeats().items()}
    start = len(books.mirror.paths())
    seed = books.cluster.seed()
    until(lambda: any(p in LAST_PAGES for p in books.mirror.paths()[start:]), "a last page", every=0.02)
    # a slow page is in a worker's hands for 3 s: the run cannot close before it is in
    assert books.client.hexists(KEYS.runs, seed)
    sql = f"SELECT status, pages, items_stored FROM crawl_runs WHERE seed = '{seed}'"
    [row] = wait_for(db, sql, lambda found: found and (found[0]["pages"] > 0 or found[0]["status"] != "running"))
    assert row["status"] == "running" and row["pages"] > 0 and row["items_stored"] > 0, row
    capsys.readouterr()
    assert main(["status", "--db", str(db), "--redis-url", books.redis.url]) == 0
    status = capsys.readouterr().out
    assert f"open run {seed}" in status and "stored so far" in status, status
    # the moment the last lease is closed (the run leaves Redis' open runs), the books agree
    until(lambda: not books.client.hexists(KEYS.runs, seed), "the last lease", timeout=120, every=0.01)
    at_close = books.heartbeats()
    run = run_done(db, seed)
    assert run["status"] == "ok"
    assert {w: s["in_flight"] for w, s in at_close.items()} == dict.fromkeys(at_close, 0), at_close
    assert sum(s["pages"] - before.get(w, 0) for w, s in at_close.items()) == run["pages"], (at_close, run)
    assert not list(books.client.scan_iter(match=KEYS.of("pending", "*")))
    assert all(books.client.hlen(k) == 0 for k in books.client.scan_iter(match=KEYS.of("inflight", "*")))
    # a page delivered again after the run closed (a worker's copy of a lease taken back) is not stored
    late = PageError(books.mirror.url + LAST_PAGES[0], "fetch", "HTTP 500", 500, "2026-01-15T12:00:00+05:00")
    books.client.rpush(KEYS.items, item_envelope(late, seed, False), envelope("done", seed, url=late.url, status=500))
    until(lambda: not books.client.llen(KEYS.items) and not books.client.llen(KEYS.storing), "the store to take it")
    until(lambda: "not stored" in books.log("store") or "stored under" in books.log("store"), "the store to say so")
    assert rows(db, f"SELECT * FROM crawl_runs WHERE seed = '{seed}'") == [run]
    assert not rows(db, "SELECT 1 FROM crawl_errors WHERE reason = 'HTTP 500'")
    assert twice(requests_since(books.mirror, start)) == {}


def test_the_store_keeps_running_totals_across_a_restart_and_stores_nothing_into_a_closed_run(tmp_path: Path) -> None:
    """A store restarted mid-run goes on from the totals in the run's row, not from 0; once the run
    is closed, a late message of it adds no row and no count."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        run_across_a_restart(tmp_path / "restart.db", server.client(), Keys())
    finally:
        server.stop()


def run_across_a_restart(db: Path, client: Any, keys: Keys) -> None:
    from jobs.drain import Drain

    client.hset(keys.runs, "r1", json.dumps({"job": None, "parts": ["articles"]}))
    error = PageError("http://x/novosti/a", "fetch", "HTTP 404", 404, "2026-01-15T12:00:00+05:00")
    late = PageError("http://x/novosti/b", "fetch", "HTTP 500", 500, "2026-01-15T12:00:00+05:00")
    started = envelope("run_started", "r1", job=None, parts=["articles"], at="2026-01-15T12:00:00+05:00")

    def page(n: int) -> list[str]:
        return [envelope("done", "r1", url=f"http://x/novosti/{n}", status=200)]

    client.rpush(keys.items, started, *page(1), *page(2))
    assert Drain(db, client, keys).step() == 3
    assert rows(db, "SELECT status, pages FROM crawl_runs") == [{"status": "running", "pages": 2}]
    client.rpush(keys.items, *page(3), item_envelope(error, "r1", False))
    assert Drain(db, client, keys).step() == 2  # a new store process
    assert rows(db, "SELECT status, pages, errors FROM crawl_runs") == [{"status": "running", "pages": 3, "errors": 1}]
    client.hdel(keys.runs, "r1")
    client.rpush(
        keys.items, *page(4), envelope("run_finished", "r1", at="t"), *page(5), item_envelope(late, "r1", True)
    )
    drain = Drain(db, client, keys)
    assert drain.step() == 4
    closed = rows(db, "SELECT * FROM crawl_runs")
    assert [(r["status"], r["pages"], r["errors"]) for r in closed] == [("ok", 4, 1)]
    client.rpush(keys.items, *page(6))
    assert drain.step() == 1
    assert rows(db, "SELECT * FROM crawl_runs") == closed and len(rows(db, "SELECT * FROM crawl_errors")) == 1
