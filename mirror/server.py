"""A small threaded HTTP server for the mirror, bound to 127.0.0.1, with a request log.

``python -m mirror.server`` serves it on a free port until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, parse_qsl, urlsplit

from mirror.faults import RANDOM_FAULTS, answer
from mirror.site import (
    FEED_PATHS,
    RSS_PATH,
    WIDGET_PATH,
    Site,
    encode_page,
    render_article,
    render_feed,
    render_home,
    render_listing,
    render_sitemap,
    robots_txt,
    widget_answer,
    with_feed_links,
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    user_agent: str
    status: int = 0
    fault: str | None = None


class MirrorServer:
    """Serves a ``Site`` on 127.0.0.1; ``requests`` lists every request it answered.

    ``feed_links``: the feeds the home page names (``<link rel="alternate">``; none: the crawler
    must find the feed at its known paths); ``feed_paths``: where the feed answers.
    """

    def __init__(
        self,
        site: Site | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        random_faults: tuple[float, int] | None = None,
        feed_links: Sequence[str] = (RSS_PATH,),
        feed_paths: Sequence[str] = FEED_PATHS,
    ) -> None:
        self.site = site or Site.default()
        self.feed_links = tuple(feed_links)
        self.feed_paths = tuple(feed_paths)
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._fault_counts: dict[str, int] = {}
        self._random = random.Random(random_faults[1]) if random_faults else None
        self._random_share = random_faults[0] if random_faults else 0.0
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def fault_for(self, path: str) -> str | None:
        """The fault this request gets, if any (``503x1``: only the first request)."""
        with self._lock:
            fault = self.site.faults.get(path.split("?")[0])
            if fault and "x" in fault and fault.rsplit("x", 1)[1].isdigit():
                name, times = fault.rsplit("x", 1)
                seen = self._fault_counts.get(path, 0)
                self._fault_counts[path] = seen + 1
                return name if seen < int(times) else None
            if fault is None and self._random and self.site.article_at(path.split("?")[0]) is not None:
                if self._random.random() < self._random_share:
                    return self._random.choice(RANDOM_FAULTS)
            return fault

    def statuses(self, prefix: str = "/") -> list[tuple[str, int]]:
        """(path, status) of every answered request whose path starts with ``prefix``."""
        with self._lock:
            return [(r.path, r.status) for r in self.requests if r.path.startswith(prefix)]

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def start(self) -> MirrorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> MirrorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def render(self, target: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request target such as ``/novosti?page=2``."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", robots_txt(self.url).encode()
        if path in self.feed_paths and self.site.feed != "missing":
            return 200, "application/rss+xml; charset=utf-8", render_feed(self.site, self.url).encode()
        sitemap = render_sitemap(self.site, self.url, path)
        if sitemap is not None:
            return 200, *sitemap
        if path == "/":
            return 200, *encode_page(None, with_feed_links(render_home(self.site), self.feed_links))
        if path == "/novosti" or (self.site.pagination == "path" and path.startswith("/novosti/page/")):
            page_arg = path.rsplit("/", 1)[1] if "/page/" in path else parse_qs(parts.query).get("page", ["1"])[0]
            page = int(page_arg) if page_arg.isdigit() else 0
            html = render_listing(self.site, page)
            if html is not None:
                return 200, *encode_page(None, html)
        article = self.site.article_at(path)
        if article is not None:
            return 200, *encode_page(article, render_article(self.site, article, self.url))
        return 404, *encode_page(None, "<html><body><h1>404</h1></body></html>")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if urlsplit(self.path).path == WIDGET_PATH:  # the views widget's loader, by query
                    query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                    self._widget(query)
                    return
                status, ctype, body = server.render(self.path)
                self._answer(status, ctype, body)

            def do_POST(self) -> None:
                """Only the views widget's loader takes a POST (jQuery's ``.load(url, {…})``): form data."""
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
                if urlsplit(self.path).path == WIDGET_PATH:
                    self._widget(dict(parse_qsl(form, keep_blank_values=True)))
                    return
                self._answer(405, "text/html; charset=utf-8", b"<html><body>405</body></html>")

            def _widget(self, fields: dict[str, str]) -> None:
                status, fragment = widget_answer(server.site, fields, self.headers.get("X-CSRF-TOKEN"))
                self._answer(status, "text/html; charset=utf-8", fragment.encode("utf-8"))

            def _answer(self, status: int, ctype: str, body: bytes) -> None:
                method = self.command
                fault = server.fault_for(self.path)
                if fault:
                    with server._lock:
                        ua = self.headers.get("User-Agent", "")
                        server.requests.append(LoggedRequest(method, self.path, ua, -1, fault))
                    try:
                        answer(self, fault, body, ctype)
                    except OSError:  # the client gave up on a slow or broken answer: that is the point
                        self.close_connection = True
                    return
                etag = f'"{hashlib.sha1(body).hexdigest()}"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""  # unchanged since the client's copy: no body
                with server._lock:
                    server.requests.append(LoggedRequest(method, self.path, self.headers.get("User-Agent", ""), status))
                self.send_response(status)
                if status != 304:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if status in (200, 304):
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Informburo-style mirror on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    with MirrorServer(port=args.port) as server:
        print(f"Mirror at {server.url}/ (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
