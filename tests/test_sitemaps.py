"""Feeds and sitemaps: which feeds a page names, what a sitemap or robots.txt lists, how the spider
walks the sitemaps, and a crawl that reads the feed the home page names (or its known paths)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.utils.test import get_crawler

from core.plan import RunPlan, Walk
from crawler.pages.feed import feed_links, parse_feed
from crawler.pages.sitemap import (
    INDEX,
    URLSET,
    SitemapEntry,
    older_than,
    parse_sitemap,
    sitemaps_in_robots,
)
from crawler.spiders.informburo import InformburoSpider
from mirror.server import MirrorServer
from mirror.site import DISALLOWED, FEED_SIZE, Site
from tests.conftest import crawl, rows

SITE = "https://informburo.kz"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def index(*entries: tuple[str, str | None]) -> bytes:
    body = "".join(
        f"<sitemap><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</sitemap>"
        for loc, mod in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {NS}>{body}</sitemapindex>'.encode()


def urlset(*entries: tuple[str, str | None]) -> bytes:
    body = "".join(
        f"<url><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>" for loc, mod in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>{body}</urlset>'.encode()


# --- the sitemap page object ---------------------------------------------------------------------


def test_an_index_lists_its_sitemaps_on_the_site_newest_first() -> None:
    page = parse_sitemap(
        index(
            (f"{SITE}/sitemaps/articles/2.xml", "2025-12-01"),
            (f"{SITE}/sitemaps/articles/1.xml.gz", "2026-01-16T05:52:00Z"),  # UTC: 10:52 in Astana
            ("https://kazinform.kz/sitemap.xml", "2026-01-17"),  # another host: never followed
            (f"{SITE}/sitemap-news.xml", None),  # undated: nothing says it is old
            ("https://www.informburo.kz/sitemaps/articles/3.xml", "2024-02-01T00:00:00+06:00"),
        ),
        f"{SITE}/sitemap.xml",
    )
    assert page.kind == INDEX and page.articles == []
    assert [(e.url, e.lastmod) for e in page.sitemaps] == [
        (f"{SITE}/sitemap-news.xml", None),
        (f"{SITE}/sitemaps/articles/1.xml.gz", "2026-01-16T10:52:00+05:00"),
        (f"{SITE}/sitemaps/articles/2.xml", "2025-12-01T00:00:00+05:00"),
        (f"{SITE}/sitemaps/articles/3.xml", "2024-02-01T00:00:00+06:00"),  # www. is the same site
    ]
    assert page.skipped == 1


def test_a_urlset_keeps_only_the_sites_article_pages_each_once() -> None:
    page = parse_sitemap(
        urlset(
            (f"{SITE}/stati/old-story", "2025-03-01T12:00:00+05:00"),
            (f"{SITE}/novosti/new-story/?utm_source=sitemap", "2026-01-16T10:52:00+05:00"),
            (f"{SITE}/novosti/new-story", "2026-01-16T10:52:00+05:00"),  # the same page, spelled otherwise
            (f"{SITE}/tags/astana", None),  # not an article
            (f"{SITE}/about", None),
            ("https://kazinform.kz/novosti/partner-story", None),  # another host
            ("ftp://informburo.kz/novosti/x", None),
            (f"{SITE}/interview/undated", None),
            (f"{SITE}/cards/bad-date", "last tuesday"),  # an unreadable date is no date
        ),
        f"{SITE}/sitemaps/articles/1.xml",
    )
    assert page.kind == URLSET and page.sitemaps == []
    assert [(e.url, e.lastmod) for e in page.articles] == [
        (f"{SITE}/interview/undated", None),
        (f"{SITE}/cards/bad-date", None),
        (f"{SITE}/novosti/new-story", "2026-01-16T10:52:00+05:00"),
        (f"{SITE}/stati/old-story", "2025-03-01T12:00:00+05:00"),
    ]
    assert page.skipped == 4


def test_a_news_sitemap_dates_each_article_by_its_publication() -> None:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset {NS} {NEWS_NS}>
  <url><loc>{SITE}/novosti/edited</loc><lastmod>2026-01-16T09:35:00+05:00</lastmod>
    <news:news><news:publication><news:name>Informburo.kz</news:name><news:language>ru</news:language></news:publication>
    <news:publication_date>2026-01-16T02:15:00Z</news:publication_date><news:title>Снег</news:title></news:news></url>
  <url><loc>{SITE}/novosti/plain</loc><lastmod>2026-01-15</lastmod></url>
</urlset>""".encode()
    edited, plain = parse_sitemap(xml, f"{SITE}/sitemap-news.xml").articles
    assert edited == SitemapEntry(f"{SITE}/novosti/edited", "2026-01-16T09:35:00+05:00", "2026-01-16T07:15:00+05:00")
    assert edited.date == "2026-01-16T07:15:00+05:00"  # published before its last edit: --until compares this
    assert plain.published_at is None and plain.date == "2026-01-15T00:00:00+05:00"
    until = "2026-01-16T08:00:00+05:00"
    assert older_than(edited, until) and older_than(plain, until)
    assert not older_than(SitemapEntry(f"{SITE}/novosti/undated"), until)


def test_a_gzipped_sitemap_is_read_by_its_bytes_with_a_size_cap() -> None:
    xml = urlset((f"{SITE}/novosti/a", "2026-01-16"))
    for body, url in ((gzip.compress(xml), "1.xml"), (xml, "1.xml.gz")):  # a server may have decoded it already
        assert [e.url for e in parse_sitemap(body, f"{SITE}/sitemaps/articles/{url}").articles] == [f"{SITE}/novosti/a"]
    bomb = gzip.compress(urlset(*[(f"{SITE}/novosti/{n}", None) for n in range(2000)]))
    with pytest.raises(ValueError, match="larger than"):
        parse_sitemap(bomb, f"{SITE}/sitemaps/articles/2.xml.gz", max_size=len(bomb) * 2)
    with pytest.raises(ValueError, match="gzip"):
        parse_sitemap(gzip.compress(xml)[:12], f"{SITE}/sitemaps/articles/3.xml.gz")


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body><h1>404</h1></body></html>", b"Service temporarily unavailable", b"<rss><channel/></rss>"],
    ids=["empty", "html", "text", "rss"],
)
def test_what_is_not_a_sitemap_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match="sitemap"):
        parse_sitemap(body, f"{SITE}/sitemap.xml")


def test_robots_txt_names_the_sitemaps_on_the_site_only() -> None:
    robots = (
        b"User-agent: *\nDisallow: /stati/redakcionnyj-chernovik\n\n"
        b"Sitemap: https://informburo.kz/sitemap.xml\n"
        b"  sitemap: /sitemap-news.xml\n"  # relative and lower-case: read all the same
        b"SITEMAP: https://kazinform.kz/sitemap.xml\n"
        b"Sitemap: https://www.informburo.kz/sitemap.xml\n"  # the first one again
        b"# Sitemap: https://informburo.kz/commented.xml\n"
    )
    assert sitemaps_in_robots(robots, f"{SITE}/robots.txt") == [f"{SITE}/sitemap.xml", f"{SITE}/sitemap-news.xml"]
    assert sitemaps_in_robots(b"User-agent: *\nDisallow:\n", f"{SITE}/robots.txt") == []


# --- feeds -----------------------------------------------------------------------------------------


def test_the_feeds_a_page_names_are_its_rss_and_atom_alternates_on_the_site() -> None:
    head = """<html><head>
      <link rel="canonical" href="https://informburo.kz/">
      <link rel="alternate" hreflang="kk" href="https://informburo.kz/kaz">
      <link rel="alternate" type="application/rss+xml" title="RSS" href="/xml/rss.xml">
      <link rel="Alternate Feed" type="application/atom+xml; charset=utf-8" href="https://www.informburo.kz/atom.xml">
      <link rel="alternate" type="application/rss+xml" href="https://kazinform.kz/rss.xml">
      <link rel="alternate" type="application/rss+xml" href="http://informburo.kz/xml/rss.xml">
      <link rel="stylesheet" type="application/rss+xml" href="/not-a-feed.xml">
    </head><body></body></html>"""
    assert feed_links(head, f"{SITE}/") == [f"{SITE}/xml/rss.xml", f"{SITE}/atom.xml"]
    assert feed_links("<html><head><title>x</title></head></html>", f"{SITE}/") == []


def test_an_atom_feed_gives_its_entries_links_and_times() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Informburo.kz</title>
  <entry><title>A</title><link rel="alternate" href="https://informburo.kz/novosti/a"/>
    <published>2026-01-16T05:52:00Z</published><updated>2026-01-16T07:00:00Z</updated></entry>
  <entry><title>B</title><link href="https://informburo.kz/stati/b"/><updated>2026-01-15T10:00:00+05:00</updated></entry>
  <entry><title>No link</title><link rel="enclosure" href="https://informburo.kz/img.jpg"/></entry>
</feed>"""
    assert [(e.url, e.published_at) for e in parse_feed(atom)] == [
        ("https://informburo.kz/novosti/a", "2026-01-16T10:52:00+05:00"),
        ("https://informburo.kz/stati/b", "2026-01-15T10:00:00+05:00"),
    ]


# --- the spider's sitemap walk, without a network -----------------------------------------------------


def walking_spider(until: str | None = None, known: set[str] = frozenset()) -> InformburoSpider:
    crawler = get_crawler(InformburoSpider, settings_dict={"INFORMBURO_BASE_URL": SITE})
    walk = Walk(max_pages=100_000, may_stop_early=False, until=until, sitemaps=True)
    plan = RunPlan(parts=["articles"], base_url=SITE, walk=walk, known_urls=set(known))
    spider = InformburoSpider.from_crawler(crawler, plan=plan)
    crawler.spider = spider
    return spider


def answer(request: Request, body: bytes) -> Response:
    cls = TextResponse if request.url.endswith(".txt") else Response
    return cls(url=request.url, body=body, request=request)


def test_a_sitemap_walk_reads_robots_txt_then_one_sitemap_at_a_time_newest_first() -> None:
    until = "2026-01-10T00:00:00+05:00"
    spider = walking_spider(until, known={f"{SITE}/novosti/stored"})
    (robots,) = spider.seed_requests(spider.plan.seed())  # no home page, feed or listing in a sitemap walk
    assert robots.url == f"{SITE}/robots.txt"
    (first,) = spider.parse_robots(answer(robots, b"User-agent: *\nSitemap: https://informburo.kz/sitemap.xml\n"))
    assert first.url == f"{SITE}/sitemap.xml" and first.meta["start_page"]
    root = index(
        (f"{SITE}/sitemaps/articles/2.xml", "2026-01-09T23:00:00+05:00"),  # before --until: passed over
        (f"{SITE}/sitemaps/articles/1.xml.gz", "2026-01-16"),
        (f"{SITE}/sitemap-news.xml", "2026-01-16T10:52:00+05:00"),
    )
    (news,) = spider.parse_sitemap(answer(first, root))
    assert news.url == f"{SITE}/sitemap-news.xml" and not news.meta["start_page"]
    listed = urlset(
        (f"{SITE}/novosti/stored", "2026-01-16"),  # stored already: not fetched again
        (f"{SITE}/novosti/new", "2026-01-16"),
        (f"{SITE}/novosti/old", "2026-01-02"),  # before --until
        (f"{SITE}/sitemap.xml", None),  # not an article
    )
    out = list(spider.parse_sitemap(answer(news, listed)))
    assert [r.url for r in out] == [f"{SITE}/novosti/new", f"{SITE}/sitemaps/articles/1.xml.gz"]
    article, following = out
    assert article.callback.__name__ == "parse_article" and following.priority < article.priority
    assert spider.crawler.stats.get_value("informburo/sitemap_articles") == 1
    assert list(spider.parse_sitemap(answer(following, gzip.compress(listed)))) == []  # the walk ends there


def test_an_unreadable_first_sitemap_is_recorded_and_the_walk_goes_on() -> None:
    spider = walking_spider()
    (robots,) = spider.seed_requests(spider.plan.seed())
    named = b"Sitemap: /sitemap.xml\nSitemap: /sitemap-news.xml\n"
    (first,) = spider.parse_robots(answer(robots, named))
    error, following = spider.parse_sitemap(answer(first, b"<html><body>Bad gateway</body></html>"))
    assert error.url == f"{SITE}/sitemap.xml" and "sitemap" in error.reason
    assert spider.crawler.stats.get_value("informburo/start_failed")  # the run fails, as at a first listing page
    assert following.url == f"{SITE}/sitemap-news.xml"
    # robots.txt that names no sitemap: the index at its usual path
    (fallback,) = walking_spider().parse_robots(answer(robots, b"User-agent: *\nDisallow:\n"))
    assert fallback.url == f"{SITE}/sitemap.xml"


# --- the mirror, and a crawl of it ------------------------------------------------------------------


def test_the_mirror_names_its_feed_and_its_sitemaps(site: Site) -> None:
    with MirrorServer(site) as mirror:
        home = mirror.render("/")[2].decode()
        robots = mirror.render("/robots.txt")[2]
        index_url = sitemaps_in_robots(robots, f"{mirror.url}/robots.txt")
        assert feed_links(home, f"{mirror.url}/") == [f"{mirror.url}/xml/rss.xml"]
        assert index_url == [f"{mirror.url}/sitemap.xml"]
        for path in ("/xml/rss.xml", "/rss/pubsubhubbub-feed.xml"):  # the old path still answers
            assert len(parse_feed(mirror.render(path)[2])) == 10
        root = parse_sitemap(mirror.render("/sitemap.xml")[2], index_url[0])
        paths = [e.url.removeprefix(mirror.url) for e in root.sitemaps]
        assert paths[0] == "/sitemap-news.xml" and root.skipped == 1  # the partner's sitemap
        assert paths[1:] == sorted(paths[1:], key=lambda p: int(p.split("/")[-1].split(".")[0]))
        assert sum(p.endswith(".xml.gz") for p in paths) == 1
        listed: list[str] = []
        for entry in root.sitemaps:
            status, _, body = mirror.render(entry.url.removeprefix(mirror.url))
            assert status == 200 and (body.startswith(b"\x1f\x8b") == entry.url.endswith(".gz"))
            listed += [e.url for e in parse_sitemap(body, entry.url).articles]
    assert set(listed) == {mirror.url + site.path_of(a) for a in site.articles}


@pytest.mark.slow
def test_the_crawl_reads_the_feed_the_home_page_names_else_the_known_paths(site: Site, tmp_path: Path) -> None:
    cases = {
        "named": {"feed_links": ("/feeds/main.rss",), "feed_paths": ("/feeds/main.rss",)},
        "fallback": {"feed_links": (), "feed_paths": ("/rss/pubsubhubbub-feed.xml",)},
        "named but gone": {"feed_links": ("/feeds/main.rss",), "feed_paths": ("/rss/pubsubhubbub-feed.xml",)},
    }
    fed = {site.path_of(a) for a in site.articles[:FEED_SIZE] if not site.path_of(a).startswith(DISALLOWED)}
    answers: dict[str, list[tuple[str, int]]] = {}
    for name, options in cases.items():
        with MirrorServer(site, **options) as mirror:
            result = crawl(
                tmp_path / f"{name.replace(' ', '-')}.db", mirror.url, "--only", "articles", "--max-pages", "1"
            )
            assert result.returncode == 0, result.stderr
            answers[name] = [(p, status) for p, status in mirror.statuses() if "rss" in p]
        stored = {
            r["url"].removeprefix(mirror.url)
            for r in rows(tmp_path / f"{name.replace(' ', '-')}.db", "SELECT url FROM articles")
        }
        assert fed <= stored, name  # every article of the feed, beyond the listing's first page
    assert answers["named"] == [("/feeds/main.rss", 200)]  # the named feed, and no guessing at the known paths
    # none named: the newest known path first, then the old one
    assert answers["fallback"] == [("/xml/rss.xml", 404), ("/rss/pubsubhubbub-feed.xml", 200)]
    # the named feed gone: the known paths, as when none is named
    gone = [("/feeds/main.rss", 404), ("/xml/rss.xml", 404), ("/rss/pubsubhubbub-feed.xml", 200)]
    assert answers["named but gone"] == gone
