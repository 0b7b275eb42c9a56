"""Every error path of ``informburo`` ends with its documented exit code and one line, never a traceback.

README.md's "Exit codes" table and its command-line table are the contract: each command
there has its error paths below, and each non-zero code is met. An error path must leave
stderr as exactly one line starting ``informburo: ``; bad usage or configuration (exit 2)
must also leave the disk as it found it (no database, no lock file, no data directory).

Most cases run in-process through ``cli.main`` (fast); guards make sure none of them can
start a crawl, the daemon, Datasette or a worker in the test process. A few run the real
command in a child process (marked slow).
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cli
from mirror.server import MirrorServer
from storage.lock import WriterLock
from storage.schema import MIGRATIONS
from tests.conftest import FAST, ROOT, crawl, informburo, wait_for

README = ROOT / "README.md"
DEAD_SITE = "http://127.0.0.1:9"  # nothing listens there: a crawl that started would fail, not pass
DEAD_REDIS = "redis://127.0.0.1:9/0"
JOB = '[jobs.a]\ntask = "rates"\ntrigger = "interval"\nminutes = 15\n'
PAGE = ROOT / "tests" / "fixtures" / "pages" / "article-noise.html"
PAGE_URL = "https://informburo.kz/novosti/x"


# --- what the README documents ----------------------------------------------------------------


def readme_exit_codes() -> set[int]:
    """The codes of README.md's "Exit codes" table."""
    text = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {int(code) for code in re.findall(r"^\| (\d+) \|", text, flags=re.MULTILINE)}


def readme_commands() -> set[str]:
    """The commands of README.md's command-line table."""
    return set(re.findall(r"^\| `informburo ([\w-]+)", README.read_text(encoding="utf-8"), flags=re.MULTILINE))


# --- the error paths --------------------------------------------------------------------------


def not_sqlite(tmp: Path) -> None:
    (tmp / "x.db").write_text("these are not the tables you are looking for\n")


def old_schema(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "x.db", isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    conn.close()


def current_schema(tmp: Path) -> None:
    from storage.db import open_database

    open_database(tmp / "x.db").close()


def toml(text: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / "c.toml").write_text(text.replace("{tmp}", str(tmp)), encoding="utf-8")

    return write


def a_file(name: str) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        (tmp / name).write_text("x")

    return write


def both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(tmp: Path) -> None:
        for setup in setups:
            setup(tmp)

    return run


@dataclass
class Case:
    """One error path: the command line (``{tmp}`` is the test's directory), its exit code, what its line says."""

    name: str
    argv: list[str]
    code: int
    says: str
    setup: Callable[[Path], None] | None = None
    untouched: bool = True  # bad usage: nothing created or changed on disk
    tags: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        return self.argv[0] if self.argv else ""


DB = ["--db", "{tmp}/data/x.db"]
SITE = ["--base-url", DEAD_SITE]
RUN = ["run", *DB, "--config", "{tmp}/c.toml"]
CASES = [
    Case("no command", [], 2, "required: command"),
    Case("unknown command", ["frobnicate"], 2, "invalid choice"),
    # crawl: every bad option is refused before the writer lock is taken
    Case("crawl unknown option", ["crawl", *DB, "--no-such-option"], 2, "unrecognized arguments: --no-such-option"),
    Case("crawl -s without =", ["crawl", *DB, *SITE, "-s", "NO_EQUALS_SIGN"], 2, "-s takes NAME=VALUE"),
    Case("crawl -s number", ["crawl", *DB, *SITE, "-s", "DOWNLOAD_DELAY=abc"], 2, "setting DOWNLOAD_DELAY: 'abc'"),
    Case("crawl -s boolean", ["crawl", *DB, *SITE, "-s", "AUTOTHROTTLE_ENABLED=maybe"], 2, "AUTOTHROTTLE_ENABLED"),
    Case("crawl -s dict", ["crawl", *DB, *SITE, "-s", "DOWNLOADER_MIDDLEWARES={oops"], 2, "DOWNLOADER_MIDDLEWARES"),
    Case("crawl -s int list", ["crawl", *DB, *SITE, "-s", "RETRY_HTTP_CODES=500,five"], 2, "RETRY_HTTP_CODES"),
    Case("crawl -s log level", ["crawl", *DB, *SITE, "-s", "LOG_LEVEL=LOUD"], 2, "LOG_LEVEL"),
    Case("crawl -s max pages", ["crawl", *DB, *SITE, "-s", "INFORMBURO_MAX_PAGES=0"], 2, "INFORMBURO_MAX_PAGES"),
    Case("crawl -s base url", ["crawl", *DB, "-s", "INFORMBURO_BASE_URL=ftp://x"], 2, "http(s) URL"),
    Case("crawl --only", ["crawl", *DB, *SITE, "--only", "foo"], 2, "--only takes"),
    Case("crawl --max-pages 0", ["crawl", *DB, *SITE, "--max-pages", "0"], 2, "--max-pages"),
    Case("crawl --max-pages text", ["crawl", *DB, *SITE, "--max-pages", "many"], 2, "--max-pages"),
    Case("crawl --base-url", ["crawl", *DB, "--base-url", "ftp://x"], 2, "http(s) URL, not 'ftp://x'"),
    Case("check-site --base-url", ["check-site", "--base-url", "ftp://x"], 2, "http(s) URL, not 'ftp://x'"),
    Case("check-site -s number", ["check-site", *SITE, "-s", "DOWNLOAD_DELAY=abc"], 2, "setting DOWNLOAD_DELAY: 'abc'"),
    Case("crawl missing config", ["crawl", *DB, "--config", "{tmp}/missing.toml"], 2, "missing.toml"),
    # check: a bad [alerts] or [monitors] table is refused in one line before anything is read or sent
    Case("check unknown option", ["check", *DB, "--loud"], 2, "unrecognized arguments: --loud"),
    Case(
        "check bad alerts",
        ["check", *DB, "--config", "{tmp}/c.toml"],
        2,
        "[alerts] unknown key 'url' (known: urls, critical, warning)",
        toml('[alerts]\nurl = "tgram://x/y"\n'),
    ),
    Case(
        "check bad monitors",
        ["check", *DB, "--config", "{tmp}/c.toml"],
        2,
        "[monitors] rejects must be a whole number of at least 0",
        toml("[monitors]\nrejects = -1\n"),
    ),
    Case("crawl bad TOML", ["crawl", *DB, "--config", "{tmp}/c.toml"], 2, "not valid TOML", toml("db = \n")),
    Case(
        "crawl config setting",
        ["crawl", *DB, *SITE, "--config", "{tmp}/c.toml"],
        2,
        "DOWNLOAD_DELAY",
        toml('[settings]\nDOWNLOAD_DELAY = "abc"\n'),
    ),
    # run: the daemon's configuration is checked whole before it starts
    Case("run jobs not a table", RUN, 2, "jobs must be a table", toml("jobs = 5\n")),
    Case("run job not a table", RUN, 2, "job a must be", toml("[jobs]\na = 3\n")),
    Case("run jitter", RUN, 2, "jitter", toml(JOB + 'jitter = "abc"\n')),
    Case(
        "run misfire_grace_time",
        RUN,
        2,
        "misfire_grace_time",
        toml(JOB + 'misfire_grace_time = "x"\n'),
    ),
    Case(
        "run negative interval",
        RUN,
        2,
        "interval must be positive",
        toml('[jobs.a]\ntrigger = "interval"\nminutes = -5\n'),
    ),
    Case(
        "run log_file",
        RUN,
        2,
        "log_file",
        both(a_file("afile"), toml('log_file = "{tmp}/afile/logs/informburo.log"\n' + JOB)),
    ),
    Case("run run_timeout", RUN, 2, "run_timeout", toml('run_timeout = "soon"\n')),
    Case(
        "run job setting",
        RUN,
        2,
        "job a: setting AUTOTHROTTLE_ENABLED",
        toml(JOB + '[jobs.a.settings]\nAUTOTHROTTLE_ENABLED = "maybe"\n'),
    ),
    Case("run missing config", ["run", *DB, "--config", "{tmp}/missing.toml"], 2, "missing.toml"),
    # demo
    Case("demo unknown option", ["demo", "--no-such-option"], 2, "unrecognized arguments"),
    # parse
    Case("parse missing file", ["parse", "{tmp}/nope.html", "--url", PAGE_URL], 2, "nope.html"),
    Case("parse without --url", ["parse", str(PAGE)], 2, "--url"),
    Case("parse bad --now", ["parse", str(PAGE), "--url", PAGE_URL, "--now", "teatime"], 2, "teatime"),
    # export
    Case("export missing db", ["export", *DB, "--table", "articles"], 2, "no database at"),
    Case("export not SQLite", ["export", "--db", "{tmp}/x.db", "--table", "rates"], 2, "not an SQLite", not_sqlite),
    Case("export old schema", ["export", "--db", "{tmp}/x.db", "--table", "rates"], 2, "schema version 1", old_schema),
    Case(
        "export bad table",
        ["export", "--db", "{tmp}/x.db", "--table", "nope", "--output", "{tmp}/out.jsonl"],
        2,
        "cannot export 'nope'",
        current_schema,
    ),
    Case(
        "export bad --since",
        ["export", "--db", "{tmp}/x.db", "--table", "rates", "--since", "soon", "--output", "{tmp}/out.jsonl"],
        2,
        "not a date",
        current_schema,
    ),
    Case(
        "export into a missing directory",
        ["export", "--db", "{tmp}/x.db", "--table", "rates", "--output", "{tmp}/missing/out.jsonl"],
        2,
        "cannot write",
        current_schema,
    ),
    Case("export bad format", ["export", *DB, "--table", "rates", "--format", "xml"], 2, "--format"),
    # status
    Case("status missing db", ["status", *DB], 2, "no database at"),
    Case("status not SQLite", ["status", "--db", "{tmp}/x.db"], 2, "not an SQLite database", not_sqlite),
    Case("status old schema", ["status", "--db", "{tmp}/x.db"], 2, "older than this program", old_schema),
    Case("status --limit 0", ["status", *DB, "--limit", "0"], 2, "--limit"),
    Case("status bad config", ["status", *DB, "--config", "{tmp}/c.toml"], 2, "jobs must be", toml("jobs = 5\n")),
    # serve
    Case("serve missing db", ["serve", *DB], 2, "no database at"),
    Case("serve not SQLite", ["serve", "--db", "{tmp}/x.db"], 2, "not an SQLite database", not_sqlite),
    Case("serve bad port", ["serve", *DB, "--port", "0"], 2, "--port"),
    # backfill
    Case("backfill without a depth", ["backfill", *DB, *SITE], 2, "backfill takes --pages N or --until DATE"),
    Case("backfill bad --until", ["backfill", *DB, *SITE, "--until", "someday"], 2, "--until"),
    Case("backfill --pages 0", ["backfill", *DB, *SITE, "--pages", "0"], 2, "--pages"),
    # reparse
    Case("reparse missing db", ["reparse", *DB], 2, "need both"),
    Case(
        "reparse bad --since",
        ["reparse", "--db", "{tmp}/x.db", "--since", "soon"],
        2,
        "not a date",
        both(current_schema, a_file("x.archive.db")),
    ),
    Case(
        "reparse not SQLite",
        ["reparse", "--db", "{tmp}/x.db"],
        2,
        "not an SQLite database",
        both(not_sqlite, a_file("x.archive.db")),
        untouched=False,  # the writer lock's file is made beside it, as by any writer
    ),
    # distributed mode
    Case("seed without Redis", ["seed", *DB, *SITE], 2, "distributed mode is off"),
    Case("seed --only", ["seed", *DB, *SITE, "--redis-url", DEAD_REDIS, "--only", "foo"], 2, "--only takes"),
    Case("seed --base-url", ["seed", *DB, "--redis-url", DEAD_REDIS, "--base-url", "ftp://x"], 2, "http(s) URL"),
    Case("seed --until", ["seed", *DB, *SITE, "--redis-url", DEAD_REDIS, "--until", "someday"], 2, "--until"),
    Case("seed --pages 0", ["seed", *DB, *SITE, "--redis-url", DEAD_REDIS, "--pages", "0"], 2, "--pages"),
    Case("seed bad redis_url", ["seed", *DB, *SITE, "--redis-url", "http://x"], 2, "redis_url must start"),
    Case("worker without Redis", ["worker", *DB], 2, "distributed mode is off"),
    Case("worker -s", ["worker", "--redis-url", DEAD_REDIS, "-s", "DOWNLOAD_DELAY=abc"], 2, "DOWNLOAD_DELAY"),
    Case("store without Redis", ["store", *DB], 2, "distributed mode is off"),
]


class Started(BaseException):
    """Something an error path must never reach ran in the test process."""


def refuse(what: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise Started(f"{what} started: the error was not caught before it")

    return refused


@pytest.fixture(autouse=True)
def guarded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No crawl, daemon, Datasette or worker in the test process; cwd and environment of our own."""
    monkeypatch.setattr("jobs.crawl.CrawlerProcess", refuse("a crawl"))
    monkeypatch.setattr("scheduler.Daemon.serve", refuse("the daemon"))
    monkeypatch.setattr("storage.browse.serve", refuse("Datasette"))
    monkeypatch.setattr("crawler.distributed.wait_for_redis", refuse("a worker or the store"))
    monkeypatch.setattr("cli._stop_on_signals", refuse("a worker or the store"))
    for name in ("INFORMBURO_DB", "INFORMBURO_BASE_URL", "INFORMBURO_REDIS_URL", "INFORMBURO_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a default path (data/informburo.log) would show up here


def disk(tmp: Path) -> dict[str, tuple[int, int]]:
    """What lies under ``tmp``: path → (size, mtime). SQLite's transient -wal/-shm files are left out."""
    return {
        str(p.relative_to(tmp)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(tmp.rglob("*"))
        if not p.name.endswith(("-wal", "-shm"))
    }


def one_line(err: str) -> str:
    """stderr's one line; fails on anything else (a traceback, a usage block, silence)."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("informburo: "), err
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_an_error_path_exits_with_its_code_and_one_line(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if case.setup:
        case.setup(tmp_path)
    before = disk(tmp_path)
    code = cli.main([arg.replace("{tmp}", str(tmp_path)) for arg in case.argv])
    err = capsys.readouterr().err
    assert code == case.code, err
    assert case.says in one_line(err)
    if case.untouched:
        assert disk(tmp_path) == before, "an error of usage touched the disk"


def test_another_writer_holding_the_lock_exits_75(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    lock = WriterLock(db, timeout=1)
    holder = threading.Thread(target=lock.acquire)  # another thread: the lock is re-entrant only within one
    holder.start()
    holder.join()
    try:
        code = cli.main(["crawl", "--db", str(db), *SITE, "-s", "INFORMBURO_LOCK_TIMEOUT=0.2"])
    finally:
        lock.release()
    assert code == cli.EXIT_LOCKED
    assert (
        one_line(capsys.readouterr().err) == f"informburo: another collection is writing to {db}; gave up after 0.2 s"
    )
    assert not db.exists()


def test_a_crash_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    current_schema(tmp_path)

    def on_fire(*args: Any) -> Any:
        raise RuntimeError("disk on fire\nand more")

    monkeypatch.setattr("storage.ledger.recent_runs", on_fire)
    assert cli.main(["status", "--db", str(tmp_path / "x.db")]) == cli.EXIT_FAILED
    assert one_line(capsys.readouterr().err) == "informburo: RuntimeError: disk on fire and more"


def test_ctrl_c_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    current_schema(tmp_path)

    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("storage.export.write_export", interrupted)
    assert cli.main(["export", "--db", str(tmp_path / "x.db"), "--table", "rates"]) == cli.EXIT_INTERRUPTED
    assert one_line(capsys.readouterr().err) == "informburo: interrupted"


class ClosedPipe:
    """Standard output whose reader has gone (``| head``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_stops_early_is_not_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["parse", str(PAGE), "--url", PAGE_URL]) == cli.EXIT_OK
    assert capsys.readouterr().err == ""


def test_every_documented_command_and_exit_code_has_its_error_paths() -> None:
    """A command or exit code added to the README without an error path here fails this."""
    assert readme_commands() <= {c.command for c in CASES}
    tested = {c.code for c in CASES} | {cli.EXIT_LOCKED, cli.EXIT_FAILED, cli.EXIT_INTERRUPTED}  # the tests above
    assert readme_exit_codes() - {cli.EXIT_OK} <= tested
    assert {1, 2, 3, 75} <= readme_exit_codes()  # the table was read


# --- the real command, in a child process -------------------------------------------------------


@pytest.mark.slow
def test_a_bad_setting_in_the_real_command_touches_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "x.db"
    result = informburo("crawl", "--db", str(db), "--base-url", DEAD_SITE, "-s", "DOWNLOAD_DELAY=abc")
    assert result.returncode == 2
    assert one_line(result.stderr) == "informburo: setting DOWNLOAD_DELAY: 'abc' is not a number"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_daemon_refuses_a_bad_schedule_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(JOB + 'jitter = "abc"\n', encoding="utf-8")
    result = informburo("run", "--db", str(tmp_path / "d.db"), "--config", str(tmp_path / "c.toml"), timeout=30)
    assert result.returncode == 2
    assert "jitter must be a number" in one_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # no database, no log


@pytest.mark.slow
def test_parse_into_a_closed_pipe_stops_quietly() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "cli", "parse", str(PAGE), "--url", PAGE_URL],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # `| head` that read nothing and went away
    err = child.stderr.read()
    child.stderr.close()
    assert child.wait(timeout=60) == 0, err
    assert err == ""


@pytest.mark.slow
def test_an_unreachable_site_fails_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = crawl(db, DEAD_SITE, "-s", "RETRY_TIMES=0", "-s", "LOG_LEVEL=WARNING")  # as cron runs it
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr  # Scrapy logs robots.txt's failure with one
    ours = [line for line in result.stderr.splitlines() if line.startswith("informburo: ")]
    assert len(ours) == 1 and ours[0].startswith("informburo: run 1 failed: ") and DEAD_SITE in ours[0]
    assert result.stderr.splitlines()[-1] == ours[0]


@pytest.mark.slow
def test_a_crawl_stopped_by_sigterm_exits_3_in_one_line(tmp_path: Path, mirror: MirrorServer) -> None:
    db = tmp_path / "x.db"
    command = [sys.executable, "-m", "cli", "crawl", "--db", str(db), "--base-url", mirror.url, *FAST]
    child = subprocess.Popen(
        [*command, "-s", "DOWNLOAD_DELAY=0.5", "-s", "LOG_LEVEL=CRITICAL"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(db, "SELECT status FROM crawl_runs", lambda found: [r["status"] for r in found] == ["running"], 60)
        time.sleep(1)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == cli.EXIT_INTERRUPTED, err
    assert one_line(err).startswith("informburo: run 1 interrupted: ")
