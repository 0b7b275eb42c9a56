"""Counters loaded by script (issue 14): the live article's views are an async arrilot widget.

The page holds ``<small id="arrilot-widget-container-N">`` with only the script that loads
``/arrilot/load-widget``; the crawl reads that script into one request (crawler/pages/widget.py),
fetches it as a follow-up of the page and stores the number it answers. A widget that cannot be
loaded costs the count (NULL, with its reason), never the article.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from crawler.pages import parse_article
from crawler.pages.article import VIEWS
from crawler.pages.widget import read_widget, widget_request, widget_views
from mirror.server import MirrorServer
from mirror.site import WIDGET_PATH, Site, views_widget, widget_token
from tests.conftest import crawl, rows

PAGE_URL = "https://informburo.kz/novosti/story"
TOKEN = "tok3n-abc"


def page(placeholder: str, csrf: str | None = TOKEN) -> str:
    meta = f'<meta name="csrf-token" content="{csrf}">' if csrf else ""
    return (
        f"<html><head>{meta}</head><body><h1>Заголовок</h1>"
        f'<div class="article-meta"><time datetime="2026-01-16T10:52:00+05:00">10:52</time> {placeholder}</div>'
        '<div class="article"><p>Текст.</p></div></body></html>'
    )


#: The package until 3.x: jQuery's ``.load(url, object)`` inside the container (json_encode'd data).
POST_JSON = (
    '<small id="arrilot-widget-container-7"><script type="text/javascript">var widgetTimer7 = setInterval('
    "function() {if (window.$) {$('#arrilot-widget-container-7').load('/arrilot/load-widget', "
    '{"id":7,"name":"App\\\\Widgets\\\\Views","params":"{\\"id\\":12345}","_token":"tok3n-abc"});'
    "clearInterval(widgetTimer7);}}, 100);</script></small>"
)
#: A JS literal, the script after the container, with "Loading..." as the placeholder's text.
POST_LITERAL = (
    '<small id="arrilot-widget-container-1" style="display:inline" class="arrilot-widget-container">Loading...</small>'
    '<script type="text/javascript">var widgetTimer1 = setTimeout(function(){ if (window.$) { '
    "$('#arrilot-widget-container-1').load('/arrilot/load-widget', { id: 1, name: 'App\\\\Widgets\\\\Views', "
    "params: '{\"id\":12345}' }); clearTimeout(widgetTimer1); } }, 100);</script>"
)
#: 3.x: the parameters in the URL, ``.load(url)`` is a GET.
GET_QUERY = (
    '<small id="arrilot-widget-container-3"><script type="text/javascript">var widgetTimer3 = setInterval('
    "function() {if (window.$) {$('#arrilot-widget-container-3').load('/arrilot/load-widget?id=3&name=Views"
    "&params=%7B%22id%22%3A12345%7D');clearInterval(widgetTimer3);}}, 100);</script></small>"
)
#: The package's native loader.
XHR = (
    '<small id="arrilot-widget-container-4"><script type="text/javascript">setTimeout(function() {'
    'var xhr = new XMLHttpRequest();xhr.open("GET", "/arrilot/load-widget?id=4&name=Views&params=x", true);'
    "xhr.onreadystatechange = function() {if(xhr.readyState == 4 && xhr.status == 200) {"
    'document.getElementById("arrilot-widget-container-4").innerHTML = xhr.responseText;}};xhr.send();}, 0);'
    "</script></small>"
)


# --- the spec reader, on the package's markup shapes -------------------------------------------


def test_a_load_with_an_object_is_a_post_of_its_fields_with_the_pages_token() -> None:
    spec = widget_request(page(POST_JSON), PAGE_URL, VIEWS)
    assert spec is not None
    assert (spec.url, spec.method, spec.csrf, spec.container) == (
        "https://informburo.kz/arrilot/load-widget",
        "POST",
        TOKEN,
        "arrilot-widget-container-7",
    )
    assert dict(spec.form) == {"id": "7", "name": "App\\Widgets\\Views", "params": '{"id":12345}', "_token": TOKEN}
    assert spec.headers["X-CSRF-TOKEN"] == TOKEN and spec.headers["X-Requested-With"] == "XMLHttpRequest"


def test_a_js_literal_in_a_script_after_the_container_is_read_and_gets_the_meta_token() -> None:
    spec = widget_request(page(POST_LITERAL), PAGE_URL, VIEWS)
    assert spec is not None and spec.method == "POST"
    assert dict(spec.form) == {"id": "1", "name": "App\\Widgets\\Views", "params": '{"id":12345}', "_token": TOKEN}
    assert spec.container == "arrilot-widget-container-1"


def test_without_a_csrf_meta_a_post_carries_no_token() -> None:
    literal = widget_request(page(POST_LITERAL, csrf=None), PAGE_URL, VIEWS)
    assert literal is not None and literal.csrf is None and "_token" not in dict(literal.form)
    assert "X-CSRF-TOKEN" not in literal.headers
    # the package's own data carries ``_token``: it is the token then
    in_data = widget_request(page(POST_JSON, csrf=None), PAGE_URL, VIEWS)
    assert in_data is not None and in_data.csrf == TOKEN and in_data.headers["X-CSRF-TOKEN"] == TOKEN


@pytest.mark.parametrize("markup", [GET_QUERY, XHR], ids=["jquery-load-url", "native-xhr"])
def test_a_load_of_a_url_alone_is_a_get_with_its_query(markup: str) -> None:
    spec = widget_request(page(markup), PAGE_URL, VIEWS)
    assert spec is not None and spec.method == "GET" and spec.form == ()
    assert spec.url.startswith("https://informburo.kz/arrilot/load-widget?id=")
    assert spec.headers["X-CSRF-TOKEN"] == TOKEN  # a header only: a token never goes into a URL


def test_a_get_with_an_object_puts_it_in_the_query() -> None:
    markup = (
        '<small id="arrilot-widget-container-1"></small><script>$.get("/arrilot/load-widget", '
        "{id: 1, name: 'App\\\\Widgets\\\\Views', params: '{\"id\":12345}'}, "
        "function (html) { $('#arrilot-widget-container-1').html(html); });</script>"
    )
    spec = widget_request(page(markup), PAGE_URL, VIEWS)
    assert spec is not None and spec.method == "GET"
    assert spec.url == (
        "https://informburo.kz/arrilot/load-widget?id=1&name=App%5CWidgets%5CViews&params=%7B%22id%22%3A12345%7D"
    )


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/arrilot/load-widget", "//evil.example/arrilot/load-widget", "http://informburo.kz:8080/x"],
)
def test_a_script_loading_from_another_host_gives_no_request(target: str) -> None:
    markup = POST_JSON.replace("'/arrilot/load-widget'", f"'{target}'")
    assert widget_request(page(markup), PAGE_URL, VIEWS) is None
    reason = read_widget(page(markup), PAGE_URL, VIEWS)
    assert isinstance(reason, str) and "not on the page's host" in reason


@pytest.mark.parametrize(
    "script",
    [
        "$('#arrilot-widget-container-9').load('/arrilot/load-widget', {id: 9, name: 'Views'",  # cut off
        "$('#arrilot-widget-container-9').load('/arrilot/load-widget', {id: 9 name: 'x'});",  # no comma
        "$('#arrilot-widget-container-9').html('<b>?</b>');",  # no loader call
        "$('#arrilot-widget-container-9').load(someUrl);",  # a variable, not a URL
    ],
)
def test_a_malformed_script_gives_no_request_and_a_reason(script: str) -> None:
    markup = f'<small id="arrilot-widget-container-9"><script>{script}</script></small>'
    assert widget_request(page(markup), PAGE_URL, VIEWS) is None
    assert isinstance(read_widget(page(markup), PAGE_URL, VIEWS), str)


def test_a_counter_with_its_number_needs_no_widget() -> None:
    markup = page('<small id="arrilot-widget-container-2">11 674</small>')
    assert read_widget(markup, PAGE_URL, VIEWS) is None
    assert parse_article(markup, PAGE_URL).views == "11 674"


@pytest.mark.parametrize("markup", [POST_JSON, POST_LITERAL, GET_QUERY, XHR])
def test_the_page_object_reads_no_count_from_a_widget_placeholder(markup: str) -> None:
    item = parse_article(page(markup), PAGE_URL)
    assert item.views is None and "views" not in item.problems  # the spider loads it


@pytest.mark.parametrize(
    ("answer", "raw"),
    [
        ("11674", "11674"),
        ('<i class="icon-eye"></i> <span>11\u00a0674</span>', "11 674"),  # NBSP read as a space
        ("<span>1,2 тыс.</span>", "1,2 тыс."),
        ('{"views": 532}', "532"),
        ("<span></span><script>var x = 5;</script>", None),
        ("Loading...", None),
        ("", None),
    ],
)
def test_the_widgets_answer_gives_the_counters_text(answer: str, raw: str | None) -> None:
    assert widget_views(answer) == raw


def test_a_pages_cookies_go_with_its_widget_request() -> None:
    from crawler.spiders.informburo import _page_cookies  # the spider's helper (Scrapy's cookie jar is off)

    headers = {"Set-Cookie": ["XSRF-TOKEN=abc; path=/", "laravel_session=s1; path=/; httponly"]}
    response = HtmlResponse(PAGE_URL, body=b"<html></html>", headers=headers)
    assert _page_cookies(response) == "XSRF-TOKEN=abc; laravel_session=s1"


def test_the_mirror_renders_every_loader_shape_so_the_reader_reads_it() -> None:
    article = {"slug": "a-story", "views_widget": "post"}
    for style in ("post", "get", "xhr", "sibling"):
        article["views_widget"] = style
        meta, placeholder = views_widget(article, 42)
        spec = widget_request(page(placeholder, csrf=widget_token(article)), PAGE_URL, VIEWS)
        assert spec is not None and spec.method == ("GET" if style in ("get", "xhr") else "POST"), style
        params = dict(spec.form).get("params") or spec.url
        assert "a-story" in params and meta


# --- crawls against the mirror ----------------------------------------------------------------


def widget_articles(site: Site, styles: tuple[str, ...] = ("post", "get", "sibling")) -> list[dict]:
    """The first articles with a plain layout, their counters turned into live widgets."""
    plain = [a for a in site.articles if not a.get("variant") and isinstance(a.get("views"), int)]
    chosen = [a for a in plain if not a.get("views_widget")][: len(styles)]
    for article, style in zip(chosen, styles, strict=True):
        article["views_widget"] = style
    return chosen


def all_widgets(site: Site) -> list[dict]:
    """Every article whose counter a script loads: the mirror's own (its default site serves three, as
    the live site serves them all) and those a test turned."""
    return [a for a in site.articles if a.get("views_widget")]


def method(article: dict) -> str:
    return "GET" if article["views_widget"] in ("get", "xhr") else "POST"


def test_the_default_mirror_serves_live_widgets_in_three_styles(site: Site) -> None:
    assert sorted(a["views_widget"] for a in all_widgets(site)) == ["get", "post", "xhr"]


@pytest.mark.slow
def test_a_widget_article_stores_the_count_its_widget_answers_one_request_each(site: Site, db: Path) -> None:
    widget_articles(site)
    chosen = all_widgets(site)
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "--only", "articles")
        widget_calls = mirror.statuses(WIDGET_PATH)
        methods = sorted(r.method for r in mirror.requests if r.path.startswith(WIDGET_PATH))
        urls = {a["slug"]: mirror.url + site.path_of(a) for a in chosen}
    assert result.returncode == 0, result.stderr
    for article in chosen:
        stored = rows(db, "SELECT views, sources FROM articles WHERE url = ?", (urls[article["slug"]],))
        assert stored and stored[0]["views"] == article["views"], article["views_widget"]
        assert json.loads(stored[0]["sources"])["views"] == "widget"
    # one request per widget, each answered (the POSTs carried the page's token: 403 otherwise)
    assert len(widget_calls) == len(chosen) and all(status == 200 for _, status in widget_calls)
    assert methods == sorted(method(a) for a in chosen) and len(set(methods)) == 2
    assert rows(db, "SELECT * FROM crawl_errors") == []
    assert rows(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]


@pytest.mark.slow
def test_a_failing_widget_costs_the_count_never_the_article(site: Site, db: Path) -> None:
    widget_articles(site, ("post", "xhr"))
    chosen = all_widgets(site)
    site.faults[WIDGET_PATH] = "500"  # every widget request fails
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "--only", "articles", "-s", "INFORMBURO_RETRY_BACKOFF=0")
        urls = [mirror.url + site.path_of(a) for a in chosen]
        calls = mirror.paths()
    assert result.returncode == 0, result.stderr
    for url in urls:
        stored = rows(db, "SELECT title, views FROM articles WHERE url = ?", (url,))
        assert len(stored) == 1 and stored[0]["title"] and stored[0]["views"] is None
    errors = rows(db, "SELECT url, stage, reason FROM crawl_errors")
    assert sorted((e["url"], e["stage"], e["reason"]) for e in errors) == sorted(
        (url, "parse", "views: widget /arrilot/load-widget failed: HTTP 500") for url in urls
    )
    assert sum(path.startswith(WIDGET_PATH) for path in calls) == 2 * len(chosen)  # one retry each, then given up
    assert rows(db, "SELECT status FROM crawl_runs") == [{"status": "ok"}]


@pytest.mark.slow
def test_a_widget_answering_no_number_is_recorded(site: Site, db: Path) -> None:
    (empty,) = widget_articles(site, ("get",))
    empty["views"] = None  # its widget answers, with no number in it
    with MirrorServer(site) as mirror:
        result = crawl(db, mirror.url, "--only", "articles")
        url = mirror.url + site.path_of(empty)
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT views FROM articles WHERE url = ?", (url,)) == [{"views": None}]
    errors = rows(db, "SELECT url, reason FROM crawl_errors")
    assert len(errors) == 1 and errors[0]["url"] == url
    assert errors[0]["reason"].startswith("views: widget /arrilot/load-widget failed: the answer holds no number")


@pytest.mark.redis
@pytest.mark.slow
def test_in_distributed_mode_the_article_travels_with_its_widgets_answer(tmp_path: Path, site: Site) -> None:
    from mirror.redis_server import RedisServer
    from tests.test_distributed import Cluster, run_done

    widget_articles(site, ("post", "get"))
    chosen = all_widgets(site)
    db = tmp_path / "distributed.db"
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        with MirrorServer(site) as mirror:
            cluster = Cluster(tmp_path, redis_server.url, db, mirror.url)
            try:
                cluster.start("worker-1", "worker")
                cluster.start("store", "store")
                run = run_done(db, cluster.seed())
            finally:
                cluster.stop_all()
            urls = {a["slug"]: mirror.url + site.path_of(a) for a in chosen}
            calls = mirror.statuses(WIDGET_PATH)
    finally:
        redis_server.stop()
    assert run["status"] == "ok", cluster.log("worker-1")
    for article in chosen:
        assert rows(db, "SELECT views FROM articles WHERE url = ?", (urls[article["slug"]],)) == [
            {"views": article["views"]}
        ]
    assert len(calls) == len(chosen) and all(status == 200 for _, status in calls)
