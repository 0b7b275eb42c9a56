"""Fault injection for the mirror (tests and benchmarks only): chosen paths answer badly.

``Site.faults`` maps a path to a fault name; ``NAMExN`` (e.g. ``503x1``) fails the first
N requests and then answers normally, as a transient error would. ``redirect:URL``
redirects there. ``MirrorServer(random_faults=(share, seed))`` faults a seeded share of
all article requests instead.
"""

from __future__ import annotations

import gzip
import random
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler

SLOW_SECONDS = 3.0
HUGE_BYTES = 10 * 1024 * 1024
BOMB_BYTES = 64 * 1024 * 1024
#: What the soak test picks from: transient faults the next attempt or run survives, and permanent ones.
RANDOM_FAULTS = ("500", "503", "429", "reset", "truncated", "empty", "slow")

_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """64 MB of zeros, about 64 KB on the wire."""
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"\0" * BOMB_BYTES, compresslevel=9)
    return _BOMB


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answer(handler: BaseHTTPRequestHandler, fault: str, page: bytes, content_type: str) -> None:
    """Answer ``handler``'s request with ``fault``; ``page`` is the good answer it spoils."""
    html = {"Content-Type": "text/html"}
    if fault in ("500", "503", "429"):
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if fault != "500":
            headers["Retry-After"] = "1"
        _send(handler, int(fault), b"<html><body>try later</body></html>", headers)
    elif fault == "slow":
        time.sleep(SLOW_SECONDS)
        _send(handler, 200, page, {"Content-Type": content_type})
    elif fault == "reset":
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page[: len(page) // 3])
        handler.wfile.flush()
        # SO_LINGER 0: close with a TCP reset, mid-body
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True
    elif fault == "truncated":
        _send(handler, 200, page[: int(len(page) * 0.4)], {"Content-Type": content_type})
    elif fault == "binary":
        _send(handler, 200, random.Random(handler.path).randbytes(20_000), html)
    elif fault == "empty":
        _send(handler, 200, b"", {"Content-Type": "text/html; charset=utf-8"})
    elif fault == "pdf":
        _send(
            handler, 200, b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", {"Content-Type": "application/pdf"}
        )
    elif fault == "redirect-loop":
        _send(handler, 302, b"", {"Location": handler.path})
    elif fault.startswith("redirect:"):
        _send(handler, 302, b"", {"Location": fault.removeprefix("redirect:")})
    elif fault == "huge":
        filler = b"<p>" + b"x" * 1000 + b"</p>\n"
        body = page.replace(b"</body>", filler * (HUGE_BYTES // len(filler)) + b"</body>")
        _send(handler, 200, body, {"Content-Type": content_type})
    elif fault == "gzip-bomb":
        _send(handler, 200, gzip_bomb(), {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
    elif fault == "nested":
        body = page.replace(b"<body>", b"<body>" + b"<div><span><b>" * 20_000, 1)
        _send(handler, 200, body, {"Content-Type": content_type})
    else:
        raise ValueError(f"unknown fault {fault!r}")
