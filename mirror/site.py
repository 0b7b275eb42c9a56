"""Renders the mirror's pages from ``content/*.json``: home, listing, articles, robots.txt."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

CONTENT = Path(__file__).parent / "content"
PER_PAGE = 6
#: The one path we link to that robots.txt forbids.
DISALLOWED = "/stati/redakcionnyj-chernovik"

MONTHS = {
    "ru": [
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
    ],
    "kk": [
        "қаңтар",
        "ақпан",
        "наурыз",
        "сәуір",
        "мамыр",
        "маусым",
        "шілде",
        "тамыз",
        "қыркүйек",
        "қазан",
        "қараша",
        "желтоқсан",
    ],
}


@lru_cache(maxsize=1)
def load_content() -> dict[str, Any]:
    articles = json.loads((CONTENT / "articles.json").read_text(encoding="utf-8"))["articles"]
    widgets = json.loads((CONTENT / "widgets.json").read_text(encoding="utf-8"))
    return {"articles": articles, **widgets}


@dataclass
class Site:
    """The mirror's content; ``articles`` newest first. Tests may edit a copy."""

    articles: list[dict[str, Any]] = field(default_factory=list)
    most_read: list[dict[str, str]] = field(default_factory=list)
    rates: list[dict[str, str]] = field(default_factory=list)
    #: A feed entry on another host, which must never be followed.
    partner_url: str = "https://kazinform.kz/novosti/partner-story"
    #: Paths still listed but answering 404 (a dead link).
    gone: set[str] = field(default_factory=set)
    #: The RSS feed: "ok", "missing" (404) or "broken" (not XML).
    feed: str = "ok"
    #: Paths served but left out of the listing and the feed (a page the listing moved past).
    unlisted: set[str] = field(default_factory=set)
    #: Path → fault name (mirror/faults.py): tests make chosen pages answer badly.
    faults: dict[str, str] = field(default_factory=dict)
    #: A second most-read list and a second rates table after the first ones (a template that
    #: renders a widget twice); empty: none.
    second_most_read: list[dict[str, str]] = field(default_factory=list)
    second_rates: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def default(cls) -> Site:
        content = json.loads(json.dumps(load_content()))  # a private copy
        articles = sorted(content["articles"], key=lambda a: a["published"], reverse=True)
        return cls(articles=articles, most_read=content["most_read"], rates=content["rates"])

    def path_of(self, article: dict[str, Any]) -> str:
        return f"/{article['section']}/{article['slug']}"

    def article_at(self, path: str) -> dict[str, Any] | None:
        if path in self.gone:
            return None
        for article in self.articles:
            if self.path_of(article) == path:
                return article
        return None

    @property
    def listing_pages(self) -> int:
        return max(1, -(-len(self.articles) // PER_PAGE))


FEED_PATH = "/rss/pubsubhubbub-feed.xml"
FEED_SIZE = 10


def render_feed(site: Site, base_url: str) -> str:
    """The RSS feed of the newest articles (RFC 822 dates, as the site's feed gives them)."""
    if site.feed == "broken":
        return "<html><body>Service temporarily unavailable</body>"
    items = "\n".join(
        f"""  <item><title>{escape(a["title"])}</title><link>{base_url}{site.path_of(a)}</link>
    <guid>{base_url}{site.path_of(a)}</guid><pubDate>{format_datetime(datetime.fromisoformat(a["published"]))}</pubDate></item>"""
        for a in [a for a in site.articles if site.path_of(a) not in site.unlisted][:FEED_SIZE]
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Informburo.kz</title><link>{base_url}/</link>
  <description>Новости Казахстана</description>
{items}
</channel></rss>
"""


def robots_txt() -> str:
    return f"User-agent: *\nDisallow: {DISALLOWED}\n"


def _date_text(stamp: str, lang: str) -> str:
    dt = datetime.fromisoformat(stamp)
    return f"{dt:%H:%M}, {dt.day} {MONTHS.get(lang, MONTHS['ru'])[dt.month - 1]} {dt.year}"


def _most_read(entries: list[dict[str, str]]) -> str:
    """One most-read list; an entry's ``link_html`` (raw markup) stands for its escaped ``link_text``."""
    items = "\n".join(
        f"""      <li class="most-read-item"><span class="most-read-rank">{escape(e["rank"])}</span><a class="most-read-link" href="{escape(e["href"])}">{e.get("link_html") or escape(e["link_text"])}</a>
        <div class="most-read-stats"><span class="most-read-views">{escape(e["views"])}</span><span class="most-read-comments">{escape(e["comments"])}</span><span class="most-read-reactions">{escape(e["reactions"])}</span></div></li>"""
        for e in entries
    )
    return f"""    <section class="most-read"><h3>Самое читаемое</h3>
    <ol class="most-read-list">
{items}
    </ol></section>"""


def _rates(rates: list[dict[str, str]]) -> str:
    rows = "\n".join(
        f'      <tr><td class="currency-code">{escape(r["code"])}</td><td class="currency-value">{escape(r["value"])}</td></tr>'
        for r in rates
    )
    return f"""    <section class="currency-rates"><h3>Курсы валют</h3>
    <table class="currency-rates-table">
{rows}
    </table></section>"""


def _sidebar(site: Site) -> str:
    widgets = [_most_read(site.most_read)]
    widgets += [_most_read(site.second_most_read)] if site.second_most_read else []
    widgets += [_rates(site.rates)]
    widgets += [_rates(site.second_rates)] if site.second_rates else []
    body = "\n".join(widgets)
    return f"""  <aside class="uk-width-1-3@m">
{body}
  </aside>"""


def _page(title: str, main: str, site: Site, *, lang: str = "ru", head: str = "", charset: str = "utf-8") -> str:
    declaration = (
        '<meta charset="utf-8">'
        if charset == "utf-8"
        else f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    )
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
  {declaration}
  <title>{escape(title)} | Informburo.kz</title>
  <script>window.dataLayer = window.dataLayer || [];</script>
{head}</head>
<body>
<header class="site-header"><a href="/">Informburo.kz</a>
  <nav><a href="/novosti">Новости</a> <a href="/stati">Статьи</a> <a href="/cards">Карточки</a> <a href="/interview">Интервью</a> <a href="/about">О нас</a></nav>
</header>
<div class="uk-grid">
  <div class="uk-width-2-3@m">
{main}
  </div>
{_sidebar(site)}
</div>
<footer>© Informburo.kz <a href="https://t.me/informburo">Telegram</a></footer>
</body>
</html>
"""


def render_home(site: Site) -> str:
    cards = "\n".join(
        f'    <div class="card"><a href="{site.path_of(a)}">{escape(a["title"])}</a></div>' for a in site.articles[:5]
    )
    return _page("Новости Казахстана", f"    <h2>Главное</h2>\n{cards}", site)


def render_listing(site: Site, page: int) -> str | None:
    """One page of ``/novosti``: date headings, entries, pagination; ``None`` past the end."""
    if not 1 <= page <= site.listing_pages:
        return None
    listed = [a for a in site.articles if site.path_of(a) not in site.unlisted]
    chunk = listed[(page - 1) * PER_PAGE : page * PER_PAGE]
    items: list[str] = []
    if page == 1 and chunk:
        items.append(_listing_entry(site, chunk[0], pinned=True))  # pinned, then again in the feed
        items.append(
            '      <li class="uk-grid"><div class="uk-width-auto"><img src="/uploads/partner.jpg" alt=""></div>'
            f'<div class="uk-width-expand"><a href="{escape(site.partner_url)}">Новости партнёров</a>'
            ' <time class="article-time">09:00</time></div></li>'
        )
    items += listing_items(site, chunk)
    active = ' class="uk-active"'
    pages = "".join(
        f'<li{active if n == page else ""}><a href="/novosti?page={n}">{n}</a></li>'
        for n in range(1, site.listing_pages + 1)
    )
    main = f"""    <h1>Новости</h1>
    <ul class="uk-nav uk-nav-default">
{chr(10).join(items)}
    </ul>
    <ul class="uk-pagination">{pages}</ul>"""
    return _page("Новости", main, site)


def listing_items(site: Site, chunk: list[dict[str, Any]]) -> list[str]:
    """The feed's ``<li>`` rows for these articles: a date heading before each new day, then the entries."""
    items: list[str] = []
    heading = None
    for article in chunk:
        day = article["published"][:10]
        if day != heading:
            heading = day
            dt = datetime.fromisoformat(article["published"])
            items.append(f'      <li><h2 class="date-heading">{dt.day} {MONTHS["ru"][dt.month - 1]}</h2></li>')
        items.append(_listing_entry(site, article))
    return items


def _listing_entry(site: Site, article: dict[str, Any], pinned: bool = False) -> str:
    tags = " ".join(f'<a href="/tags/{escape(t.lower())}">#{escape(t)}</a>' for t in article["tags"])
    css = "uk-grid pinned" if pinned else "uk-grid"
    # The pinned copy links with tracking parameters, as promoted links on the site do.
    href = site.path_of(article) + ("?utm_source=pinned&amp;utm_medium=feed" if pinned else "")
    return (
        f'      <li class="{css}"><div class="uk-width-auto"><img data-src="{escape(article["image"] or "")}" alt=""></div>'
        f'<div class="uk-width-expand"><a href="{href}">{escape(article["title"])}</a>'
        f' <time class="article-time">{article["published"][11:16]}</time>'
        f'<div class="hashtags">{tags}</div></div></li>'
    )


def _block(block: dict[str, Any]) -> str:
    noise = block.get("noise")
    if noise == "read-more":
        return f'<div class="read-more">{block["html"]}</div>'
    if noise == "figure":
        return f'<figure><img src="{escape(block["src"])}" alt=""><figcaption>{escape(block["caption"])}</figcaption></figure>'
    if noise == "script":
        return f"<script>{block['html']}</script>"
    if noise == "banner":
        return f'<div class="banner">{block["html"]}</div>'
    if noise == "iframe":
        return f'<iframe src="{escape(block["src"])}"></iframe>'
    tag = block["tag"]
    if tag is None:  # bare text (and inline markup) straight in the body's container
        return block["html"]
    if tag in ("ul", "ol"):
        return f"<{tag}>" + "".join(f"<li>{i['html']}</li>" for i in block["items"]) + f"</{tag}>"
    if tag == "blockquote":
        return f"<blockquote><p>{block['html']}</p></blockquote>"
    return f"<{tag}>{block['html']}</{tag}>"


def body_text(article: dict[str, Any]) -> str:
    """The ground truth of an article's ``body``: its text blocks, joined by a blank line."""
    texts: list[str] = []
    for block in article["blocks"]:
        if block.get("noise"):
            continue
        if block.get("tag") in ("ul", "ol"):
            texts.extend(i["text"] for i in block["items"])
        else:
            texts.append(block["text"])
    return "\n\n".join(texts)


def render_article(site: Site, article: dict[str, Any], base_url: str) -> str:
    """An article page. Optional keys of the article make the faults a site's markup may carry:
    ``canonical`` (the canonical link, with ``{base}``, ``{host}`` and ``{path}`` filled in),
    ``title_html``, ``lead_html``, ``author_html`` (raw markup for the escaped text fields),
    ``lead_in_body`` (the lead inside the body's container), and body blocks with ``"tag": null``
    (bare text)."""
    url = base_url + site.path_of(article)
    lang = article.get("lang", "ru")
    title = escape(article["title"])
    image = article.get("image")
    canonical = article.get("canonical", "{base}{path}")
    canonical = canonical.replace("{base}", base_url).replace("{host}", base_url.split("://", 1)[-1])
    meta = [
        f'  <link rel="canonical" href="{escape(canonical.replace("{path}", site.path_of(article)))}">',
        f'  <meta property="og:title" content="{title}">',
        f'  <meta property="og:url" content="{url}">',
        f'  <meta property="article:published_time" content="{article["published"]}">',
        f'  <meta property="article:section" content="{article["section"]}">',
    ]
    if article.get("lead"):
        meta.append(f'  <meta property="og:description" content="{escape(article["lead"])}">')
    if image:
        meta.append(f'  <meta property="og:image" content="{base_url}{escape(image)}">')
    if article.get("modified"):
        meta.append(f'  <meta property="article:modified_time" content="{article["modified"]}">')
    meta += [f'  <meta property="article:tag" content="{escape(t)}">' for t in article["tags"]]
    variant = article.get("variant")
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article["title"],
        "datePublished": article["published"],
        "dateModified": article.get("modified") or article["published"],
        "mainEntityOfPage": url,
    }
    if variant == "meta-date":  # dates only in article:*_time meta
        del ld["datePublished"], ld["dateModified"]
    if article.get("author"):
        ld["author"] = {"@type": "Person", "name": article["author"]}
    if image:
        ld["image"] = base_url + image
    meta.append(f'  <script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')

    number = zlib.crc32(article["slug"].encode()) % 100000
    views = article.get("views")
    if isinstance(views, int):  # grouped with NBSP from 10 000, as the site prints it
        views_text = f"{views:,}".replace(",", "\u00a0") if views >= 10000 else str(views)
    else:
        views_text = views or ""
    charset = "windows-1251" if variant == "cp1251" else "utf-8"
    blocks = "\n      ".join(_block(b) for b in article["blocks"])
    if variant == "drifted":
        # A redesign: every class and tag the site's selectors know is renamed; <head> is intact.
        ld["articleBody"] = body_text(article)
        ld["keywords"] = article["tags"]
        meta[-1] = f'  <script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
        byline = f'<span class="byline">{escape(article["author"])}</span>' if article.get("author") else ""
        main = f"""    <div class="story-v2">
      <div class="headline-new">{title}</div>
      <div class="story-meta">{_date_text(article["published"], lang)} {byline}</div>
      <div class="content-v2">
      {blocks}
      </div>
    </div>"""
    else:
        # "text-date": the <time> carries only its visible text, no datetime attribute;
        # "jsonld-date" and "meta-date": no <time> at all.
        stamp = "" if variant == "text-date" else f' datetime="{article["published"]}"'
        time = f"<time{stamp}>{_date_text(article['published'], lang)}</time>"
        if variant in ("jsonld-date", "meta-date"):
            time = ""
        author_html = article.get("author_html") or escape(article["author"] or "")
        author = f'<span class="article-author">{author_html}</span>' if article.get("author") else ""
        lead_html = article.get("lead_html") or escape(article["lead"] or "")
        lead = f'<div class="article-excerpt">{lead_html}</div>' if article.get("lead") else ""
        if article.get("lead_in_body"):
            blocks, lead = f"{lead}\n      {blocks}", ""
        img = f'<img class="article-img" data-src="{escape(image)}" src="/img/placeholder.gif" alt="">' if image else ""
        tags = "".join(f'<li><a href="/tags/{escape(t.lower())}">#{escape(t)}</a></li>' for t in article["tags"])
        main = f"""    <article>
      <h1>{article.get("title_html") or title}</h1>
      <div class="article-meta">{time}
        {author} <small id="arrilot-widget-container-{number}">{views_text}</small></div>
      {img}
      {lead}
      <div class="article">
      {blocks}
      </div>
      <ul class="article-tags">{tags}</ul>
    </article>"""
    return _page(article["title"], main, site, lang=lang, head="\n".join(meta) + "\n", charset=charset)


def encode_page(article: dict[str, Any] | None, html: str) -> tuple[str, bytes]:
    """(Content-Type, bytes) as the site would send the page; "cp1251" pages name no charset in the header."""
    if article is not None and article.get("variant") == "cp1251":
        return "text/html", html.encode("cp1251", errors="xmlcharrefreplace")
    if article is not None and article.get("variant") == "cp1251-bare":  # no charset declared anywhere
        html = html.replace('<meta charset="utf-8">', "")
        return "text/html", html.encode("cp1251", errors="xmlcharrefreplace")
    return "text/html; charset=utf-8", html.encode("utf-8")
