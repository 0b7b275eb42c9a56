"""Renders the mirror's pages from ``content/*.json``: home, listing, articles, robots.txt.

Besides the site's usual markup, chosen articles carry what public scrapers show of the live
site (see ``render_article``): a Kazakh ``/kaz/newskaz/`` page, an older ``.html`` URL, an AMP
copy under ``/amp/…``, a ``/cards/`` page of ``div.article-text-card`` blocks, a date only in
microdata, and the live body noise; the listing's entries and pagination are the live ones.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

CONTENT = Path(__file__).parent / "content"
#: Entries per listing page: the whole mirror fits the crawl's default three pages, with room to spare.
PER_PAGE = 8
#: Sections whose articles do not live under ``/<section>/``: Kazakh news has a language prefix.
SECTION_PATHS = {"newskaz": "/kaz/newskaz"}
#: Where an article's AMP copy lives: this prefix, then the article's own path.
AMP = "/amp"
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
    #: How listing pages link each other: ``query`` (``/novosti?page=N``) or ``path`` (``/novosti/page/N``).
    pagination: str = "query"
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
        """The article's own URL path; an older one's slug keeps its ``.html``."""
        return f"{SECTION_PATHS.get(article['section'], '/' + article['section'])}/{article['slug']}"

    def article_at(self, path: str) -> dict[str, Any] | None:
        """The article served at ``path``; for ``/amp/<its path>``, a copy of an article that has an
        AMP version (``"amp"``), marked to render as one."""
        if path in self.gone:
            return None
        amp = path.startswith(AMP + "/")
        for article in self.articles:
            if self.path_of(article) == path:
                return article
            if amp and article.get("amp") and AMP + self.path_of(article) == path:
                return {**article, "amp_copy": True}
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


def robots_txt(base_url: str | None = None) -> str:
    """robots.txt; served at ``base_url`` it names the sitemap index, as the site's does."""
    sitemap = f"\nSitemap: {base_url}{SITEMAP_INDEX}\n" if base_url else ""
    return f"User-agent: *\nDisallow: {DISALLOWED}\n{sitemap}"


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
    """The home page: the featured cards as the live site draws them (a picture, the title over it in
    ``.uk-overlay-primary``), a "Показать больше" button whose script loads more, and the widgets."""
    cards = "\n".join(
        f'    <div class="uk-inline uk-light"><a href="{site.path_of(a)}"><img data-src="{escape(a.get("image") or "")}"'
        f' alt=""></a><div class="uk-overlay-primary uk-position-bottom"><a href="{site.path_of(a)}">'
        f"{escape(a['title'])}</a></div></div>"
        for a in site.articles[:5]
    )
    more = (
        '    <button class="uk-button uk-button-default" data-page="2" onclick="loadMore(this)">Показать больше</button>'
        '<script>function loadMore(b){$.get("/novosti?page="+b.dataset.page,function(h){$(b).before(h)})}</script>'
    )
    return _page(
        "Новости Казахстана", f'    <h2>Главное</h2>\n    <div class="uk-grid">\n{cards}\n    </div>\n{more}', site
    )


def render_listing(site: Site, page: int) -> str | None:
    """One page of ``/novosti``: date headings, entries, pagination; ``None`` past the end.

    The pinned entry and the partner block keep the older entry markup (time beside the link); the
    feed's entries are the live ones (``listing_items``). Pagination is not evidenced on the live
    site, so it is no ``ul.uk-pagination`` here: a ``<link rel="next">`` in the head and plain
    ``?page=N`` links in a ``div`` of no known class.
    """
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
    last = site.listing_pages
    pages = " ".join(
        f"<span>{n}</span>" if n == page else f'<a href="{listing_href(site, n)}">{n}</a>' for n in range(1, last + 1)
    )
    after = f' <a href="{listing_href(site, page + 1)}">Следующая страница</a>' if page < last else ""
    head = f'  <link rel="next" href="{listing_href(site, page + 1)}">\n' if page < last else ""
    main = f"""    <h1>Новости</h1>
    <ul class="uk-nav uk-nav-default">
{chr(10).join(items)}
    </ul>
    <div class="news-more">{pages}{after}</div>"""
    return _page("Новости", main, site, head=head)


def listing_href(site: Site, page: int) -> str:
    """Listing page ``page`` as the site links it: ``/novosti?page=N``, or ``/novosti/page/N`` when
    ``site.pagination`` is ``"path"`` (a redesign's form the crawl must follow by ``rel=next``)."""
    if site.pagination == "path":
        return f"/novosti/page/{page}" if page > 1 else "/novosti"
    return f"/novosti?page={page}"


def listing_items(site: Site, chunk: list[dict[str, Any]]) -> list[str]:
    """The feed's ``<li>`` rows for these articles: a date heading before each new day, then the entries.

    A day of another year than the newest article's names its year, as the site does ("31 декабря 2025").
    """
    items: list[str] = []
    heading = None
    this_year = site.articles[0]["published"][:4] if site.articles else ""
    for article in chunk:
        day = article["published"][:10]
        if day != heading:
            heading = day
            dt = datetime.fromisoformat(article["published"])
            year = "" if day[:4] == this_year else f" {dt.year}"
            items.append(f'      <li><h2 class="date-heading">{dt.day} {MONTHS["ru"][dt.month - 1]}{year}</h2></li>')
        items.append(_listing_entry(site, article))
    return items


def _listing_entry(site: Site, article: dict[str, Any], pinned: bool = False) -> str:
    """One entry. The live markup (public scrapers): ``li.uk-grid.uk-grid-small.uk-margin-remove-top``,
    a thumbnail link (lazy ``img[data-src]``) before the text column, whose link holds the title as
    its own text and, inside it, the ``time.article-time`` and the hashtag line. An article with an
    AMP copy is listed by it, as the copy is what some promoted blocks link to. The pinned copy keeps
    the older markup and links with tracking parameters, as promoted links on the site do."""
    title, image, time = escape(article["title"]), escape(article["image"] or ""), article["published"][11:16]
    if pinned:
        tags = " ".join(f'<a href="/tags/{escape(t.lower())}">#{escape(t)}</a>' for t in article["tags"])
        return (
            f'      <li class="uk-grid pinned"><div class="uk-width-auto"><img data-src="{image}" alt=""></div>'
            f'<div class="uk-width-expand"><a href="{site.path_of(article)}?utm_source=pinned&amp;utm_medium=feed">'
            f'{title}</a> <time class="article-time">{time}</time><div class="hashtags">{tags}</div></div></li>'
        )
    href = (AMP if article.get("amp") else "") + site.path_of(article)
    mark = f' <span class="article-mark">#{escape(article["tags"][0])}</span>' if article["tags"] else ""
    return (
        '      <li class="uk-grid uk-grid-small uk-margin-remove-top" uk-grid>'
        f'<div class="uk-width-auto"><a href="{href}"><img data-src="{image}" src="/img/placeholder.gif" alt="{title}">'
        f'</a></div><div class="uk-width-expand"><a href="{href}">{title}'
        f' <time class="article-time">{time}</time>{mark}</a></div></li>'
    )


#: Body noise as public scrapers of the live site strip it: a photo list of other stories, banners
#: (any class starting ``article-banner``), a "read also" paragraph, and the app line ending every story.
LIVE_NOISE = ("several-images", "article-banner", "read-also", "app-promo")


def _block(block: dict[str, Any]) -> str:
    noise = block.get("noise")
    if noise == "read-more":
        return f'<div class="read-more">{block["html"]}</div>'
    if noise == "several-images":
        items = "".join(
            f'<li><a href="{escape(i["href"])}"><img data-src="{escape(i["src"])}" alt="">'
            f"<span>{escape(i['title'])}</span></a></li>"
            for i in block["items"]
        )
        return f'<ul class="several-images-read-more">{items}</ul>'
    if noise == "article-banner":
        return f'<div class="{escape(block["class"])}">{block["html"]}</div>'
    if noise == "read-also":
        return f"<p><strong>Читайте также:</strong> {block['html']}</p>"
    if noise == "app-promo":
        return f"<p>{block['html']}</p>"
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
    if tag == "card":  # a /cards/ page's block, its own blocks inside
        return '<div class="article-text-card">' + "".join(_block(b) for b in block["blocks"]) + "</div>"
    if tag == "blockquote":
        return f"<blockquote><p>{block['html']}</p></blockquote>"
    return f"<{tag}>{block['html']}</{tag}>"


def body_text(article: dict[str, Any]) -> str:
    """The ground truth of an article's ``body``: its text blocks, joined by a blank line."""
    return "\n\n".join(_texts(article["blocks"]))


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if block.get("noise"):
            continue
        if block.get("tag") in ("ul", "ol"):
            texts.extend(i["text"] for i in block["items"])
        elif block.get("tag") == "card":
            texts.extend(_texts(block["blocks"]))
        else:
            texts.append(block["text"])
    return texts


def render_article(site: Site, article: dict[str, Any], base_url: str) -> str:
    """An article page. Optional keys of the article make the faults a site's markup may carry:
    ``canonical`` (the canonical link, with ``{base}``, ``{host}`` and ``{path}`` filled in),
    ``title_html``, ``lead_html``, ``author_html`` (raw markup for the escaped text fields),
    ``lead_in_body`` (the lead inside the body's container), and body blocks with ``"tag": null``
    (bare text).

    And what public scrapers show of the live site: ``lead_tag`` (the lead's element, ``strong`` on
    2026 pages, ``h3`` on 2022 ones, by class either way), ``microdata`` (an ``itemprop=
    "datePublished"`` beside the other dates; the ``"microdata-date"`` variant has it alone),
    ``amp`` (an AMP copy at ``/amp<path>``, linked by ``rel=amphtml``; ``amp_copy`` renders that
    copy), ``"card"`` blocks (``div.article-text-card``) and the ``LIVE_NOISE`` blocks. Their articles'
    ``variant`` names them ("kazakh-news", "html-2022", "amp", "text-cards"), so tests that spoil a
    plain article leave them alone."""
    if article.get("amp_copy"):
        return render_amp(site, article, base_url)
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
    variant = article.get("variant")
    if variant == "microdata-date":  # the date only in microdata
        del meta[3]
    if article.get("amp"):
        meta.append(f'  <link rel="amphtml" href="{base_url}{AMP}{site.path_of(article)}">')
    if article.get("lead"):
        meta.append(f'  <meta property="og:description" content="{escape(article["lead"])}">')
    if image:
        meta.append(f'  <meta property="og:image" content="{base_url}{escape(image)}">')
    if article.get("modified"):
        meta.append(f'  <meta property="article:modified_time" content="{article["modified"]}">')
    meta += [f'  <meta property="article:tag" content="{escape(t)}">' for t in article["tags"]]
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article["title"],
        "datePublished": article["published"],
        "dateModified": article.get("modified") or article["published"],
        "mainEntityOfPage": url,
    }
    if variant in ("meta-date", "microdata-date"):  # dates only in article:*_time meta, or in microdata
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
    views_html = f'<small id="arrilot-widget-container-{number}">{views_text}</small>'
    if article.get("views_widget"):  # the live placeholder: a script loads the count (views_widget below)
        csrf_meta, views_html = views_widget(article, number)
    charset = "windows-1251" if variant == "cp1251" else "utf-8"
    blocks = "\n      ".join(_block(b) for b in article["blocks"])
    if variant == "drifted":
        # A redesign: every class and tag the site's selectors know is renamed; <head> is intact.
        ld["articleBody"] = body_text(article)
        ld["keywords"] = article["tags"]
        meta[-1] = f'  <script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
        byline = f'<span class="byline">{escape(article["author"])}</span>' if article.get("author") else ""
        blocks = blocks.replace('class="article-text-card"', 'class="text-card-v2"')
        main = f"""    <div class="story-v2">
      <div class="headline-new">{title}</div>
      <div class="story-meta">{_date_text(article["published"], lang)} {byline}</div>
      <div class="content-v2">
      {blocks}
      </div>
    </div>"""
    else:
        # "text-date": the <time> carries only its visible text, no datetime attribute;
        # "jsonld-date", "meta-date" and "microdata-date": no <time> at all.
        stamp = "" if variant == "text-date" else f' datetime="{article["published"]}"'
        time = f"<time{stamp}>{_date_text(article['published'], lang)}</time>"
        if variant in ("jsonld-date", "meta-date", "microdata-date"):
            time = ""
        microdata = article.get("microdata") or variant == "microdata-date"
        if microdata:
            time += f'<meta itemprop="datePublished" content="{article["published"]}">'
        author_html = article.get("author_html") or escape(article["author"] or "")
        author = f'<span class="article-author">{author_html}</span>' if article.get("author") else ""
        lead_html = article.get("lead_html") or escape(article["lead"] or "")
        lead_tag = article.get("lead_tag", "div")
        lead = f'<{lead_tag} class="article-excerpt">{lead_html}</{lead_tag}>' if article.get("lead") else ""
        if article.get("lead_in_body"):
            blocks, lead = f"{lead}\n      {blocks}", ""
        img = f'<img class="article-img" data-src="{escape(image)}" src="/img/placeholder.gif" alt="">' if image else ""
        tags = "".join(f'<li><a href="/tags/{escape(t.lower())}">#{escape(t)}</a></li>' for t in article["tags"])
        scope = ' itemscope itemtype="https://schema.org/NewsArticle"' if microdata else ""
        main = f"""    <article{scope}>
      <h1>{article.get("title_html") or title}</h1>
      <div class="article-meta">{time}
        {author} {views_html}</div>
      {img}
      {lead}
      <div class="article">
      {blocks}
      </div>
      <ul class="article-tags">{tags}</ul>
    </article>"""
    if article.get("views_widget") and csrf_meta:
        meta.append(csrf_meta)
    return _page(article["title"], main, site, lang=lang, head="\n".join(meta) + "\n", charset=charset)


def render_amp(site: Site, article: dict[str, Any], base_url: str) -> str:
    """An article's AMP copy (``/amp<path>``): the story in AMP markup, no sidebar, its canonical
    link naming the article itself, which is where it must be stored."""
    lang = article.get("lang", "ru")
    title, image = escape(article["title"]), article.get("image")
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": article["title"]}
    ld |= {"datePublished": article["published"], "mainEntityOfPage": base_url + site.path_of(article)}
    lead = f'<p class="article-excerpt">{escape(article["lead"])}</p>' if article.get("lead") else ""
    img = f'<amp-img src="{escape(image)}" width="800" height="450" layout="responsive"></amp-img>' if image else ""
    blocks = "\n      ".join(_block(b) for b in article["blocks"])
    return f"""<!DOCTYPE html>
<html \u26a1 lang="{lang}">
<head>
  <meta charset="utf-8">
  <title>{title} | Informburo.kz</title>
  <link rel="canonical" href="{base_url}{site.path_of(article)}">
  <meta name="viewport" content="width=device-width,minimum-scale=1,initial-scale=1">
  <style amp-boilerplate>body{{visibility:hidden}}</style>
  <script async src="https://cdn.ampproject.org/v0.js"></script>
  <script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>
</head>
<body>
<header class="amp-header"><a href="/">Informburo.kz</a></header>
<article>
  <h1>{title}</h1>
  <time datetime="{article["published"]}">{_date_text(article["published"], lang)}</time>
  {img}
  {lead}
  <div class="article">
      {blocks}
  </div>
</article>
</body>
</html>
"""


def encode_page(article: dict[str, Any] | None, html: str) -> tuple[str, bytes]:
    """(Content-Type, bytes) as the site would send the page; "cp1251" pages name no charset in the header."""
    if article is not None and article.get("variant") == "cp1251":
        return "text/html", html.encode("cp1251", errors="xmlcharrefreplace")
    if article is not None and article.get("variant") == "cp1251-bare":  # no charset declared anywhere
        html = html.replace('<meta charset="utf-8">', "")
        return "text/html", html.encode("cp1251", errors="xmlcharrefreplace")
    return "text/html; charset=utf-8", html.encode("utf-8")


# --- feeds and sitemaps (robots.txt names the index; the home page names the feed) ---

#: The feed's path, and the one it had before (still answering).
RSS_PATH = "/xml/rss.xml"
FEED_PATHS = (RSS_PATH, FEED_PATH)
SITEMAP_INDEX = "/sitemap.xml"
NEWS_SITEMAP = "/sitemap-news.xml"
ARTICLE_SITEMAP = "/sitemaps/articles/{n}.xml"
#: Articles per numbered sitemap (the site's hold thousands; a few make several files here).
PER_SITEMAP = 5
#: A news sitemap lists the articles of the last two days (Google News' rule), counted from the newest.
NEWS_DAYS = 2
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def with_feed_links(html: str, links: list[str] | tuple[str, ...]) -> str:
    """A page with ``<link rel="alternate">`` to each feed in its ``<head>``, as the site's pages name theirs."""
    tags = "".join(
        f'  <link rel="alternate" type="application/rss+xml" title="Informburo.kz" href="{escape(link)}">\n'
        for link in links
    )
    return html.replace("</head>", tags + "</head>", 1)


def sitemap_chunks(site: Site) -> list[list[dict[str, Any]]]:
    """The numbered sitemaps' articles, newest first: every article the site has, listed or not."""
    return [site.articles[i : i + PER_SITEMAP] for i in range(0, len(site.articles), PER_SITEMAP)]


def gzipped_sitemap(site: Site) -> int:
    """The number of the one numbered sitemap served gzipped (``.xml.gz``): the oldest."""
    return len(sitemap_chunks(site))


def _lastmod(articles: list[dict[str, Any]]) -> str:
    return max((a.get("modified") or a["published"] for a in articles), key=datetime.fromisoformat)


def render_sitemap_index(site: Site, base_url: str) -> str:
    """``/sitemap.xml``: the news sitemap and the numbered ones, newest first, each with its lastmod;
    and a sitemap on another host (the partner's), which must never be fetched."""
    from urllib.parse import urlsplit  # only the sitemaps need it

    chunks = sitemap_chunks(site)
    entries = []
    if chunks:
        entries.append((f"{base_url}{NEWS_SITEMAP}", _lastmod(news_articles(site))))
    for n, chunk in enumerate(chunks, start=1):
        suffix = ".gz" if n == gzipped_sitemap(site) else ""
        entries.append((f"{base_url}{ARTICLE_SITEMAP.format(n=n)}{suffix}", _lastmod(chunk)))
    partner = urlsplit(site.partner_url)
    entries.append((f"{partner.scheme}://{partner.netloc}{SITEMAP_INDEX}", None))
    return _sitemap_xml("sitemapindex", "sitemap", entries)


def _sitemap_xml(root: str, tag: str, rows: list[tuple[str, str | None]]) -> str:
    """A sitemap index (``sitemapindex``/``sitemap``) or urlset (``urlset``/``url``): locations and lastmods."""
    body = "\n".join(
        f"  <{tag}><loc>{escape(loc)}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + f"</{tag}>"
        for loc, lastmod in rows
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="{SITEMAP_NS}">
{body}
</{root}>
"""


def news_articles(site: Site) -> list[dict[str, Any]]:
    if not site.articles:
        return []
    newest = max(datetime.fromisoformat(a["published"]) for a in site.articles)
    return [a for a in site.articles if (newest - datetime.fromisoformat(a["published"])).days < NEWS_DAYS]


def render_news_sitemap(site: Site, base_url: str) -> str:
    """``/sitemap-news.xml``: the last days' articles with their ``news:publication_date``."""
    urls = "\n".join(
        f"""  <url><loc>{escape(base_url + site.path_of(a))}</loc><news:news>
    <news:publication><news:name>Informburo.kz</news:name><news:language>{a.get("lang", "ru")}</news:language></news:publication>
    <news:publication_date>{a["published"]}</news:publication_date><news:title>{escape(a["title"])}</news:title></news:news></url>"""
        for a in news_articles(site)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="{SITEMAP_NS}" xmlns:news="{NEWS_NS}">
{urls}
</urlset>
"""


def render_article_sitemap(site: Site, base_url: str, n: int) -> str | None:
    """``/sitemaps/articles/<n>.xml``, ``None`` past the last. The first also lists what a real one
    does besides articles: a tag page and a partner's article on another host."""
    chunks = sitemap_chunks(site)
    if not 1 <= n <= len(chunks):
        return None
    rows = [(base_url + site.path_of(a), a.get("modified") or a["published"]) for a in chunks[n - 1]]
    if n == 1:
        rows += [(f"{base_url}/tags/astana", None), (site.partner_url, None)]
    return _sitemap_xml("urlset", "url", rows)


def render_sitemap(site: Site, base_url: str, path: str) -> tuple[str, bytes] | None:
    """(content type, body) of a sitemap path, ``None`` for any other path. The gzipped one is
    sent as a file (``application/gzip``, no ``Content-Encoding``), as sites serve ``.xml.gz``."""
    import gzip  # only the sitemaps need it

    xml: str | None = None
    if path == SITEMAP_INDEX:
        xml = render_sitemap_index(site, base_url)
    elif path == NEWS_SITEMAP:
        xml = render_news_sitemap(site, base_url)
    else:
        prefix, _, name = path.rpartition("/")
        number, _, suffix = name.partition(".")
        if f"{prefix}/" == ARTICLE_SITEMAP.rpartition("/")[0] + "/" and number.isdigit():
            gz = int(number) == gzipped_sitemap(site)
            if suffix == ("xml.gz" if gz else "xml"):
                xml = render_article_sitemap(site, base_url, int(number))
                if xml is not None and gz:
                    return "application/gzip", gzip.compress(xml.encode("utf-8"), mtime=0)
    if xml is None:
        return None
    return "application/xml; charset=utf-8", xml.encode("utf-8")


# --- the views counter as the live site serves it: an async arrilot widget ---

#: The loader's endpoint (Laravel's arrilot/laravel-widgets).
WIDGET_PATH = "/arrilot/load-widget"
WIDGET_NAME = "App\\Widgets\\ArticleViews"


def views_widget(article: dict[str, Any], number: int) -> tuple[str, str]:
    """(the ``<meta name="csrf-token">`` for the head, or "", the counter's placeholder) of an article
    whose ``views_widget`` names how its script loads the count, as the live site's async widget:
    ``"post"`` (jQuery's ``.load(url, {…})``, a POST of form data with ``_token``, the package until
    3.x), ``"get"`` (``.load(url?query)``, 3.x), ``"xhr"`` (the package's native ``xhr.open("GET", …)``),
    ``"sibling"`` (a JS literal in a script after the element, as ``"post"``). The article's
    ``csrf`` (default true) puts the token in the page, and the endpoint then requires it."""
    style = article["views_widget"]
    token = widget_token(article) if article.get("csrf", True) else None
    box = f"arrilot-widget-container-{number}"
    params = json.dumps({"slug": article["slug"]})
    if style == "get":
        query = urlencode({"id": number, "name": WIDGET_NAME, "params": params})
        call = f"$('#{box}').load('{WIDGET_PATH}?{query}');"
    elif style == "xhr":
        query = urlencode({"id": number, "name": WIDGET_NAME, "params": params})
        call = (
            f'var xhr = new XMLHttpRequest();xhr.open("GET", "{WIDGET_PATH}?{query}", true);'
            f"xhr.onreadystatechange = function() {{if(xhr.readyState == 4 && xhr.status == 200) {{"
            f'document.getElementById("{box}").innerHTML = xhr.responseText;}}}};xhr.send();'
        )
    elif style == "sibling":
        literal = params.replace("\\", "\\\\").replace("'", "\\'")
        name = WIDGET_NAME.replace("\\", "\\\\")
        call = f"$('#{box}').load('{WIDGET_PATH}', {{ id: {number}, name: '{name}', params: '{literal}' }});"
    else:
        data = {"id": number, "name": WIDGET_NAME, "params": params}
        if token:
            data["_token"] = token
        call = f"$('#{box}').load('{WIDGET_PATH}', {json.dumps(data)});"
    script = (
        f'<script type="text/javascript">var widgetTimer{number} = setInterval(function() {{'
        f"if (window.$) {{{call}clearInterval(widgetTimer{number});}}}}, 100);</script>"
    )
    meta = f'  <meta name="csrf-token" content="{token}">' if token else ""
    if style == "sibling":
        return meta, f'<small id="{box}" class="arrilot-widget-container">Loading...</small>{script}'
    return meta, f'<small id="{box}" class="arrilot-widget-container">{script}</small>'


def widget_token(article: dict[str, Any]) -> str:
    """The CSRF token an article's page carries (one per page here; one per session on the site)."""
    return hashlib.sha1(f"csrf:{article['slug']}".encode()).hexdigest()


def widget_answer(site: Site, fields: dict[str, str], header_token: str | None) -> tuple[int, str]:
    """(status, HTML fragment) of ``/arrilot/load-widget`` for the widget's fields (a POST's form or
    a GET's query): the article's views as its page would print them; 403 without the token its
    page carried (``_token`` or ``X-CSRF-TOKEN``), 404 for an unknown widget."""
    try:
        slug = json.loads(fields.get("params") or "{}").get("slug")
    except (ValueError, AttributeError):
        slug = None
    article = next((a for a in site.articles if a["slug"] == slug and a.get("views_widget")), None)
    if article is None:
        return 404, "<p>No such widget</p>"
    if article.get("csrf", True) and widget_token(article) not in (fields.get("_token"), header_token):
        return 403, "<p>CSRF token mismatch</p>"
    views = article.get("views")
    if isinstance(views, int):
        text = f"{views:,}".replace(",", "\u00a0") if views >= 10000 else str(views)
    else:
        text = escape(views or "")
    return 200, f'<i class="icon-eye"></i> <span class="views-count">{text}</span>'
