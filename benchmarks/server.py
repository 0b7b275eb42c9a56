"""A fast server for the synthetic site: every page pre-rendered to bytes, served by asyncio on 127.0.0.1.

One event loop, keep-alive HTTP/1.1, no per-request rendering or logging, so the crawler
under test is the bottleneck, not the server (``benchmarks.httpbench`` checks that).
``/__bench/stats`` answers ``{"count", "first", "last", "bytes"}`` for the pages served
since the last ``/__bench/reset`` (times are the server's ``time.monotonic()``).

``python -m benchmarks.server --articles N`` binds a free port, renders, then prints
``READY <port> <articles>`` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from typing import Any

from benchmarks.synth import SyntheticSite

_REASONS = {200: b"OK", 404: b"Not Found"}


class Pages:
    """Pre-rendered responses, and the counters of what was served."""

    def __init__(self) -> None:
        self.responses: dict[bytes, tuple[bytes, bytes]] = {}
        self.not_found = self._response(404, "text/html", b"<html><body><h1>404</h1></body></html>")
        self.reset()

    @staticmethod
    def _response(status: int, ctype: str, body: bytes) -> tuple[bytes, bytes]:
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            status,
            _REASONS[status],
            ctype.encode(),
            len(body),
        )
        return head, body

    def add(self, path: str, status: int, ctype: str, body: bytes) -> None:
        self.responses[path.encode("ascii")] = self._response(status, ctype, body)

    def reset(self) -> None:
        self.count = 0
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None

    def stats(self) -> dict[str, Any]:
        return {"count": self.count, "first": self.first, "last": self.last, "bytes": self.bytes}

    def answer(self, target: bytes) -> tuple[bytes, bytes]:
        if target.startswith(b"/__bench/"):
            if target == b"/__bench/reset":
                self.reset()
            return self._response(200, "application/json", json.dumps(self.stats()).encode())
        response = self.responses.get(target, self.not_found)
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        self.bytes += len(response[1])
        return response


class HttpProtocol(asyncio.Protocol):
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            request, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            line, _, headers = request.partition(b"\r\n")
            parts = line.split(b" ")
            target = parts[1] if len(parts) >= 2 else b"/"
            head, body = self.pages.answer(target)
            assert self.transport is not None
            self.transport.write(head)
            self.transport.write(body)
            if b"connection: close" in headers.lower():
                self.transport.close()
                return


def render_site(site: SyntheticSite, pages: Pages) -> None:
    for path, status, ctype, body in site.pages():
        pages.add(path, status, ctype, body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the synthetic site on 127.0.0.1 (prints READY <port>).")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)
    port = sock.getsockname()[1]
    site = SyntheticSite(args.articles, seed=args.seed, base_url=f"http://127.0.0.1:{port}")
    pages = Pages()
    render_site(site, pages)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: HttpProtocol(pages), sock=sock)
        print(f"READY {port} {args.articles}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
