"""A plain HTTP client against the benchmark server: how fast can the server answer at all?

``python -m benchmarks.httpbench --base-url URL --urls FILE --connections 16`` fetches every
path of FILE over keep-alive connections (asyncio streams, no parsing beyond the headers)
and prints ``{"pages", "seconds", "pages_per_s", "mb_per_s"}`` as JSON. If that rate is well
above a spider's, the spider was not server-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _worker(host: str, port: int, paths: list[str], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: httpbench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[0] += 1
            counts[1] += length
    finally:
        writer.close()


async def fetch_all(base_url: str, paths: list[str], connections: int) -> dict[str, float]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    counts = [0, 0]
    start = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, paths[i::connections], counts) for i in range(connections)))
    seconds = time.perf_counter() - start
    return {
        "pages": counts[0],
        "seconds": seconds,
        "pages_per_s": counts[0] / seconds,
        "mb_per_s": counts[1] / seconds / 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--urls", required=True, help="a file of paths or URLs, one a line")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="fetch the list this many times")
    args = parser.parse_args(argv)
    with open(args.urls, encoding="utf-8") as fh:
        paths = [urlsplit(line.strip())._replace(scheme="", netloc="").geturl() for line in fh if line.strip()]
    print(json.dumps(asyncio.run(fetch_all(args.base_url, paths * args.repeat, args.connections))))


if __name__ == "__main__":
    main()
