"""The front page and search in a real browser: ``informburo serve`` on a crawled archive, headless Chromium.

As in tests/test_browser.py (whose server, Chromium and network-log helpers this reuses):
Chromium resolves no host but 127.0.0.1, and its network log must show that no page asked
anything of another host. The DOM Chromium built is compared with the database's rows. The
screenshots ``docs/images/front-page.png`` and ``docs/images/search.png`` (1280×900), shown in
docs/datasette.md, are written by these tests, so they stay current.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from storage.browse import METADATA_DATABASE, load_metadata
from tests.conftest import ROOT, rows
from tests.test_browser import (  # noqa: F401 (served: a fixture)
    NetLog,
    Served,
    assert_no_other_host,
    chromium,
    read_png,
    render,
    served,
)
from tests.test_front_page import _holds

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

IMAGES = ROOT / "docs" / "images"
#: A hyphenated place name of the mirror's articles, typed in another case, and a quoted phrase.
HYPHENATED = "Северо-Казахстанской"
OTHER_CASE = "СЕВЕРО-казахстанской"
PHRASE = '"Каспийский трубопроводный консорциум"'


@pytest.fixture(scope="module")
def db_digest(served: Served) -> str:  # noqa: F811
    """The database file's digest before any page is opened: it must not change."""
    return _digest(served.archive.db)


def _digest(db: Path) -> str:
    """The database and its write-ahead log (not the -shm index, where readers mark what they read)."""
    files = [db, db.with_name(db.name + "-wal")]
    return " ".join(hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-" for p in files)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def assert_only_local(log: NetLog, served: Served) -> None:  # noqa: F811
    assert_no_other_host(log, "page")


def screenshot(served: Served, tmp_path: Path, path: str, name: str) -> Counter:  # noqa: F811
    """Save ``docs/images/<name>`` of ``path`` at 1280×900; its colours, to see it is not blank."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    shot = IMAGES / name
    chromium(tmp_path / "profile", served.url + path, f"--screenshot={shot}", "--window-size=1280,900")
    width, height, pixels = read_png(shot)
    assert (width, height) == (1280, 900)
    colours = Counter(pixels)
    assert len(colours) > 50, f"{name} is nearly blank"
    return colours


def test_front_page_shows_the_latest_most_read_and_rates_from_the_database(
    served: Served,  # noqa: F811
    db_digest: str,
    tmp_path: Path,
) -> None:
    db = served.archive.db
    dom, net = render(served, tmp_path, "/")
    assert_only_local(net, served)
    most_read = rows(db, "SELECT * FROM most_read WHERE run_id = (SELECT max(run_id) FROM most_read) ORDER BY rank")
    section = dom.split('<section class="most-read">')[1].split("</section>")[0]
    shown = re.findall(r'<tr data-url="[^"]+">(.*?)</tr>', section, re.S)
    assert len(shown) == len(most_read) == 10
    for cells, entry in zip(shown, most_read, strict=True):
        line = _text(cells)
        assert line.startswith(f"{entry['rank']} ") and entry["title"] in line, line
        assert line.endswith(f"{entry['views']:,} {entry['comments']} {entry['reactions']}"), line
        assert "/-/article?url=" in cells
    rates = rows(db, "SELECT currency, buy, sell FROM rates WHERE run_id = (SELECT max(run_id) FROM rates)")
    side = dom.split('<section class="side">')[1].split("</section>")[0]
    for rate in rates:
        row = re.search(rf'<tr data-currency="{rate["currency"]}">(.*?)</tr>', side, re.S)
        assert row, rate
        line = _text(row.group(1))
        moved = r"[▲▼=] [+-]?\d+\.\d\d"
        assert re.fullmatch(rf"{rate['currency']} {rate['buy']:.2f} {moved} {rate['sell']:.2f} {moved}", line), line
    assert "▲ +5.10" in side  # the rate moved between the two runs
    newest = rows(db, "SELECT title FROM articles ORDER BY published_at DESC LIMIT 1")[0]["title"]
    assert newest in _text(dom.split('<section class="newest-articles">')[1])
    assert 'name="q"' in dom and "Nothing collected yet" not in dom
    colours = screenshot(served, tmp_path, "/", "front-page.png")
    assert colours[(0x1A, 0x7F, 0x37)] > 10  # the green of a rate that rose (and of the runs' "ok")


def test_search_finds_hyphenated_names_other_cases_and_quoted_phrases(served: Served, tmp_path: Path) -> None:  # noqa: F811
    archive = served.archive
    for typed, phrases in ((HYPHENATED, [HYPHENATED]), (OTHER_CASE, [HYPHENATED]), (PHRASE, [PHRASE])):
        expected = {archive.url(a) for a in archive.stored() if _holds(a, *phrases)}
        assert expected, typed
        for name in ("search", "search_newest"):
            dom, net = render(served, tmp_path, f"/{METADATA_DATABASE}/{name}?" + urlencode({"q": typed}))
            assert_only_local(net, served)
            assert "message-error" not in dom and "syntax error" not in dom and "no such column" not in dom
            table = dom.split('<table class="rows-and-columns">')[1].split("</table>")[0]
            found = {html.unescape(u) for u in re.findall(r'<td class="col-url"><a href="([^"]+)"', table)}
            assert found == expected, (typed, name)
            assert "<mark>" in table
    colours = screenshot(served, tmp_path, f"/{METADATA_DATABASE}/search?" + urlencode({"q": HYPHENATED}), "search.png")
    assert colours[(0xFF, 0xE0, 0x66)] > 20  # the marked matches


def test_every_canned_query_page_opens_without_an_error(served: Served, tmp_path: Path) -> None:  # noqa: F811
    queries = load_metadata()["databases"][METADATA_DATABASE]["queries"]
    for name, spec in queries.items():
        dom, net = render(served, tmp_path, f"/{METADATA_DATABASE}/{name}")
        assert "message-error" not in dom, name
        assert "Custom SQL query" not in dom, name
        assert f">{html.escape(spec['title'], quote=False)}</h1>" in dom, name
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in net.page_urls), (name, net.page_urls)


def test_the_server_listens_on_localhost_only_and_stays_read_only(served: Served, db_digest: str) -> None:  # noqa: F811
    port = urlsplit(served.url).port
    assert port
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == port:
                listening.append(address)
    assert listening == ["0100007F"], listening  # 127.0.0.1, and nothing else (no 0.0.0.0, no IPv6)
    assert _digest(served.archive.db) == db_digest  # no page wrote to the database
