"""The charts in a real browser: ``informburo serve`` on a crawled archive, pages rendered by headless Chromium.

Chromium resolves no host but 127.0.0.1, and its network log must show that the chart
pages asked nothing of any other host. Chromium is a Debian package (``.ci/run``
installs it); without it these tests skip (tests/conftest.py), and under ``make test`` the skip fails the run.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import CHROMIUM, ROOT
from tests.test_datasette import Archive, build_archive, currency_of, rate_of, sidebar_entry

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    # Nothing but this machine resolves: a page that needed a CDN would render without it.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Let the charts' data requests and drawing finish before the DOM or the screenshot is taken.
    "--virtual-time-budget=15000",
]
#: Vega-Lite's default colours for the first two series of a chart.
SERIES_COLOURS = [(0x4C, 0x78, 0xA8), (0xF5, 0x85, 0x18)]


@dataclass
class Served:
    url: str
    archive: Archive
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    archive = build_archive(tmp_path_factory.mktemp("browser") / "informburo.db")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--db", str(archive.db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/-/versions.json", timeout=2) as response:
                assert response.status == 200
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out, err = process.communicate()
                pytest.fail(f"informburo serve did not come up on {url}:\n{out}\n{err}")
            time.sleep(0.2)
    try:
        yield Served(url, archive, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def chromium(profile: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``url`` with a fresh profile; ``args`` say what to produce."""
    shutil.rmtree(profile, ignore_errors=True)
    proc = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@dataclass
class NetLog:
    page_urls: list[str]  # what the page asked for (not the browser's own housekeeping)
    connected: list[str]  # every address a TCP connection was attempted to
    sent_to: list[str]  # every address a socket actually sent bytes to


def read_net_log(path: Path) -> NetLog:
    """Chromium's network log (``--log-net-log``), reduced to what left the page and the machine."""
    text = path.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # Chromium may stop before closing the JSON
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    page_urls, connected, remote, sending = [], [], {}, set()
    for event in log["events"]:
        name, params, source = names[event["type"]], event.get("params") or {}, event["source"]["id"]
        if name == "URL_REQUEST_START_JOB" and "url" in params:
            # The page's own requests: its navigation, and whatever its HTML and scripts load (they carry its
            # origin as initiator). Chromium's background requests (updates, autofill, accounts) carry none.
            if params.get("request_type") == "main frame" or params.get("initiator", "").startswith("http"):
                page_urls.append(params["url"])
        elif name in ("TCP_CONNECT_ATTEMPT", "UDP_CONNECT") and "address" in params:
            remote[source] = params["address"]
            if name == "TCP_CONNECT_ATTEMPT":
                connected.append(params["address"])
        elif name in ("SOCKET_BYTES_SENT", "UDP_BYTES_SENT"):
            sending.add(source)
    return NetLog(page_urls, connected, sorted({remote[s] for s in sending if s in remote}))


def render(served: Served, tmp_path: Path, path: str) -> tuple[str, NetLog]:
    """The DOM of a chart page once drawn, and Chromium's network log of it."""
    net_log = tmp_path / "net.json"
    proc = chromium(tmp_path / "profile", served.url + path, f"--log-net-log={net_log}", "--dump-dom")
    return proc.stdout, read_net_log(net_log)


def chart_points(dom: str) -> list[str]:
    """The accessible labels of a chart's points: Vega writes each datum's values into its SVG."""
    svg = re.findall(r"<svg[^>]*class=\"marks\".*?</svg>", dom, re.S)
    assert svg, "no Vega SVG chart in the page"
    labels = re.findall(r'aria-roledescription="point"[^>]*aria-label="([^"]*)"', "".join(svg))
    labels += re.findall(r'aria-label="([^"]*)"[^>]*aria-roledescription="point"', "".join(svg))
    return [html.unescape(label).replace(",", "") for label in labels]


def assert_no_other_host(log: NetLog, what: str) -> list[str]:
    """The page asked nothing of any host but 127.0.0.1, and no byte left for one; its URLs."""
    urls = log.page_urls
    assert urls, "the network log recorded no request of the page"
    outside = [u for u in urls if urlsplit(u).hostname != "127.0.0.1"]
    assert not outside, f"the {what} asked other hosts: {outside}"
    assert log.connected and all(a.startswith("127.0.0.1:") for a in log.connected), log.connected
    assert all(a.startswith("127.0.0.1:") for a in log.sent_to), f"bytes left for {log.sent_to}"
    return urls


def assert_only_local(log: NetLog, served: Served) -> None:
    urls = assert_no_other_host(log, "chart page")
    assert any("/-/static-plugins/datasette_dashboards/vega.min.js" in u for u in urls)
    assert any(u.startswith(f"{served.url}/informburo.json?sql=") for u in urls), "the chart fetched no data"


def test_rates_chart_draws_every_snapshot_from_this_server_only(served: Served, tmp_path: Path) -> None:
    archive = served.archive
    code = currency_of(archive.site.rates[0])
    dom, net = render(served, tmp_path, f"/-/dashboards/rates?currency={code}")
    assert_only_local(net, served)
    points = chart_points(dom)
    expected = [f"{value:g}" for value in (*rate_of(archive.first.rates[0]), *rate_of(archive.site.rates[0]))]
    for value in expected:
        assert any(f"Tenge: {value};" in p for p in points), (value, points)
    assert len(points) == 4  # buy and sell, two runs


def test_article_views_chart_draws_both_counters_and_the_rank(served: Served, tmp_path: Path) -> None:
    archive = served.archive
    edited = archive.edited
    dom, net = render(served, tmp_path, f"/-/dashboards/article-views?url={quote(archive.url(edited), safe='')}")
    assert_only_local(net, served)
    points = chart_points(dom)
    sidebar = [sidebar_entry(s, edited) for s in (archive.first, archive.site)]
    views = [edited["views"] - 100, edited["views"]] + [int(e["views"]) for e in sidebar]
    for value in views:
        assert any(f"Views: {value};" in p for p in points), (value, points)
    for entry in sidebar:
        assert any(f"Rank: {entry['rank']}" in p for p in points), (entry["rank"], points)
    assert any(edited["title"] in p for p in points)  # the tooltip names the article


def test_rates_chart_screenshot_shows_both_series(served: Served, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium(
        tmp_path / "profile",
        served.url + "/-/dashboards/rates?currency=USD",
        f"--screenshot={shot}",
        "--window-size=1280,900",
    )
    width, height, pixels = read_png(shot)
    assert (width, height) == (1280, 900)
    colours = Counter(pixels)
    assert len(colours) > 50, "the screenshot is nearly blank"
    for colour in SERIES_COLOURS:
        assert colours[colour] > 30, f"no {colour} line or points in the screenshot"


def test_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    # Last in this module: the server goes away.
    served.process.send_signal(signal.SIGTERM)
    out, err = served.process.communicate(timeout=20)
    assert served.process.returncode == 0, err
    assert "Serving" in out and "127.0.0.1" in out


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), with zlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    assert header is not None
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = previous[i], previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels.extend(zip(line[0::channels], line[1::channels], line[2::channels], strict=True))
        previous = line
    return width, height, pixels
