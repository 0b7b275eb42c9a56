"""The ``informburo`` command: crawl, run, demo, parse, status, check.

Exit codes: 0 success; 1 the run failed; 2 bad usage or configuration;
3 the run was interrupted by a signal before its pass completed; 75 another
collection held the database's writer lock for longer than we would wait.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 3
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later

DEMO_PORT = 8765


class UsageError(Exception):
    """Bad usage found by the command line itself: one line, exit 2 (``main``)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other error of ours."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("informburo").strip()
        self.exit(EXIT_USAGE, f"informburo: {command + ': ' if command else ''}{message} (see {self.prog} --help)\n")


def _at_least_one(text: str) -> int:
    """An ``argparse`` type: a whole number of at least 1 (pages to walk, runs to list)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return number


def _settings_pairs(pairs: list[str]) -> dict[str, str]:
    """``-s NAME=VALUE`` options, as ``scrapy crawl -s`` takes them."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-s takes NAME=VALUE, not {pair!r}")
        out[name.strip()] = value
    return out


def _config(args: argparse.Namespace) -> Any:
    """The merged configuration (core/config.py) of a command's ``--config``, ``--db``,
    ``--base-url`` and ``--redis-url``; ``None`` after one line on stderr when it is wrong."""
    from core.config import load_config

    try:
        return load_config(
            getattr(args, "config", None),
            db=getattr(args, "db", None),
            base_url=getattr(args, "base_url", None),
            redis_url=getattr(args, "redis_url", None),
        )
    except (OSError, ValueError) as exc:
        print(f"informburo: bad configuration: {exc}", file=sys.stderr)
        return None


def _crawl_settings(args: argparse.Namespace, config: Any, max_pages: int | None = None) -> Any:
    """Scrapy settings of a run: the project's, then the config's, then ``-s`` on top."""
    from jobs.crawl import crawl_settings

    overrides = {**config.crawl_settings(), **_settings_pairs(args.set)}
    return crawl_settings(config.db, config.base_url, max_pages, overrides)


def cmd_crawl(args: argparse.Namespace) -> int:
    from jobs.crawl import run_crawl

    config = _config(args)
    if config is None:
        return EXIT_USAGE
    outcome = run_crawl(_crawl_settings(args, config, args.max_pages), only=args.only)
    return _report(outcome)


def cmd_check_site(args: argparse.Namespace) -> int:
    """What the site still carries of the contract, politely, writing nothing: exit 0 all found, 1 not."""
    from jobs.check_site import check_site, check_site_settings

    config = _config(args)
    if config is None:
        return EXIT_USAGE
    overrides = {**config.crawl_settings(), **_settings_pairs(args.set)}
    return check_site(check_site_settings(config.db, config.base_url, overrides))


def _report(outcome: Any) -> int:
    stats = outcome.stats
    if outcome.ok:
        print(
            f"run {outcome.run_id} ok: {stats.get('response_received_count', 0)} pages,"
            f" {stats.get('item_scraped_count', 0)} items passed the pipelines,"
            f" {stats.get('item_dropped_count', 0)} rejected"
        )
        return EXIT_OK
    if outcome.status == "locked":
        print(f"informburo: {outcome.reason}", file=sys.stderr)
        return EXIT_LOCKED
    print(f"informburo: run {outcome.run_id or '-'} {outcome.status}: {outcome.reason}", file=sys.stderr)
    return EXIT_INTERRUPTED if outcome.status == "interrupted" else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    import scheduler
    from core.config import ConfigError
    from jobs.crawl import check_settings

    config = _config(args)
    if config is None:
        return EXIT_USAGE
    check_settings(config.crawl_settings())  # what every child gets: wrong, every run would fail
    for name, spec in config.jobs.items():
        try:
            check_settings(spec.get("settings", {}))
        except ConfigError as exc:
            raise ConfigError(f"job {name}: {exc}") from None
    return scheduler.Daemon(config).serve()


def _free_port(preferred: int) -> int:
    """The preferred port when it is free (so repeated demos share URLs), else any free one."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from jobs.crawl import crawl_settings, run_crawl
    from mirror.server import MirrorServer

    with MirrorServer(port=_free_port(DEMO_PORT)) as server:
        print(f"Serving the shipped mirror at {server.url}/ and collecting it into {args.db} …", flush=True)
        fast = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"}
        outcome = run_crawl(crawl_settings(args.db, server.url, None, fast))
    code = _report(outcome)
    if outcome.run_id is not None:
        print_summary(args.db)
    informburo = Path(sys.executable).parent / "informburo"
    exe = str(informburo) if informburo.exists() else (shutil.which("informburo") or "informburo")
    try:
        exe = str(Path(exe).relative_to(Path.cwd()))
    except ValueError:
        pass
    print(
        f"\nOpen it in Datasette (read-only, with charts):\n  {exe} serve --db {args.db}\nthen browse http://127.0.0.1:8001/"
    )
    return code


def print_summary(db_path: str) -> None:
    from storage.db import open_database
    from storage.ledger import latest_snapshot, table_counts

    db = open_database(db_path, create=False)
    try:
        print(f"\n{db_path}:")
        tables = ("articles", "most_read", "rates", "crawl_runs", "crawl_errors", "rejects")
        for table, count in table_counts(db, tables).items():
            print(f"  {table:<13} {count:>6} rows")
        latest = latest_snapshot(db)
        print("\nMost read, latest snapshot:")
        for row in latest["most_read"]:
            print(f"  {row['rank']:>2}. {row['emoji'] or ''} {row['title']} ({row['views']} views)")
        print("Rates, latest snapshot (tenge, buy / sell):")
        for row in latest["rates"]:
            print(f"  {row['currency']}: {row['buy']} / {row['sell']}")
        print(f"Latest run: {json.dumps(latest['run'], ensure_ascii=False)}")
    finally:
        db.close()


def cmd_status(args: argparse.Namespace) -> int:
    from storage.db import UnusableDatabaseError, open_database

    args.base_url, args.set = None, []
    config = _config(args)
    if config is None:
        return EXIT_USAGE
    args.db = config.db
    settings = _distributed(args, quiet_when_off=True) if config.redis_url else None  # distributed mode
    code = EXIT_OK
    try:
        db = open_database(args.db, create=False)
    except (UnusableDatabaseError, FileNotFoundError) as exc:
        if settings is None:
            hint = "; run `informburo crawl` first (distributed mode: add --redis-url to see the workers' progress)"
            print(f"informburo: {exc}{hint if isinstance(exc, FileNotFoundError) else ''}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, FileNotFoundError):  # distributed: the store makes it with the first items
            print(f"{args.db}: no database yet: `informburo store` creates it when the first items arrive")
        else:  # said, and the shared state shown all the same
            print(f"informburo: {exc}", file=sys.stderr)
            code = EXIT_USAGE
    else:
        try:
            print_runs(db, args.db, args.limit)
        finally:
            db.close()
    if settings is not None:
        print_cluster(settings, args.db)
    return code


def print_runs(db: Any, path: str, limit: int) -> None:
    """The database part of ``informburo status``: latest runs, jobs and errors."""
    from storage.ledger import job_states, latest_errors, recent_runs, table_counts

    runs = recent_runs(db, limit)
    counts = table_counts(db, ("articles", "most_read", "rates"))
    print(f"{path}: {counts['articles']} articles, {counts['most_read']} most-read rows, {counts['rates']} rate rows")
    header = ("run", "started", "finished", "status", "pages", "stored", "rejected", "errors", "fallback")
    print("{:>5}  {:<25} {:<25} {:<11} {:>5} {:>6} {:>8} {:>6} {:>8}".format(*header))
    for r in runs:
        print(
            f"{r['id']:>5}  {r['started_at']:<25} {r['finished_at'] or '-':<25} {r['status']:<11}"
            f" {r['pages']:>5} {r['items_stored']:>6} {r['items_rejected']:>8} {r['errors']:>6}"
            f" {r['fallback_pages']:>4}/{r['article_pages']:<3}"
        )
    for r in runs:
        if r["warning"]:
            print(f"WARNING run {r['id']}: {r['warning']}")
    jobs = job_states(db)
    if jobs:
        print("scheduled jobs (as the daemon last recorded them; delay: how late its last run started):")
        print(f"  {'job':<12} {'task':<10} {'last run':<9} {'outcome':<11} {'started':<25} {'delay':>7}  next run")
        for job in jobs:
            run_id, outcome, started = (job["last_run"] or "-", job["last_status"] or "-", job["last_started"] or "-")
            delay = "-" if job["start_delay"] is None else f"{job['start_delay']:.1f} s"
            print(
                f"  {job['name']:<12} {job['task']:<10} {run_id!s:<9} {outcome:<11} {started:<25} {delay:>7}"
                f"  {job['next_run_at'] or '-'}"
            )
        dropped = [job for job in jobs if job["skipped"] or job["missed"]]
        if dropped:  # skipped: the job's previous run still going; missed: too late to start, or coalesced
            print("fire times not run as scheduled (last 24 h):")
            for job in dropped:
                print(
                    f"  {job['name']:<12} {job['skipped']} skipped, {job['missed']} missed;"
                    f" last: {job['last_event']} {job['last_event_at']} ({job['last_event_detail'] or '-'})"
                )
    if not runs:
        print("no runs yet")
    errors = latest_errors(db, 5)
    if errors:
        print("latest errors:")
        for e in errors:
            print(f"  run {e['run_id']} {e['stage']} {e['http_status'] or ''} {e['url']}: {e['reason']}")


def cmd_check(args: argparse.Namespace) -> int:
    """The checks across runs and the open incidents, for cron and supervisors: exit 0 ok, 1 warning,
    2 critical (as monitoring plugins), one line per failing check; ``--test-alert`` tries every destination."""
    from jobs.check import run_checks, send_test_alert

    config = _config(args)
    if config is None:
        return EXIT_USAGE
    if args.test_alert:
        if not config.alerts:
            print(
                "informburo: no alert destination: add an [alerts] table to the config (--config)"
                " or set INFORMBURO_ALERT_URLS",
                file=sys.stderr,
            )
            return EXIT_USAGE
        deliveries = send_test_alert(config)
        for d in deliveries:
            print(f"{d.destination}: ok" if d.ok else f"{d.destination}: failed: {d.error}")
        return EXIT_OK if deliveries and all(d.ok for d in deliveries) else EXIT_USAGE
    report = run_checks(config)
    for line in report.lines():
        print(line)
    return report.exit_code


def cmd_parse(args: argparse.Namespace) -> int:
    from datetime import datetime

    from core.clock import KZ_TZ, as_kz
    from pipelines.preview import parse_page

    try:
        page = Path(args.file).read_bytes()
        now = as_kz(args.now) if args.now else datetime.now(KZ_TZ)  # no offset: Kazakhstan time
    except (OSError, ValueError) as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for item in parse_page(page, args.url, now):
        print(json.dumps(item, ensure_ascii=False, sort_keys=True))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from storage.db import UnusableDatabaseError, open_database
    from storage.export import export_rows, write_export

    try:
        db = open_database(args.db, create=False)
    except (FileNotFoundError, UnusableDatabaseError) as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        rows = export_rows(db, args.table, args.since)  # a bad table or date is refused before --output is made
        try:
            out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        try:
            count = write_export(rows, args.format, out)
        finally:
            if args.output:
                out.close()
    except ValueError as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        db.close()
    print(f"exported {count} {args.table} rows", file=sys.stderr)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from storage.browse import serve
    from storage.db import UnusableDatabaseError, open_database

    try:
        open_database(args.db, create=False).close()  # a file Datasette could not read: say so now, in one line
        return serve(args.db, args.port)
    except (FileNotFoundError, UnusableDatabaseError) as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_backfill(args: argparse.Namespace) -> int:
    from jobs.backfill import backfill

    if args.sitemaps and args.pages is not None:
        print(
            "informburo: backfill --sitemaps takes --until DATE (or nothing: every sitemap), not --pages",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.sitemaps and (args.pages is None) == (args.until is None):
        print("informburo: backfill takes --pages N or --until DATE (or --sitemaps)", file=sys.stderr)
        return EXIT_USAGE
    config = _config(args)
    if config is None:
        return EXIT_USAGE
    jobdir = Path(args.jobdir or f"{config.db}.backfill")
    if jobdir.exists():
        print(f"Resuming the backfill kept in {jobdir}", file=sys.stderr)
    settings = _crawl_settings(args, config)
    outcome = backfill(settings, pages=args.pages, until=args.until, jobdir=jobdir, sitemaps=args.sitemaps)
    return _report(outcome)


def cmd_reparse(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.clock import since_bound
    from jobs.reparse import default_workers, reparse
    from storage.archive import archive_path
    from storage.db import UnusableDatabaseError
    from storage.lock import LockTimeoutError

    archive = Path(args.archive) if args.archive else archive_path(args.db)
    if not Path(args.db).exists() or not archive.exists():
        print(f"informburo: need both {args.db} and its archive {archive}", file=sys.stderr)
        return EXIT_USAGE
    try:
        since = since_bound(args.since) if args.since else None
    except ValueError as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    workers = default_workers() if args.workers is None else args.workers
    if workers < 0:
        print("informburo: --workers must be 0 (read in this process) or more", file=sys.stderr)
        return EXIT_USAGE
    bar = tqdm(unit="page", desc="reparse", disable=None)  # disable=None: silent when not on a terminal

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        outcome = reparse(args.db, since, archive=archive, progress=progress, workers=workers)
    except LockTimeoutError as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except UnusableDatabaseError as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        bar.close()
    print(
        f"run {outcome.run_id} ok: reparsed {outcome.pages} archived pages,"
        f" {outcome.stored} articles stored, {outcome.rejected} rejected"
    )
    return EXIT_OK


def _distributed(args: argparse.Namespace, *, quiet_when_off: bool = False) -> Any:
    """Settings of a distributed-mode command: config file, then its options, then ``-s``;
    ``None`` (after saying why, unless ``quiet_when_off``) when no Redis URL is configured."""
    config = _config(args)
    if config is None:
        return None
    settings = _crawl_settings(args, config)
    if not settings.get("INFORMBURO_REDIS_URL"):
        if quiet_when_off:
            return None
        print(
            "informburo: distributed mode is off: set redis_url in the config, --redis-url or INFORMBURO_REDIS_URL",
            file=sys.stderr,
        )
        return None
    return settings


def _stop_on_signals() -> Any:
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_seed(args: argparse.Namespace) -> int:
    from crawler.distributed import REDIS_DOWN
    from jobs.seed import describe_seed, seed_run

    settings = _distributed(args)
    if settings is None:
        return EXIT_USAGE
    if args.pages is not None and (args.until is not None or args.sitemaps):
        print(
            f"informburo: seed takes --pages N or {'--sitemaps' if args.sitemaps else '--until DATE'}, not both",
            file=sys.stderr,
        )
        return EXIT_USAGE
    backfill = args.pages is not None or args.until is not None or args.sitemaps
    max_pages = args.pages if backfill else args.max_pages
    try:
        run, plan = seed_run(
            settings, args.only, max_pages=max_pages, backfill=backfill, until=args.until, sitemaps=args.sitemaps
        )
    except ValueError as exc:
        print(f"informburo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except REDIS_DOWN as exc:
        print(f"informburo: Redis unavailable, nothing seeded: {exc}", file=sys.stderr)
        return EXIT_FAILED
    job = settings.get("INFORMBURO_JOB")
    if run is None:
        print(f"job {job}: its previous run is still open on the shared queue; not seeding another")
    else:
        print(f"seeded run {run}: {describe_seed(plan.seed())}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from crawler.distributed import wait_for_redis, worker_settings
    from jobs.crawl import run_worker

    settings = _distributed(args)
    if settings is None:
        return EXIT_USAGE
    url = settings["INFORMBURO_REDIS_URL"]
    stop = _stop_on_signals()
    if wait_for_redis(url, stop.is_set) is None:
        return EXIT_OK
    overrides = worker_settings(url, settings.get("INFORMBURO_REDIS_PREFIX"))
    settings.setdict({**overrides, **_settings_pairs(args.set)}, priority="cmdline")
    return run_worker(settings)


def cmd_store(args: argparse.Namespace) -> int:
    import logging

    from core.config import load_alerts
    from crawler.distributed import keys_of, wait_for_redis
    from jobs.drain import Drain
    from pipelines.store import monitor_thresholds

    settings = _distributed(args)
    if settings is None:
        return EXIT_USAGE
    logging.basicConfig(level=settings.get("LOG_LEVEL"), format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    stop = _stop_on_signals()
    server = wait_for_redis(settings["INFORMBURO_REDIS_URL"], stop.is_set)
    if server is None:
        return EXIT_OK
    drain = Drain(
        settings["INFORMBURO_DB"],
        server,
        keys_of(settings),
        lock_timeout=settings.getfloat("INFORMBURO_LOCK_TIMEOUT"),
        drift_threshold=settings.getfloat("INFORMBURO_DRIFT_THRESHOLD"),
        monitors=monitor_thresholds(settings.getdict("INFORMBURO_MONITORS")),
        alerts=load_alerts(settings.get("INFORMBURO_CONFIG")),  # the file's [alerts] and INFORMBURO_ALERT_URLS
        site=settings.get("INFORMBURO_BASE_URL") or "",
    )
    drain.serve(stop)
    return EXIT_OK


def print_cluster(settings: Any, db_path: str | None = None) -> None:
    """The distributed part of ``informburo status``; an open run with its counts so far (``db_path``)."""
    from crawler.distributed import REDIS_DOWN, cluster_status, connect, keys_of

    url = settings["INFORMBURO_REDIS_URL"]
    try:
        state = cluster_status(connect(url), keys_of(settings))
    except REDIS_DOWN as exc:
        print(f"distributed: Redis unavailable ({exc}): workers and the store are retrying")
        return
    print(
        f"distributed: {state['queued_requests']} requests queued, {state['seeds_waiting']} seeds waiting,"
        f" {state['items_waiting']} items waiting to be stored, {len(state['workers'])} active workers"
    )
    for w in state["workers"]:
        print(f"  worker {w['id']}: {w['pages']} pages, {w['in_flight']} in flight, last seen {w['seen']}")
    store = state["store"]
    where = f"pid {store['pid']} on {store['host']}, last seen {store['seen']}" if store else "not running"
    print(f"  store: {where}")
    rows = _runs_of_seeds(db_path, [r["run"] for r in state["open_runs"]])
    for r in state["open_runs"]:
        what = f"{r.get('job') or 'by hand'}: {', '.join(r['parts'])}"
        row = rows.get(r["run"])
        so_far = f"run {row['id']}: {row['pages']} pages, {row['items_stored']} items stored so far" if row else ""
        print(f"  open run {r['run']} ({what}): {r['open_requests']} requests open; {so_far or 'nothing stored yet'}")


def _runs_of_seeds(db_path: str | None, seeds: list[str]) -> dict[str, Any]:
    """The ``crawl_runs`` rows of open distributed runs, when the store has written them."""
    from storage.db import UnusableDatabaseError, open_database
    from storage.ledger import runs_of_seeds

    if not db_path or not seeds:
        return {}
    try:
        db = open_database(db_path, create=False)
    except (UnusableDatabaseError, FileNotFoundError):
        return {}
    try:
        return runs_of_seeds(db, seeds)
    finally:
        db.close()


def _add_distributed(parser: argparse.ArgumentParser, db: bool = True) -> None:
    parser.add_argument("--config", default=None, help="TOML config (redis_url, db, base_url, settings)")
    parser.add_argument(
        "--redis-url", default=None, help="the shared Redis, e.g. redis://host:6379/0 (default: config)"
    )
    if db:
        _add_db(parser, config=True)
    _add_site(parser)


def _add_db(parser: argparse.ArgumentParser, config: bool = False) -> None:
    from core.names import DEFAULT_DB

    where = "config, else INFORMBURO_DB, else" if config else "INFORMBURO_DB, else"
    parser.add_argument("--db", default=None, help=f"SQLite file (default from {where} {DEFAULT_DB})")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="TOML config (db, base_url, politeness, [settings])")


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-s", "--set", action="append", default=[], metavar="NAME=VALUE", help="a Scrapy setting, as `scrapy crawl -s`"
    )


def _add_site(parser: argparse.ArgumentParser) -> None:
    from core.names import DEFAULT_BASE_URL

    text = f"site to collect (default from config, else INFORMBURO_BASE_URL, else {DEFAULT_BASE_URL})"
    parser.add_argument("--base-url", default=None, help=text)
    _add_set(parser)


def build_parser() -> argparse.ArgumentParser:
    from storage.browse import DEFAULT_PORT, port_number

    parser = _Parser(prog="informburo", description="Collect an Informburo-style news site into SQLite.")
    sub = parser.add_subparsers(dest="command", required=True)

    crawl = sub.add_parser(
        "crawl", help="one collection pass: new articles, most-read sidebar, rates (what cron calls)"
    )
    _add_config(crawl)
    _add_db(crawl, config=True)
    _add_site(crawl)
    crawl.add_argument(
        "--max-pages", type=_at_least_one, default=None, help="listing pages to walk at most (default 3)"
    )
    crawl.add_argument(
        "--only", default=None, help="collect only some of: articles,most_read,rates,recheck (default: the first three)"
    )
    crawl.set_defaults(func=cmd_crawl)

    check = sub.add_parser(
        "check-site",
        help="the first command against a site: which parts of the contract it carries, by which layer (no database)",
    )
    _add_config(check)
    _add_site(check)
    check.set_defaults(func=cmd_check_site)

    run = sub.add_parser("run", help="the daemon: collect on a schedule until SIGTERM/SIGINT")
    _add_db(run, config=True)
    run.add_argument("--base-url", default=None, help="site to collect (default from config)")
    run.add_argument("--config", default=None, help="TOML schedule (default: config/informburo.toml's values)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="collect the shipped mirror once and say how to open the result")
    _add_db(demo)
    demo.set_defaults(func=cmd_demo)

    parse = sub.add_parser("parse", help="print the items of a saved page as JSON lines (no crawl, no database)")
    parse.add_argument("file", help="a saved HTML page (any encoding it declares)")
    parse.add_argument("--url", required=True, help="the URL the page was fetched from (decides the page type)")
    parse.add_argument("--now", default=None, help="the crawl time for listing dates, ISO 8601 (default: now)")
    parse.set_defaults(func=cmd_parse)

    backfill = sub.add_parser("backfill", help="a first import: walk older listing pages or the sitemaps (resumable)")
    _add_config(backfill)
    _add_db(backfill, config=True)
    _add_site(backfill)
    backfill.add_argument("--pages", type=_at_least_one, default=None, help="how many listing pages to walk")
    backfill.add_argument("--until", default=None, help="walk back to articles published on this date (YYYY-MM-DD)")
    backfill.add_argument(
        "--sitemaps",
        action="store_true",
        help="walk the sitemaps robots.txt names, newest first (back to --until), instead of the listing",
    )
    backfill.add_argument(
        "--jobdir", default=None, help="where an interrupted backfill is kept (default <db>.backfill)"
    )
    backfill.set_defaults(func=cmd_backfill)

    reparse = sub.add_parser("reparse", help="rebuild articles and their versions from the raw-page archive")
    _add_db(reparse)
    reparse.add_argument("--since", default=None, help="only pages fetched at or after this date or ISO time")
    reparse.add_argument("--archive", default=None, help="the archive file (default: <db>.archive.db beside it)")
    reparse.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that read the pages while this one stores them (default: one per core, none on one"
        " core; 0: read them in this process)",
    )
    reparse.set_defaults(func=cmd_reparse)

    export = sub.add_parser("export", help="stream a table as JSON lines or CSV")
    _add_db(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="jsonl (default) or csv")
    export.add_argument("--table", required=True, help="articles, most_read, rates, article_versions, article_views, …")
    export.add_argument("--since", default=None, help="only rows at or after this date (YYYY-MM-DD) or ISO time")
    export.add_argument("--output", default=None, help="write to this file instead of standard output")
    export.set_defaults(func=cmd_export)

    status = sub.add_parser("status", help="the last runs and what they stored (and the shared queue, if distributed)")
    _add_db(status, config=True)
    status.add_argument("--config", default=None, help="TOML config; its redis_url adds the distributed state")
    status.add_argument("--redis-url", default=None, help="show the shared queue, workers and store of this Redis")
    status.add_argument("--limit", type=_at_least_one, default=10, help="how many runs to list")
    status.set_defaults(func=cmd_status)

    seed = sub.add_parser("seed", help="distributed mode: queue one run for the workers (what the daemon's jobs do)")
    _add_distributed(seed)
    seed.add_argument("--only", default=None, help="collect only some of: articles,most_read,rates,recheck")
    seed.add_argument("--max-pages", type=_at_least_one, default=None, help="listing pages to walk at most (default 3)")
    seed.add_argument(
        "--pages", type=_at_least_one, default=None, help="a shared backfill: walk N listing pages, as `backfill`"
    )
    seed.add_argument("--until", default=None, help="a shared backfill: walk back to this date (YYYY-MM-DD)")
    seed.add_argument(
        "--sitemaps", action="store_true", help="a shared backfill of the sitemaps, as `backfill --sitemaps`"
    )
    seed.set_defaults(func=cmd_seed)

    worker = sub.add_parser("worker", help="distributed mode: crawl seeds from the shared Redis queue until SIGTERM")
    _add_distributed(worker)
    worker.set_defaults(func=cmd_worker)

    store = sub.add_parser("store", help="distributed mode: write the workers' items into the database until SIGTERM")
    _add_distributed(store)
    store.set_defaults(func=cmd_store)

    health = sub.add_parser(
        "check",
        help="health for cron and supervisors: checks across runs, open incidents; exit 0 ok, 1 warning, 2 critical",
    )
    _add_config(health)
    _add_db(health, config=True)
    health.add_argument(
        "--test-alert",
        action="store_true",
        help="send a test alert to every destination of [alerts] and say how it went",
    )
    health.set_defaults(func=cmd_check)

    serve = sub.add_parser("serve", help="browse the database in Datasette on 127.0.0.1, read-only, with charts")
    _add_db(serve)
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error ends as one line on stderr and an exit code (README), never a traceback.

    ``INFORMBURO_DEBUG=1`` lets an unexpected exception through with its traceback, for a developer.
    """
    from core.config import ConfigError, load_config

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already said in one line
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if getattr(args, "db", "") is None and not hasattr(args, "config"):  # commands that read no config file
            args.db = load_config().db
        if getattr(args, "set", None) is not None:
            _settings_pairs(args.set)
        code = args.func(args)
        sys.stdout.flush()  # a reader gone (`| head`) shows here, not in Python's last flush at exit
        return code
    except (ConfigError, UsageError) as exc:
        _say(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("INFORMBURO_DEBUG"):
            raise
        _say(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    print("informburo: " + " ".join(message.split("\n")), file=sys.stderr)


def _silence_stdout() -> None:
    """The reader of standard output went away (``informburo parse … | head``): that is not an error.

    Standard output is pointed at /dev/null, so that Python's own flush at exit does not
    print a "BrokenPipeError" of its own.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        pass


if __name__ == "__main__":
    sys.exit(main())
