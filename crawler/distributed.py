"""Distributed mode: crawler workers on any machines share one Redis frontier; one store writes SQLite.

scrapy-redis gives the shared request queue (its ``Scheduler`` and ``PriorityQueue``) and
the shared duplicate filter (``RFPDupeFilter``). On top of them, four things it does not do:

* **Leases.** A worker pops a request *into* its own in-flight hash in one Lua step, and
  removes it only when the request's items are pushed. Its heartbeat key expires when it
  dies; a worker whose heartbeat another has seen gone for a further TTL is dead, and that
  one puts its in-flight requests back on the queue: a killed worker loses nothing, and a
  live one that only lost its heartbeat (a Redis restart) keeps what it holds.
* **Runs.** Each seed (one scheduled job) is a run. Every request carries its run and a
  lease id; the run's open leases are a Redis set. When the last one is closed the run
  is finished, in the same Lua step that pushes that request's items, so the store sees
  ``run_finished`` after every item of the run; a closed run takes no new request.
* **A duplicate filter that waits for Redis.** A request's fingerprint is added to its run's
  set in the step that queues it, so a request made while Redis is away is filtered when
  it comes back, not let through unfiltered.
* **Items with their request.** A callback's items are pushed to ``<prefix>:items`` in the
  step that closes its lease (all or nothing), not by scrapy-redis' ``RedisPipeline``,
  which pushes from a thread after the request is done and could lose or repeat items
  when a worker is killed. That step, and the one that leases a request, also refresh the
  worker's heartbeat, so ``informburo status`` never shows a run closed while a worker still
  counts pages for it.

Keys, under ``INFORMBURO_REDIS_PREFIX`` (``informburo``): ``requests`` (zset, the queue),
``seeds`` (list), ``items`` and ``storing`` (lists, the store's input), ``runs`` (hash run →
seed), ``pending:<run>`` (set of open leases), ``dupefilter:<run>`` (set of fingerprints),
``known`` (set of stored article URLs), ``worker:<id>`` (heartbeat, with a TTL),
``inflight:<id>`` (hash encoded request → score or ``seed``), ``store`` (the store's heartbeat).
docs/distributed.md explains how to run it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from core.clock import now_kz
from core.plan import RunPlan
from crawler.items import Article, MostReadEntry, PageError, RateQuote, Unchanged

logger = logging.getLogger(__name__)

ITEM_CLASSES = {cls.__name__: cls for cls in (Article, MostReadEntry, RateQuote, PageError, Unchanged)}
#: What Redis connection errors look like from redis-py (a restart, a network cut).
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one deployment (one site, one database), under one prefix."""

    prefix: str = "informburo"

    def __getattr__(self, name: str) -> str:  # keys.items → "informburo:items"
        if name.startswith("_"):
            raise AttributeError(name)
        return f"{self.prefix}:{name}"

    def of(self, kind: str, name: str) -> str:  # keys.of("pending", "r5") → "informburo:pending:r5"
        return f"{self.prefix}:{kind}:{name}"


def connect(url: str) -> redis.Redis:
    """A client that fails fast (our callers retry with backoff and say so) and survives restarts.

    No retries inside redis-py: it would send a Lua step again after a reply lost to a restart
    (popping a second request while the first sits leased and forgotten), and its backoff would
    stall a worker's whole event loop while Redis is away.
    """
    return redis.Redis.from_url(
        url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=15, retry=Retry(NoBackoff(), 0)
    )


def keys_of(settings: Any) -> Keys:
    return Keys(settings.get("INFORMBURO_REDIS_PREFIX") or "informburo")


def worker_settings(redis_url: str, prefix: str) -> dict[str, Any]:
    """The Scrapy settings that make a crawl a worker of the shared frontier."""
    return {
        "INFORMBURO_WORKER": True,
        "INFORMBURO_REDIS_URL": redis_url,
        "INFORMBURO_REDIS_PREFIX": prefix,
        "REDIS_URL": redis_url,
        "SCHEDULER": "crawler.distributed.LeasingScheduler",
        "SCHEDULER_QUEUE_CLASS": "crawler.distributed.LeasingQueue",
        "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
        "SCHEDULER_PERSIST": True,  # the queue is shared: a worker that stops must not clear it
        "DUPEFILTER_CLASS": "crawler.distributed.RunDupeFilter",
        "ITEM_PIPELINES": {},  # items go to Redis with their request (Frontier.relay); the store runs the pipelines
        "INFORMBURO_ARCHIVE_ENABLED": False,  # the raw-page archive lives beside the database
        "EXTENSIONS": {"crawler.distributed.WorkerExtension": 500},
    }


# --- Lua: each step is atomic, so a worker killed between two commands leaves no half state ---

#: KEYS: queue, pending set of the run, its duplicate filter, runs. ARGV: score, encoded request, lease,
#: fingerprint ("": not filtered), run. Returns 1 queued, 0 a duplicate, -1 the run is closed (nothing queued).
_PUSH = """
if redis.call('HEXISTS', KEYS[4], ARGV[5]) == 0 then return -1 end
if ARGV[4] ~= '' and redis.call('SADD', KEYS[3], ARGV[4]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""
#: KEYS: queue, this worker's in-flight hash, its heartbeat. ARGV: the heartbeat once it holds the request, its
#: TTL in ms. Returns the encoded request, now leased.
_POP = """
local top = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top == 0 then return false end
redis.call('ZREM', KEYS[1], top[1])
redis.call('HSET', KEYS[2], top[1], top[2])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return top[1]
"""
#: KEYS: seeds, in-flight hash. A seed is leased like a request, marked "seed".
_POP_SEED = """
local seed = redis.call('LPOP', KEYS[1])
if not seed then return false end
redis.call('HSET', KEYS[2], seed, 'seed')
return seed
"""
#: Close a lease. KEYS: in-flight hash, pending set, items, runs, dupefilter of the run, queue, seeds, heartbeat.
#: ARGV: in-flight field, lease, run, run_finished message, heartbeat, its TTL in ms, item messages...
#: A lease a reaper took back while we held it is ours again if it still waits on the queue (or seeds);
#: if another worker has it, -1: nothing is pushed, that worker's copy delivers it. Else how many leases
#: the run has left open.
_DONE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0
   and redis.call('ZREM', KEYS[6], ARGV[1]) == 0 and redis.call('LREM', KEYS[7], 1, ARGV[1]) == 0 then
  return -1
end
for i = 7, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
redis.call('SET', KEYS[8], ARGV[5], 'PX', ARGV[6])
redis.call('SREM', KEYS[2], ARGV[2])
local left = redis.call('SCARD', KEYS[2])
if left == 0 and redis.call('HDEL', KEYS[4], ARGV[3]) == 1 then
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('DEL', KEYS[5])
end
return left
"""
#: KEYS: this worker's in-flight hash, queue, seeds. ARGV: fields it does not hold (a pop whose reply was
#: lost to a restart): put back as a dead worker's are. Returns how many.
_RETURN = """
local moved = 0
for i = 1, #ARGV do
  local score = redis.call('HGET', KEYS[1], ARGV[i])
  if score then
    if score == 'seed' then redis.call('LPUSH', KEYS[3], ARGV[i])
    else redis.call('ZADD', KEYS[2], score, ARGV[i]) end
    redis.call('HDEL', KEYS[1], ARGV[i])
    moved = moved + 1
  end
end
return moved
"""
#: KEYS: a dead worker's in-flight hash, queue, seeds. Puts everything back; returns how many.
_REQUEUE = """
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i + 1] == 'seed' then redis.call('LPUSH', KEYS[3], all[i])
  else redis.call('ZADD', KEYS[2], all[i + 1], all[i]) end
end
redis.call('DEL', KEYS[1])
return #all / 2
"""


def envelope(kind: str, run: str, **fields: Any) -> str:
    """One message on ``<prefix>:items`` (JSON): ``item``, ``done``, ``run_started`` or ``run_finished``."""
    return json.dumps({"kind": kind, "run": run, **fields}, ensure_ascii=False, default=str)


def item_envelope(item: Any, run: str, start_page: bool) -> str:
    return envelope("item", run, type=type(item).__name__, item=asdict(item), start_page=start_page)


def item_from_envelope(message: dict[str, Any]) -> Any:
    """The item a worker pushed, as the same dataclass the single-machine pipelines get."""
    cls = ITEM_CLASSES.get(message.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown item type {message.get('type')!r}")
    return cls(**message["item"])


class RedisSet:
    """``url in known`` against a Redis set: the spider's known-URL test, shared by all workers."""

    def __init__(self, server: redis.Redis, key: str) -> None:
        self.server = server
        self.key = key

    def __contains__(self, value: object) -> bool:
        try:
            return bool(self.server.sismember(self.key, str(value)))
        except REDIS_DOWN:  # unknown, then: fetching a stored article again only re-upserts it
            return False


@dataclass
class Step:
    """A Redis step a worker owes: sent in order, and kept (with what follows it) while Redis is away."""

    name: str  # "push" (queue a request) or "done" (close a lease, push its items)
    keys: list[str]
    args: list[Any]
    items: list[str] = field(default_factory=list)
    page: bool = False  # a done that ends a fetched page: counted once Redis took its items


class Frontier:
    """A worker's side of the shared frontier: leases, heartbeats, seeds and items.

    Attached to the spider as ``spider.frontier``; ``relay`` wraps every callback.
    """

    def __init__(self, crawler: Crawler, server: redis.Redis, keys: Keys) -> None:
        self.crawler = crawler
        self.server = server
        self.keys = keys
        settings = crawler.settings
        self.ttl = settings.getfloat("INFORMBURO_WORKER_TTL", 15.0)
        self.queue_key = settings.get("SCHEDULER_QUEUE_KEY") or keys.requests
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.inflight_key = keys.of("inflight", self.worker_id)
        self.heartbeat_key = keys.of("worker", self.worker_id)
        self.base_url = settings.get("INFORMBURO_BASE_URL", "").rstrip("/")
        self.known = RedisSet(server, keys.known)
        self.leased: dict[str, bytes] = {}  # lease id → the in-flight field it was popped as
        self.unsent: list[Step] = []  # Redis steps not yet taken, sent in order
        self.pages = 0  # pages whose items Redis took (what the store counts for the run)
        self.started = now_kz()
        self.redis_down_since: float | None = None
        self.missing: dict[str, float] = {}  # the reaper's watch: worker → when first seen without heartbeat
        self.check_inflight = False  # after an outage: a pop's reply may have been lost with its request
        self._push = server.register_script(_PUSH)
        self._pop = server.register_script(_POP)
        self._pop_seed = server.register_script(_POP_SEED)
        self._done = server.register_script(_DONE)
        self._return = server.register_script(_RETURN)
        self._requeue = server.register_script(_REQUEUE)
        self._last_beat = 0.0
        self._last_reap = 0.0

    # --- Redis trouble: say so once, retry, say when it is back ---

    def redis_failed(self, exc: Exception) -> None:
        self.missing.clear()  # a worker seen without heartbeat may have been cut off as we were: watch anew
        self.check_inflight = True
        if self.redis_down_since is None:
            self.redis_down_since = time.monotonic()
            logger.error("Redis unavailable (%s): holding results and retrying every second", exc)

    def redis_ok(self) -> None:
        """Called after a Redis call that went through, never on a guess: the recovery is logged once, when true."""
        if self.redis_down_since is not None:
            logger.warning("Redis is back after %.0f s; resuming", time.monotonic() - self.redis_down_since)
            self.redis_down_since = None

    # --- the queue ---

    def push(self, queue_key: str, score: float, data: bytes, run: str, lease: str, fingerprint: str = "") -> None:
        """Queue a request under its run, unless the run's filter has its ``fingerprint`` ("": never filtered)."""
        keys = [queue_key, self.keys.of("pending", run), self.keys.of("dupefilter", run), self.keys.runs]
        self._call(Step("push", keys, [score, data, lease, fingerprint, run]))

    def pop(self, queue_key: str) -> bytes | None:
        if self.unsent or self.redis_down_since is not None:
            return None  # recover in tick() first: finish what is owed before taking more
        beat = json.dumps(self.state(in_flight=len(self.leased) + 1))  # what status shows once we hold it
        try:
            data = self._pop(keys=[queue_key, self.inflight_key, self.heartbeat_key], args=[beat, int(self.ttl * 1000)])
        except REDIS_DOWN as exc:
            self.redis_failed(exc)
            return None
        self.redis_ok()
        return data or None

    def queued(self, queue_key: str) -> int:
        try:
            return int(self.server.zcard(queue_key))
        except REDIS_DOWN as exc:
            self.redis_failed(exc)
            return 0

    # --- leases ---

    def close_lease(self, lease: str, run: str, items: Iterable[str] = (), *, page: bool = False) -> None:
        """Push a request's items and close its lease, in one step; retried while Redis is away."""
        popped_as = self.leased.pop(lease, None)
        if popped_as is None:  # closed already: a second close must not push its items again
            logger.warning("Lease %s of run %s closed twice: the second time is ignored", lease, run)
            return
        finished = envelope("run_finished", run, at=now_kz())
        keys = [self.inflight_key, self.keys.of("pending", run), self.keys.items, self.keys.runs]
        keys += [self.keys.of("dupefilter", run), self.queue_key, self.keys.seeds, self.heartbeat_key]
        self._call(Step("done", keys, [popped_as, lease, run, finished], list(items), page))

    def _call(self, step: Step) -> None:
        self.unsent.append(step)
        self.flush()

    def flush(self) -> bool:
        """Send the Redis steps owed, in order; False while Redis is away.

        Only a step that went through says Redis is back: with nothing to send, nothing is known.
        """
        sent = False
        while self.unsent:
            step = self.unsent[0]
            try:
                if step.name == "push":
                    result = self._push(keys=step.keys, args=step.args)
                else:  # the heartbeat as it is once this step is taken, written in the same step
                    owed = sum(1 for s in self.unsent if s.name == "done") - 1
                    beat = self.state(pages=self.pages + step.page, in_flight=len(self.leased) + owed)
                    args = [*step.args, json.dumps(beat), int(self.ttl * 1000), *step.items]
                    result = self._done(keys=step.keys, args=args)
            except REDIS_DOWN as exc:
                self.redis_failed(exc)
                return False
            self.unsent.pop(0)
            sent = True
            self._taken(step, int(result))
        if sent:
            self.redis_ok()
        return True

    def _taken(self, step: Step, result: int) -> None:
        run = step.args[4] if step.name == "push" else step.args[2]
        if step.name == "push" and result == -1:
            logger.warning("Run %s is closed: a request of it was not queued", run)
        elif step.name == "push" and result == 0:
            logger.debug("Filtered a duplicate request of run %s", run)
        elif step.name == "done" and result == -1:
            logger.warning("A lease of run %s was taken back and another worker has it: its copy pushes the items", run)
        elif step.name == "done" and step.page:
            self.pages += 1

    # --- callbacks ---

    def relay(self, request: Request | None, output: Iterable[Any] | None, status: int | None) -> list[Any]:
        """Run a callback to its end in a worker: its requests are queued (stamped with the run) as
        they come, its items pushed to Redis at the end, in the step that closes the request's lease.
        Nothing is left for Scrapy to handle, so it gets an empty list.

        The requests are queued here, not returned: Scrapy drains a callback's output ahead of
        scheduling it, and a lease closed before its children were queued could end the run early.
        """
        run = request.meta.get("run") if request is not None else None
        start_page = bool(request is not None and request.meta.get("start_page"))
        items: list[str] = []
        try:
            for result in output or ():
                if isinstance(result, Request):
                    result.meta.setdefault("run", run)
                    if request is not None and result.meta.get("lease") == request.meta.get("lease"):
                        del result.meta["lease"]  # a child made with its parent's meta supersedes no lease
                    self.crawler.engine.crawl(result)
                elif run is not None:
                    items.append(item_envelope(result, run, start_page))
        except Exception as exc:  # the callback broke: record it, as the single-machine store does
            if request is not None and run is not None:
                reason = f"{type(exc).__name__}: {exc}"
                error = PageError(request.url, "parse", reason, None, now_kz())
                items.append(item_envelope(error, run, start_page))
            raise
        finally:
            if request is not None and run is not None and "lease" in request.meta:
                items.append(envelope("done", run, url=request.url, status=status))
                self.close_lease(request.meta["lease"], run, items, page=True)
        return []

    # --- seeds, heartbeat, reaper: every second from the worker's loop ---

    def tick(self) -> None:
        if not self.flush():
            return
        now = time.monotonic()
        try:
            if self.check_inflight:
                self.return_lost()
            if now - self._last_beat >= self.ttl / 3:
                self.beat()
                self._last_beat = now
            if now - self._last_reap >= self.ttl / 3:
                self.reap()
                self._last_reap = now
            engine = self.crawler.engine
            if engine is not None and engine.spider_is_idle():
                self.take_seed()
            if engine is not None and self.server.zcard(self.queue_key):
                nextcall = getattr(getattr(engine, "_slot", None), "nextcall", None)
                if nextcall is not None:  # wake the engine now rather than at its 5 s heartbeat
                    nextcall.schedule()
        except REDIS_DOWN as exc:
            self.redis_failed(exc)
            return
        self.redis_ok()

    def state(self, *, pages: int | None = None, in_flight: int | None = None) -> dict[str, Any]:
        """The heartbeat: what ``informburo status`` shows of this worker."""
        owed = sum(1 for step in self.unsent if step.name == "done")
        state = {"id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(), "started": self.started}
        state["pages"] = self.pages if pages is None else pages
        state["in_flight"] = len(self.leased) + owed if in_flight is None else in_flight
        return state | {"seen": now_kz()}

    def beat(self) -> None:
        self.server.set(self.heartbeat_key, json.dumps(self.state()), px=int(self.ttl * 1000))

    def return_lost(self) -> int:
        """Put back what our in-flight hash holds that we do not: a pop that went through while its
        reply was lost to a Redis restart. Called when nothing is owed, between two pops."""
        held = set(self.leased.values())
        lost = [name for name in self.server.hkeys(self.inflight_key) if name not in held]
        moved = int(self._return(keys=[self.inflight_key, self.queue_key, self.keys.seeds], args=lost)) if lost else 0
        if moved:
            logger.warning("Put back %s request(s) leased to us whose reply Redis lost", moved)
        self.check_inflight = False
        return moved

    def reap(self) -> int:
        """Put the in-flight work of dead workers back on the queue.

        Dead is gone for a TTL *while we watch*: a heartbeat that expired during a Redis outage (or
        a stall) belongs to a worker that beats again at once, and whose results are on their way.
        """
        moved = 0
        now = time.monotonic()
        gone: set[str] = set()
        for key in self.server.scan_iter(match=self.keys.of("inflight", "*"), count=100):
            name = key.decode() if isinstance(key, bytes) else key
            worker = name.removeprefix(self.keys.of("inflight", ""))
            if worker == self.worker_id or self.server.exists(self.keys.of("worker", worker)):
                continue
            gone.add(worker)
            if now - self.missing.setdefault(worker, now) < self.ttl:
                continue
            count = int(self._requeue(keys=[name, self.queue_key, self.keys.seeds]))
            if count:
                logger.warning("Worker %s stopped answering: put its %s unfinished request(s) back", worker, count)
            moved += count
        self.missing = {worker: since for worker, since in self.missing.items() if worker in gone}
        return moved

    def take_seed(self) -> bool:
        """Turn one seed into its start requests, when this worker has nothing to do."""
        data = self._pop_seed(keys=[self.keys.seeds, self.inflight_key])
        if not data:
            return False
        seed = json.loads(data)
        run = seed["run"]
        spider = self.crawler.spider
        lease = f"seed:{run}"
        self.leased[lease] = data
        if seed.get("base_url", self.base_url).rstrip("/") != self.base_url:
            logger.error("Seed of run %s is for %s, this worker crawls %s", run, seed["base_url"], self.base_url)
        else:
            logger.info("Run %s: seeding %s", run, ", ".join(seed["parts"]))
            for request in spider.seed_requests(seed):
                request.meta["run"] = run
                self.crawler.engine.crawl(request)
        self.close_lease(lease, run)
        return True

    def close(self) -> None:
        """A worker stopping cleanly puts back what it holds and stops its heartbeat."""
        self.flush()
        try:
            count = int(self._requeue(keys=[self.inflight_key, self.queue_key, self.keys.seeds]))
            self.server.delete(self.heartbeat_key)
        except REDIS_DOWN as exc:
            logger.error("Redis unavailable at shutdown (%s): other workers will requeue our work", exc)
            return
        if count:
            logger.info("Put %s unfinished request(s) back on the shared queue", count)
        logger.info("Worker %s stopping after %s pages", self.worker_id, self.pages)


def relayed(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a spider callback or errback: in a worker its output goes through ``Frontier.relay``."""

    @wraps(callback)
    def wrapper(spider: Any, first: Any, *args: Any, **kwargs: Any) -> Any:
        output = callback(spider, first, *args, **kwargs)
        frontier = getattr(spider, "frontier", None)
        if frontier is None:
            return output
        response = getattr(first, "value", None) and getattr(first.value, "response", None)  # an HttpError's
        status = getattr(response or first, "status", None)
        return frontier.relay(getattr(first, "request", None), output, status)

    return wrapper


class LeasingQueue(PriorityQueue):
    """scrapy-redis' priority queue, with the push and pop of ``Frontier``'s leases."""

    def push(self, request: Request, fingerprint: str = "") -> None:
        """Queue ``request`` (under its run's filter by ``fingerprint``, unless "")."""
        frontier: Frontier = self.spider.frontier
        superseded = request.meta.get("lease")
        request.meta["lease"] = uuid.uuid4().hex
        request.meta.setdefault("run", "?")
        data = self._encode_request(request)
        frontier.push(self.key, -request.priority, data, request.meta["run"], request.meta["lease"], fingerprint)
        if superseded in frontier.leased:  # a retry or redirect: the old lease is done with
            frontier.close_lease(superseded, request.meta["run"])

    def pop(self, timeout: int = 0) -> Request | None:
        frontier: Frontier = self.spider.frontier
        while data := frontier.pop(self.key):
            request = self._decode_request(data)
            if request.meta["lease"] in frontier.leased:  # taken back from us while ours is under way
                logger.warning("%s came back to us while we still work on it: not fetched twice", request.url)
                continue
            frontier.leased[request.meta["lease"]] = data
            return request
        return None

    def __len__(self) -> int:
        return self.spider.frontier.queued(self.key)


class LeasingScheduler(Scheduler):
    """scrapy-redis' scheduler; pending requests include the results still owed to Redis.

    While Redis is away a request is queued locally (``Frontier.unsent``) and sent when it is
    back, with its fingerprint: the run's filter decides then, so a page is fetched once.
    """

    def enqueue_request(self, request: Request) -> bool:
        unfiltered = request.dont_filter or request.meta.get("redirect_times")  # see RunDupeFilter
        self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request, "" if unfiltered else self.df.request_fingerprint(request))
        return True

    def next_request(self) -> Request | None:
        request = self.queue.pop()
        if request is not None:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        return bool(self.spider.frontier.unsent) or len(self) > 0


class RunDupeFilter(RFPDupeFilter):
    """scrapy-redis' shared duplicate filter, one set per run: a URL is fetched once per run by
    all workers together, and the next run may fetch it again (a recheck, a failed page).
    The scheduler adds a fingerprint in the Lua step that queues the request (``_PUSH``);
    ``request_seen`` is the same test on its own.

    A redirect is never filtered: Scrapy limits redirects itself, and a loop must fail visibly.
    """

    def request_seen(self, request: Request) -> bool:
        if request.meta.get("redirect_times"):
            return False
        key = f"{self.key.rsplit(':', 1)[0]}:{request.meta.get('run', '?')}"
        return self.server.sadd(key, self.request_fingerprint(request)) == 0

    @classmethod
    def from_spider(cls, spider: Any) -> RunDupeFilter:
        settings = spider.settings
        server = spider.frontier.server
        return cls(server, key=keys_of(settings).of("dupefilter", "run"), debug=settings.getbool("DUPEFILTER_DEBUG"))


class WorkerExtension:
    """Runs a worker's loop (seeds, heartbeat, reaper, retries) and keeps the spider open when idle."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.loop: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerExtension:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        from twisted.internet import task

        self.loop = task.LoopingCall(self._tick, spider)
        self.loop.start(1.0, now=True)
        logger.info("Worker %s waiting for seeds on %s", spider.frontier.worker_id, spider.frontier.keys.seeds)

    @staticmethod
    def _tick(spider: Any) -> None:
        try:
            spider.frontier.tick()
        except Exception:  # the loop must go on: a bad seed is logged, not fatal
            logger.exception("worker loop")

    def spider_idle(self, spider: Any) -> None:
        raise DontCloseSpider  # a worker waits for the next seed

    def spider_closed(self, spider: Any) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        spider.frontier.close()


# --- the seeder's and the operator's side: no Scrapy here ---


def push_seed(server: redis.Redis, keys: Keys, plan: RunPlan, job: str | None) -> str | None:
    """Queue one run's plan for the workers; its run key, or None when a run of this job is still open.

    Skipping an open job's seed is the daemon's ``coalesce`` in distributed form: a slow run
    is not stacked with copies of itself. The workers' known-URL set is filled from the
    plan when Redis has none (a new Redis, or one that lost its data).
    """
    if job:
        for info in server.hvals(keys.runs):
            if json.loads(info).get("job") == job:
                return None
    if not server.exists(keys.known):
        urls = sorted(plan.known_urls)
        for start in range(0, len(urls), 1000):
            server.sadd(keys.known, *urls[start : start + 1000])
    seed = plan.seed()
    run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    info = {"job": job, "parts": seed["parts"], "at": now_kz()}
    with server.pipeline(transaction=True) as pipe:
        pipe.hset(keys.runs, run, json.dumps(info))
        pipe.rpush(keys.items, envelope("run_started", run, **info))  # before any item of the run
        pipe.rpush(keys.seeds, json.dumps({**seed, "run": run}))
        pipe.execute()
    return run


def cluster_status(server: redis.Redis, keys: Keys, queue_key: str | None = None) -> dict[str, Any]:
    """What ``informburo status`` shows of distributed mode: queues, open runs, live processes."""
    queue_key = queue_key or keys.requests
    workers = []
    for key in server.scan_iter(match=keys.of("worker", "*"), count=100):
        value = server.get(key)
        if value:
            workers.append(json.loads(value))
    runs = []
    for run, info in sorted(server.hgetall(keys.runs).items()):
        name = run.decode() if isinstance(run, bytes) else run
        runs.append({"run": name, **json.loads(info), "open_requests": server.scard(keys.of("pending", name))})
    store = server.get(keys.store)
    return {
        "queued_requests": server.zcard(queue_key),
        "seeds_waiting": server.llen(keys.seeds),
        "items_waiting": server.llen(keys.items) + server.llen(keys.storing),
        "workers": sorted(workers, key=lambda w: w["id"]),
        "open_runs": runs,
        "store": json.loads(store) if store else None,
    }


def redacted(url: str) -> str:
    """A Redis URL fit for a log: its password replaced."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def wait_for_redis(url: str, stop: Callable[[], bool] = lambda: False, max_wait: float = 30.0) -> redis.Redis | None:
    """A connected client, retrying with backoff (and saying so) while Redis is unavailable."""
    server = connect(url)
    delay = 1.0
    while not stop():
        try:
            server.ping()
            return server
        except REDIS_DOWN as exc:
            logger.error("Redis at %s unavailable (%s): retrying in %.0f s", redacted(url), exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_wait)
    return None
