"""Fault injection for the mirror (tests and benchmarks only): chosen paths answer badly.

``Site.faults`` maps a path to a fault name; ``NAMExN`` (e.g. ``503x1``) fails the first
N requests and then answers normally, as a transient error would. ``redirect:URL``
redirects there. ``MirrorServer(random_faults=(share, seed))`` faults a seeded share of
all article requests instead.
"""

from __future__ import annotations

import gzip
import random
import re
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler

SLOW_SECONDS = 3.0
HUGE_BYTES = 10 * 1024 * 1024
BOMB_BYTES = 64 * 1024 * 1024
#: What the soak test picks from: transient faults the next attempt or run survives, and permanent ones.
RANDOM_FAULTS = ("500", "503", "429", "reset", "truncated", "empty", "slow")

#: Inline tags nested deeper than Python's recursion limit, but not than lxml's 2,048 levels.
DEEP = 1500
#: Values no field rule can read, and the far dates that overflow Python's datetime.
HUGE_COUNT = b"99999999999999999999999"
FAR_FUTURE = b"9999-12-31T23:59:59Z"
YEAR_ONE = b"0001-01-01T00:00:00+06:00"
BAD_URL = b"http://[::1"

_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """64 MB of zeros, about 64 KB on the wire."""
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"\0" * BOMB_BYTES, compresslevel=9)
    return _BOMB


def minified(page: bytes, optional: bool = True) -> bytes:
    """The page as a minifier serves it: no ``</body>``, no ``</html>``; with ``optional``, no other
    optional end tag (``</p>``, ``</li>``, ``</head>``) and no line breaks between tags either."""
    page = page.replace(b"</body>", b"").replace(b"</html>", b"")
    if optional:
        for tag in (b"</p>", b"</li>", b"</head>"):
            page = page.replace(tag, b"")
        page = re.sub(rb">\n\s*<", b"><", page)
    return page


def hostile(page: bytes) -> bytes:
    """Every optional field of the article page made unreadable, each with another exception type.

    A far ``dateModified`` (past datetime's range), a ``@type`` that is an object (TypeError), a views
    counter past 64 bits (too large for SQLite), a lead image and a canonical link that are no
    URLs (ValueError), and title and paragraph nested deeper than Python recurses (RecursionError).
    The title, body and publication date stay readable: the article must still be stored.
    """
    page = re.sub(rb'"dateModified": "[^"]*"', b'"dateModified": "' + FAR_FUTURE + b'"', page)
    odd_type = b'<script type="application/ld+json">{"@type": {"x": 1}, "headline": 5}</script>\n'
    page = page.replace(b'<script type="application/ld+json">', odd_type + b'<script type="application/ld+json">', 1)
    page = re.sub(
        rb'(<small id="arrilot-widget-container-\d+">)[^<]*(</small>)', rb"\g<1>" + HUGE_COUNT + rb"\g<2>", page
    )
    page = re.sub(rb'(<img class="article-img" data-src=")[^"]*(")', rb"\g<1>" + BAD_URL + rb"\g<2>", page)
    page = re.sub(rb'(<link rel="canonical" href=")[^"]*(")', rb"\g<1>https://[informburo.kz/x\g<2>", page)
    page = re.sub(rb"(<h1>)(.*?)(</h1>)", lambda m: m[1] + b"<b>" * DEEP + m[2] + b"</b>" * DEEP + m[3], page, count=1)
    first_p = rb'(<div class="article">.*?<p>)(.*?)(</p>)'
    return re.sub(
        first_p, lambda m: m[1] + b"<span>" * DEEP + m[2] + b"</span>" * DEEP + m[3], page, count=1, flags=re.S
    )


#: A cookie banner where the story should be: the text a consent wall serves a crawler.
CONSENT = (
    "<p>Мы используем файлы cookie, чтобы сайт работал лучше. Продолжая пользоваться сайтом,"
    " вы даёте согласие на обработку персональных данных.</p>"
    "<p>Подробнее — в политике конфиденциальности. <button>Принять все</button></p>"
).encode()


def misleading(page: bytes, fault: str) -> bytes:
    """A page whose layers do not all tell the truth, or whose text is not what its layout says.

    ``logo-h1``: the site header gains ``<h1 class="logo">Informburo.kz</h1>`` before the story's h1;
    ``logo-only-h1``: that, and the story's h1 turned into a div (only JSON-LD and meta name the story);
    ``today-time``: the dateline is ``<time>Сегодня, 10:52</time>``, no ``datetime``;
    ``site-time-off``: the dateline names another instant than JSON-LD and meta agree on;
    ``read-also-first``: a one-line "read also" ``div.article`` before the story's;
    ``consent``: the body is a cookie-consent notice.
    """
    if fault in ("logo-h1", "logo-only-h1"):
        page = page.replace(
            b'<header class="site-header">', b'<header class="site-header"><h1 class="logo">Informburo.kz</h1>', 1
        )
        if fault == "logo-only-h1":
            page = re.sub(rb"<h1>(.*?)</h1>", rb'<div class="headline">\1</div>', page, count=1, flags=re.S)
    elif fault == "today-time":
        page = re.sub(rb"<time[^>]*>.*?</time>", "<time>Сегодня, 10:52</time>".encode(), page, count=1, flags=re.S)
    elif fault == "site-time-off":
        page = re.sub(rb'<time datetime="[^"]*"', b'<time datetime="2020-02-02T02:02:00+06:00"', page, count=1)
    elif fault == "read-also-first":
        box = '<div class="article"><p>Читайте также: <a href="/novosti/x">другая новость</a></p></div>'
        page = page.replace(b'<div class="article">', box.encode() + b'\n      <div class="article">', 1)
    elif fault == "consent":
        page = re.sub(
            rb'(<div class="article">).*?(</div>\s*<ul class="article-tags">)',
            rb"\1" + CONSENT + rb"\2",
            page,
            count=1,
            flags=re.S,
        )
    else:
        raise ValueError(f"unknown fault {fault!r}")
    return page


#: Faults ``misleading`` makes.
MISLEADING = ("logo-h1", "logo-only-h1", "today-time", "site-time-off", "read-also-first", "consent")


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
    elif fault == "short":  # declares the whole page, sends 60 % of it, and closes cleanly
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(page)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(page[: int(len(page) * 0.6)])
        handler.wfile.flush()
        handler.close_connection = True
    elif fault in ("unclosed", "minified"):  # complete pages, without the optional end tags
        _send(handler, 200, minified(page, optional=fault == "minified"), {"Content-Type": content_type})
    elif fault in MISLEADING:
        _send(handler, 200, misleading(page, fault), {"Content-Type": content_type})
    elif fault == "misdeclared-cp1251":  # windows-1251 bytes, declared UTF-8 in the header and the page
        body = page.decode("utf-8").encode("cp1251", errors="xmlcharrefreplace")
        _send(handler, 200, body, {"Content-Type": "text/html; charset=utf-8"})
    elif fault == "double-encoded":  # a CMS that read its UTF-8 as Latin-1 and wrote it out as UTF-8 again
        _send(handler, 200, page.decode("latin-1").encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})
    elif fault == "hostile":
        _send(handler, 200, hostile(page), {"Content-Type": content_type})
    elif fault == "year-one":  # the publication time is the first instant Python can hold, in UTC+6
        _send(
            handler,
            200,
            re.sub(rb'<time datetime="[^"]*"', b'<time datetime="' + YEAR_ONE + b'"', page, count=1),
            {"Content-Type": content_type},
        )
    elif fault == "classless":  # a redesign that renames every class: only the text and links stay
        _send(handler, 200, re.sub(rb' class="[^"]*"', b"", page), {"Content-Type": content_type})
    elif fault == "scripted-counters":  # the sidebar's counters filled by a script, as the article's views are
        script = rb'<script>$(this).load("/arrilot/load-widget", {"id": 1});</script>'
        _send(handler, 200, re.sub(rb'(<span class="most-read-views">)[^<]*', rb"\1" + script, page), html)
    elif fault == "year-one-everywhere":  # every layer's publication time before year 1 in UTC+6
        stamp = b'"' + YEAR_ONE + b'"'
        page = re.sub(
            rb"<time[^>]*>.*?</time>", b"<time datetime=" + stamp + b">" + YEAR_ONE + b"</time>", page, count=1
        )
        page = re.sub(rb'"datePublished": "[^"]*"', b'"datePublished": ' + stamp, page)
        page = re.sub(rb'(property="article:published_time" content=)"[^"]*"', rb"\1" + stamp, page)
        _send(handler, 200, page, {"Content-Type": content_type})
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
