"""One writer at a time: an OS file lock next to the database (``<db>.lock``).

A cron ``informburo crawl`` and a daemon run against the same database take the
same lock, so they never write at once; the second waits, then gives up.

The lock is re-entrant within one thread: a job takes it, plans the run, and the
crawl's store pipeline then takes it again without waiting on itself. Another thread
or process waits as before (``flock`` conflicts between separate opens of the file).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType


class LockTimeoutError(RuntimeError):
    """Another collection held the database for longer than we were willing to wait."""


#: (lock file, thread id) → [fd, depth] of the locks this process holds.
_HELD: dict[tuple[str, int], list[int]] = {}


class WriterLock:
    """An exclusive ``flock`` on ``<db>.lock``; the kernel drops it if the holder dies."""

    def __init__(self, db_path: str | Path, timeout: float) -> None:
        self.path = Path(f"{db_path}.lock")
        self.timeout = timeout
        self._fd: int | None = None
        self._key = (str(self.path.resolve()), threading.get_ident())

    def acquire(self) -> WriterLock:
        self._key = (str(self.path.resolve()), threading.get_ident())
        held = _HELD.get(self._key)
        if held is not None:  # this thread holds it already (a job around its crawl)
            held[1] += 1
            self._fd = held[0]
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                db = str(self.path)[:-5]
                raise OSError(exc.errno, f"{db} is read-only: cannot open its lock file ({exc.strerror})") from exc
            raise
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
        _HELD[self._key] = [fd, 1]
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        held = _HELD.get(self._key)
        if held is not None and held[1] > 1:
            held[1] -= 1
            return
        _HELD.pop(self._key, None)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
