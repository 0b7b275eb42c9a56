"""One writer at a time: an OS file lock next to the database (``<db>.lock``).

A cron ``informburo crawl`` and a daemon run against the same database take the
same lock, so they never write at once; the second waits, then gives up.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType


class LockTimeoutError(RuntimeError):
    """Another collection held the database for longer than we were willing to wait."""


class WriterLock:
    """An exclusive ``flock`` on ``<db>.lock``; the kernel drops it if the holder dies."""

    def __init__(self, db_path: str | Path, timeout: float) -> None:
        self.path = Path(f"{db_path}.lock")
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(
                        f"another collection is writing to {str(self.path)[:-5]}; gave up after {self.timeout:g} s"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
