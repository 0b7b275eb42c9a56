"""Runs ``scheduler.Daemon`` for a fixed number of runs and records its own RSS after each one.

``python -m benchmarks.daemon_driver --db DB --base-url URL --runs 200 --interval 1 [--trivial]
--out FILE`` starts the real daemon (APScheduler, one ``rates`` job on an interval trigger,
every run a child process) and stops it after ``--runs`` runs. ``--trivial`` replaces the
child's command (``scheduler.crawl_command``) with ``python -c pass``, so hundreds of runs
fit in a minute; everything the daemon itself does per run (the scheduler, the child's
pipes and relay threads, recording the jobs in the database) is unchanged. The RSS is the
daemon's own (``/proc/self/status`` VmRSS), never its children's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import scheduler
from benchmarks.common import self_rss_mb
from core.config import Config


class MeasuredDaemon(scheduler.Daemon):
    def __init__(self, config: Config, runs: int) -> None:
        super().__init__(config)
        self.runs = runs
        self.samples: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def run_job(self, name: str, task: str) -> int | None:
        start = time.perf_counter()
        code = super().run_job(name, task)
        if code is not None:
            self.samples.append(
                {
                    "run": len(self.samples) + 1,
                    "code": code,
                    "rss_mb": self_rss_mb(),
                    "seconds": time.perf_counter() - start,
                }
            )
            if len(self.samples) >= self.runs:
                self._stop.set()
        return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between fire times")
    parser.add_argument("--trivial", action="store_true", help="each run's child is `python -c pass`")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    config = Config(
        db=args.db,
        base_url=args.base_url,
        log_file=None,
        settings={"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "WARNING"},
        jobs={"rates": {"task": "rates", "trigger": "interval", "seconds": args.interval}},
    )
    if args.trivial:
        scheduler.crawl_command = lambda config, task, job=None: [sys.executable, "-c", "pass"]
    daemon = MeasuredDaemon(config, args.runs)
    start = time.perf_counter()
    code = daemon.serve()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"samples": daemon.samples, "seconds": time.perf_counter() - start, "exit": code}, fh)
    return code


if __name__ == "__main__":
    sys.exit(main())
