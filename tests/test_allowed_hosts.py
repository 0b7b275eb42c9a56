"""AllowedHostsMiddleware at unit level: an https site is never fetched over http, and the refusal is recorded.

The mirror serves http only, so a real redirect from https down to http cannot be crawled
here: these tests hand Scrapy ``Request`` objects, as the redirect middleware schedules
them, to the middleware and the refusal to the spider's errback.
"""

from __future__ import annotations

import pytest
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.items import PageError
from crawler.middlewares import AllowedHostsMiddleware
from crawler.spiders.informburo import InformburoSpider

ARTICLE = "/novosti/2026-01-16-kazahstan"


def middleware(base_url: str, *, spider: bool = True) -> AllowedHostsMiddleware:
    """The middleware of a crawl of ``base_url``: with its spider (a crawl), or before one exists."""
    crawler = get_crawler(InformburoSpider, settings_dict={"INFORMBURO_BASE_URL": base_url})
    if spider:
        crawler.spider = InformburoSpider.from_crawler(crawler)
    return AllowedHostsMiddleware.from_crawler(crawler)


def redirected(url: str, origin: str) -> Request:
    return Request(url, meta={"redirect_urls": [origin]})


@pytest.mark.parametrize("spider", [True, False], ids=["spider", "settings"])
def test_an_https_site_never_follows_a_redirect_down_to_http(spider: bool) -> None:
    mw = middleware("https://informburo.kz", spider=spider)
    origin = f"https://informburo.kz{ARTICLE}"
    with pytest.raises(IgnoreRequest) as refused:
        mw.process_request(redirected(f"http://informburo.kz{ARTICLE}", origin))
    assert str(refused.value) == (
        f"refused http://informburo.kz{ARTICLE}: informburo.kz is collected over https, never over http"
        f" (redirected from {origin})"
    )
    with pytest.raises(IgnoreRequest, match="never over http"):
        mw.process_request(Request("http://informburo.kz/"))  # nor a link written http://
    assert mw.process_request(redirected(f"https://informburo.kz{ARTICLE}?x=1", origin)) is None


def test_an_https_site_on_its_own_port_is_not_downgraded_either() -> None:
    mw = middleware("https://127.0.0.1:8443")
    with pytest.raises(IgnoreRequest, match="never over http"):
        mw.process_request(redirected(f"http://127.0.0.1:8443{ARTICLE}", f"https://127.0.0.1:8443{ARTICLE}"))


@pytest.mark.parametrize("spider", [True, False], ids=["spider", "settings"])
def test_an_http_site_follows_redirects_on_its_host_as_before(spider: bool) -> None:
    mw = middleware("http://127.0.0.1:8765", spider=spider)
    origin = f"http://127.0.0.1:8765{ARTICLE}"
    assert mw.process_request(redirected(f"http://127.0.0.1:8765{ARTICLE}/", origin)) is None
    assert mw.process_request(redirected(f"https://127.0.0.1:8765{ARTICLE}", origin)) is None  # up is fine
    with pytest.raises(IgnoreRequest, match=r"only 127\.0\.0\.1:8765 over http"):
        mw.process_request(redirected(f"http://127.0.0.2:8765{ARTICLE}", origin))


def test_the_refusal_is_recorded_like_other_refused_redirects() -> None:
    crawler = get_crawler(InformburoSpider, settings_dict={"INFORMBURO_BASE_URL": "https://informburo.kz"})
    spider = InformburoSpider.from_crawler(crawler)
    crawler.spider = spider
    request = redirected(f"http://informburo.kz{ARTICLE}", f"https://informburo.kz{ARTICLE}")
    try:
        AllowedHostsMiddleware.from_crawler(crawler).process_request(request)
    except IgnoreRequest:
        failure = Failure()
    else:
        raise AssertionError("the downgrade was allowed")
    failure.request = request  # as Scrapy hands it to the errback
    [error] = list(spider.fetch_failed(failure))
    assert isinstance(error, PageError)
    assert error.stage == "fetch" and error.url == request.url
    assert error.reason.startswith(f"refused http://informburo.kz{ARTICLE}: ") and "never over http" in error.reason
