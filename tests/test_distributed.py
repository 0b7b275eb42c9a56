"""Distributed mode: workers sharing a Redis frontier, one store process, one database.

Each test marked ``redis`` starts its own ``redis-server`` (Debian's, installed by .ci/run) on 127.0.0.1 with
a free port and a temporary directory, and the workers and store as real ``informburo``
processes, as docs/distributed.md tells a user to.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Config
from crawler.distributed import Keys, item_envelope, item_from_envelope
from crawler.items import Article, PageError
from mirror.redis_server import RedisServer
from mirror.server import MirrorServer
from mirror.site import Site
from scheduler import crawl_command
from tests.conftest import FAST, ROOT, crawl, daemon_config, informburo, rows, wait_for
from tests.test_faults import article_table

DISALLOWED = "/stati/redakcionnyj-chernovik"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """For tests marked ``redis``, which skip on a machine without redis-server (tests/conftest.py)."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


class Cluster:
    """Workers and a store process on one machine, logging into files for the failure report."""

    def __init__(self, tmp_path: Path, redis_url: str, db: Path, base_url: str, *settings: str) -> None:
        self.tmp_path = tmp_path
        self.common = ["--redis-url", redis_url, "--db", str(db), "--base-url", base_url, *FAST, "-s", "LOG_LEVEL=INFO"]
        self.common += settings
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", command, *self.common], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.processes[name] = process
        return process

    def seed(self, *extra: str) -> str:
        result = informburo("seed", *self.common, *extra)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()[2].rstrip(":")

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            ended_quietly(process)


def ended_quietly(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def run_done(db: Path, seed: str, timeout: float = 120) -> dict:
    sql = f"SELECT * FROM crawl_runs WHERE seed = '{seed}'"
    return wait_for(db, sql, lambda found: found and found[0]["status"] != "running", timeout)[0]


def content(db: Path) -> dict[str, list[tuple]]:
    """What a crawl collected, without run ids, times or the mirror's port."""
    path = "substr({0}, instr(substr({0}, 8), '/') + 7)"
    return {
        "articles": article_table(db),
        "versions": [tuple(r.values()) for r in rows(db, f"SELECT {path.format('url')} AS p, content_hash, title"
                                                         " FROM article_versions ORDER BY p")],
        "most_read": [tuple(r.values()) for r in rows(db, f"SELECT rank, emoji, title, {path.format('url')}, views,"
                                                          " comments, reactions FROM most_read ORDER BY rank")],
        "rates": [tuple(r.values()) for r in rows(db, "SELECT currency, buy, sell FROM rates ORDER BY currency")],
        "errors": [tuple(r.values()) for r in rows(db, f"SELECT {path.format('url')} AS p, stage, reason"
                                                       " FROM crawl_errors ORDER BY p")],
        "rejects": [tuple(r.values()) for r in rows(db, "SELECT field, reason FROM rejects ORDER BY field")],
    }  # fmt: skip


@pytest.fixture
def reference(tmp_path: Path, site: Site) -> dict[str, list[tuple]]:
    """The same mirror collected by one ordinary single-process crawl."""
    db = tmp_path / "reference.db"
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url)
        assert result.returncode == 0, result.stderr
    return content(db)


def fetched_twice(mirror: MirrorServer) -> dict[str, int]:
    """Pages the server served more than once (robots.txt is read once by each worker, by design)."""
    counts = Counter(p for p in mirror.paths() if p != "/robots.txt")
    return {path: n for path, n in counts.items() if n > 1}


@pytest.mark.redis
@pytest.mark.slow
def test_two_workers_and_a_store_collect_what_one_process_does(
    tmp_path: Path, site: Site, redis_server: RedisServer, reference: dict
) -> None:
    db = tmp_path / "distributed.db"
    with MirrorServer(site) as mirror:
        cluster = Cluster(
            tmp_path, redis_server.url, db, mirror.url, "-s", "DOWNLOAD_DELAY=0.3", "-s", "CONCURRENT_REQUESTS=2"
        )
        try:
            workers = [cluster.start("worker-1", "worker"), cluster.start("worker-2", "worker")]
            cluster.start("store", "store")
            keys = Keys()
            client = redis_server.client()
            deadline = time.monotonic() + 60
            while len(list(client.scan_iter(match=keys.of("worker", "*")))) < 2:
                assert time.monotonic() < deadline, cluster.log("worker-1") + cluster.log("worker-2")
                time.sleep(0.2)
            seed = cluster.seed()
            run = run_done(db, seed)
            status = informburo("status", "--db", str(db), "--redis-url", redis_server.url)
        finally:
            cluster.stop_all()
        assert all(w.returncode == 0 for w in workers), cluster.log("worker-1")
        assert run["status"] == "ok"
        assert content(db) == reference
        assert fetched_twice(mirror) == {}
        assert not any(p.startswith(DISALLOWED) for p in mirror.paths())  # robots.txt obeyed by every worker
    assert status.returncode == 0
    assert "2 active workers" in status.stdout and "0 items waiting to be stored" in status.stdout
    pages = [int(re.search(r"stopping after (\d+) pages", cluster.log(w))[1]) for w in ("worker-1", "worker-2")]
    assert sum(pages) == run["pages"] and min(pages) > 0  # both shared the work
    # a clean stop leaves nothing leased and no heartbeat behind
    assert not list(client.scan_iter(match=keys.of("inflight", "*")))
    assert not list(client.scan_iter(match=keys.of("worker", "*")))
    # a second seed: every article is known now, so only the listing, feed and home are fetched
    assert client.scard(keys.known) == len(reference["articles"])


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_killed_mid_crawl_loses_nothing(
    tmp_path: Path, site: Site, redis_server: RedisServer, reference: dict
) -> None:
    db = tmp_path / "distributed.db"
    slow = ("-s", "DOWNLOAD_DELAY=0.4", "-s", "INFORMBURO_WORKER_TTL=3")
    keys = Keys()
    client = redis_server.client()
    with MirrorServer(site) as mirror:
        cluster = Cluster(tmp_path, redis_server.url, db, mirror.url, *slow)
        try:
            victim = cluster.start("victim", "worker")
            deadline = time.monotonic() + 60
            while not list(client.scan_iter(match=keys.of("worker", f"*:{victim.pid}:*"))):
                assert time.monotonic() < deadline, cluster.log("victim")
                time.sleep(0.2)
            cluster.start("store", "store")
            seed = cluster.seed()
            # kill it while it holds leased requests and the run is under way
            deadline = time.monotonic() + 60
            while not any(client.hlen(k) >= 3 for k in client.scan_iter(match=keys.of("inflight", "*"))):
                assert time.monotonic() < deadline, cluster.log("victim")
                time.sleep(0.05)
            held = sum(client.hlen(k) for k in client.scan_iter(match=keys.of("inflight", "*")))
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            survivor = cluster.start("survivor", "worker")
            run = run_done(db, seed)
        finally:
            cluster.stop_all()
        assert survivor.returncode == 0
        assert "stopped answering: put its" in cluster.log("survivor")
        assert held >= 3
        assert run["status"] == "ok"
        assert content(db) == reference  # nothing lost, nothing stored twice
        # pages the victim had in flight may be fetched again; none more than twice
        assert all(n == 2 for n in fetched_twice(mirror).values())


@pytest.mark.redis
@pytest.mark.slow
def test_redis_restarted_during_a_run(tmp_path: Path, site: Site, redis_server: RedisServer, reference: dict) -> None:
    db = tmp_path / "distributed.db"
    with MirrorServer(site) as mirror:
        cluster = Cluster(tmp_path, redis_server.url, db, mirror.url, "-s", "DOWNLOAD_DELAY=0.3")
        try:
            cluster.start("worker-1", "worker")
            cluster.start("worker-2", "worker")
            cluster.start("store", "store")
            time.sleep(3)
            seed = cluster.seed()
            wait_for(db, "SELECT url FROM articles", lambda found: len(found) >= 2, timeout=60)
            redis_server.stop()
            time.sleep(3)
            redis_server.start()
            run = run_done(db, seed)
        finally:
            cluster.stop_all()
    assert run["status"] == "ok"
    assert content(db) == reference
    logs = cluster.log("worker-1") + cluster.log("worker-2") + cluster.log("store")
    assert "Redis unavailable" in logs and "Redis is back" in logs


@pytest.mark.redis
@pytest.mark.slow
def test_seeding_a_job_whose_run_is_open_waits_for_it(tmp_path: Path, redis_server: RedisServer) -> None:
    db = tmp_path / "distributed.db"
    cluster = Cluster(tmp_path, redis_server.url, db, "http://127.0.0.1:9", "-s", "INFORMBURO_JOB=rates")
    first = informburo("seed", *cluster.common, "--only", "rates")
    again = informburo("seed", *cluster.common, "--only", "rates")
    other = informburo("seed", *cluster.common[:-2], "-s", "INFORMBURO_JOB=most_read", "--only", "most_read")
    assert first.returncode == again.returncode == other.returncode == 0
    assert "seeded run" in first.stdout and "still open" in again.stdout and "seeded run" in other.stdout
    assert redis_server.client().llen(Keys().seeds) == 2
    status = informburo("status", "--db", str(db), "--redis-url", redis_server.url)
    assert "2 seeds waiting" in status.stdout and "0 active workers" in status.stdout
    assert "store: not running" in status.stdout


@pytest.mark.slow
def test_without_redis_the_commands_say_so(tmp_path: Path) -> None:
    db = tmp_path / "distributed.db"
    assert crawl(db, "http://127.0.0.1:9", "-s", "RETRY_TIMES=0").returncode == 1  # a database with a run in it
    dead = "redis://127.0.0.1:9/0"
    status = informburo("status", "--db", str(db), "--redis-url", dead)
    assert status.returncode == 0 and "Redis unavailable" in status.stdout
    seed = informburo("seed", "--db", str(db), "--redis-url", dead)
    assert seed.returncode == 1 and "Redis unavailable, nothing seeded" in seed.stderr
    off = informburo("worker", "--db", str(db))
    assert off.returncode == 2 and "distributed mode is off" in off.stderr
    # a config without redis_url: status is the single-machine one
    plain = informburo("status", "--db", str(db), "--config", str(ROOT / "config" / "informburo.toml"))
    assert plain.returncode == 0 and "distributed:" not in plain.stdout and "failed" in plain.stdout


def test_the_daemon_seeds_instead_of_crawling_when_distributed() -> None:
    single = crawl_command(Config(), "rates", "rates")
    distributed = crawl_command(Config(redis_url="redis://example:6379/0"), "rates", "rates")
    assert single[3] == "crawl" and distributed[3] == "seed"
    assert "INFORMBURO_REDIS_URL=redis://example:6379/0" in distributed
    assert "INFORMBURO_JOB=rates" in distributed and "--only" in distributed


def test_an_item_survives_the_trip_through_redis() -> None:
    article = Article(url="https://informburo.kz/novosti/x", title="«Тест» 🥩", body=["а", "б"], tags=["t"])
    article.sources = {"title": "site"}
    article.http = {"url": "https://informburo.kz/novosti/x", "etag": '"1"', "last_modified": None}
    error = PageError("https://informburo.kz/", "fetch", "HTTP 500", 500, "2026-01-01T00:00:00+05:00")
    for item in (article, error):
        assert item_from_envelope(json.loads(item_envelope(item, "r1", False))) == item
    with pytest.raises(ValueError, match="unknown item type"):
        item_from_envelope({"type": "Nope", "item": {}})


@pytest.mark.slow
def test_a_worker_waits_for_redis_and_keeps_its_password_out_of_the_log(tmp_path: Path) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--redis-url", "redis://:s3cret@127.0.0.1:9/0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True)
    reader.start()
    # Signal only once it is retrying: a fixed sleep raced the imports on a loaded machine (SIGTERM before
    # the handler was installed ends the process with -15, which is not what this test is about).
    deadline = time.monotonic() + 60
    while not any("retrying in" in line for line in lines) and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    reader.join(timeout=10)
    worker.stdout.close()
    output = "".join(lines)
    assert worker.returncode == 0, output
    assert "Redis at redis://:***@127.0.0.1:9/0 unavailable" in output and "retrying in" in output
    assert "s3cret" not in output


def raw_items(name: str) -> list:
    """The raw items of a saved page, as a worker would push them (before normalisation)."""
    from crawler.pages import parse_article, parse_most_read, parse_rates
    from crawler.pages.base import as_selector

    pages = ROOT / "tests" / "fixtures" / "pages"
    url = json.loads((pages / f"{name}.json").read_text(encoding="utf-8"))["url"]
    selector = as_selector((pages / f"{name}.html").read_bytes())
    at = "2026-01-15T12:00:00+05:00"
    items = [
        parse_article(selector, url, at, None),
        *parse_most_read(selector, url, at),
        *parse_rates(selector, url, at),
    ]
    return [*items, PageError(url + "-gone", "fetch", "HTTP 404", 404, at)]


@pytest.mark.redis
def test_the_store_is_idempotent_when_messages_are_replayed(tmp_path: Path, redis_server: RedisServer) -> None:
    from crawler.distributed import envelope
    from jobs.drain import Drain

    db = tmp_path / "distributed.db"
    client, keys = redis_server.client(), Keys()
    messages = [envelope("run_started", "r1", job=None, parts=["articles", "most_read", "rates"], at="t")]
    items = raw_items("article-jsonld-date")
    messages += [item_envelope(item, "r1", False) for item in items]
    messages += [envelope("done", "r1", url="u", status=200)]
    client.hset(keys.runs, "r1", json.dumps({"job": None, "parts": ["articles"]}))
    client.rpush(keys.items, *messages)
    drain = Drain(db, client, keys)
    assert drain.step() == len(messages)
    tables = ("articles", "article_versions", "article_views", "most_read", "rates", "crawl_errors", "rejects")
    first = {t: rows(db, f"SELECT * FROM {t}") for t in tables}
    kinds = Counter(type(item).__name__ for item in items)
    assert kinds["MostReadEntry"] >= 3 and kinds["RateQuote"] >= 3
    assert len(first["articles"]) == 1 and len(first["crawl_errors"]) == 1
    assert (len(first["most_read"]), len(first["rates"])) == (kinds["MostReadEntry"], kinds["RateQuote"])
    # a store killed after its commit replays the batch it left in `storing`; a worker whose
    # lease was taken back pushes the same items again: neither adds a row
    client.rpush(keys.storing, *messages[1:])
    assert drain.step() == len(messages) - 1
    client.rpush(keys.items, *messages[1:], envelope("run_finished", "r1", at="t"))
    assert drain.step() == len(messages)
    assert {t: rows(db, f"SELECT * FROM {t}") for t in tables} == first
    run = rows(db, "SELECT * FROM crawl_runs")
    assert [(r["status"], r["seed"]) for r in run] == [("ok", "r1")]
    assert client.scard(keys.known) == 1  # the stored article, for the workers' known-URL test
    # a replayed run_finished neither reopens nor recounts the run
    client.rpush(keys.items, envelope("run_finished", "r1", at="t"))
    assert drain.step() == 1
    assert rows(db, "SELECT * FROM crawl_runs") == run


@pytest.mark.redis
@pytest.mark.slow
def test_the_daemon_seeds_the_shared_queue_on_its_schedule(tmp_path: Path, redis_server: RedisServer) -> None:
    from tests.conftest import start_daemon, stop

    db = tmp_path / "distributed.db"
    config = daemon_config(
        tmp_path / "informburo.toml",
        db=db,
        base_url="http://127.0.0.1:9",
        log_file="",
        redis_url=redis_server.url,
        jobs={"rates": {"task": "rates", "trigger": "interval", "seconds": 2}},
    )
    daemon = start_daemon(config)
    client = redis_server.client()
    try:
        deadline = time.monotonic() + 60
        while client.llen(Keys().seeds) < 1:
            assert time.monotonic() < deadline, "the daemon did not seed"
            time.sleep(0.2)
        time.sleep(5)  # two more fire times: no worker takes the run, so they are not stacked
    finally:
        output = stop(daemon)
    assert daemon.returncode == 0
    seeds = [json.loads(s) for s in client.lrange(Keys().seeds, 0, -1)]
    assert [s["parts"] for s in seeds] == [["rates"]]
    assert "its previous run is still open" in output
    assert json.loads(client.hget(Keys().runs, seeds[0]["run"]))["job"] == "rates"


@pytest.mark.redis
@pytest.mark.slow
def test_a_seeded_backfill_walks_as_backfill_does(tmp_path: Path, redis_server: RedisServer) -> None:
    db = tmp_path / "distributed.db"
    common = [
        "--redis-url",
        redis_server.url,
        "--db",
        str(db),
        "--base-url",
        "http://127.0.0.1:9",
        "--only",
        "articles",
    ]
    said = []
    for extra in ([], ["--max-pages", "7"], ["--pages", "50"], ["--until", "2025-01-01"], ["--sitemaps"]):
        result = informburo("seed", *common, *extra)
        assert result.returncode == 0, result.stderr
        said.append(result.stdout.split(": ", 1)[1].strip())
    assert said == [  # the walk in words, not a Python dict
        "articles of http://127.0.0.1:9; walks the listing up to 3 pages, stopping at a page of stored articles",
        "articles of http://127.0.0.1:9; walks the listing up to 7 pages, stopping at a page of stored articles",
        "articles of http://127.0.0.1:9; walks the listing up to 50 pages",
        "articles of http://127.0.0.1:9; walks the listing back to 2025-01-01",
        "articles of http://127.0.0.1:9; walks the sitemaps to their end",
    ]
    walks = [json.loads(s)["walk"] for s in redis_server.client().lrange(Keys().seeds, 0, -1)]
    assert walks[0] == {"max_pages": 3, "may_stop_early": True, "until": None}  # an ordinary run
    assert walks[1] == {"max_pages": 7, "may_stop_early": True, "until": None}
    assert walks[2] == {"max_pages": 50, "may_stop_early": False, "until": None}  # never stops at stored pages
    assert walks[3]["may_stop_early"] is False and walks[3]["until"].startswith("2025-01-01")
    assert walks[3]["max_pages"] >= 100_000
    both = informburo("seed", *common, "--pages", "5", "--until", "2025-01-01")
    assert both.returncode == 2 and "not both" in both.stderr


@pytest.mark.redis
def test_an_unreadable_item_is_kept_as_a_reject(tmp_path: Path, redis_server: RedisServer) -> None:
    from crawler.distributed import envelope
    from jobs.drain import Drain

    db = tmp_path / "distributed.db"
    client, keys = redis_server.client(), Keys()
    odd = envelope("item", "r1", type="Headline", item={"title": "x"}, start_page=False)  # a newer worker's item
    client.rpush(keys.items, envelope("run_started", "r1", job=None, parts=["articles"], at="t"), odd)
    assert Drain(db, client, keys).step() == 2
    [reject] = rows(db, "SELECT run_id, url, field, reason, item FROM rejects")
    assert reject["reason"] == "unreadable item: unknown item type 'Headline'"
    assert (reject["url"], reject["field"]) == (None, None) and json.loads(reject["item"]) == json.loads(odd)


@pytest.mark.redis
def test_an_item_message_of_any_fault_is_kept_as_a_reject(tmp_path: Path, redis_server: RedisServer) -> None:
    """Not only TypeError/ValueError: a message missing its item (KeyError) is a reject too, never a crash."""
    from crawler.distributed import envelope
    from jobs.drain import Drain

    db = tmp_path / "distributed.db"
    client, keys = redis_server.client(), Keys()
    hollow = envelope("item", "r1", type="Article", start_page=False)  # no "item" at all
    client.rpush(keys.items, envelope("run_started", "r1", job=None, parts=["articles"], at="t"), hollow)
    assert Drain(db, client, keys).step() == 2
    [reject] = rows(db, "SELECT reason, item FROM rejects")
    assert reject["reason"] == "unreadable item: 'item'" and json.loads(reject["item"]) == json.loads(hollow)
