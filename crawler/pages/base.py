"""What every page object shares: one parse per page, and text helpers over lxml."""

from __future__ import annotations

from lxml import etree
from parsel import Selector
from w3lib.encoding import html_to_unicode


def detect_encoding(body: bytes) -> str | None:
    """For bytes that declare no charset anywhere: valid UTF-8, else the statistically likely
    Cyrillic code page (undeclared ``windows-1251`` is common on Kazakh and Russian sites)."""
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:65536], cp_isolation=["cp1251", "koi8_r", "cp1252", "latin_1"]).best()
    return best.encoding if best else None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Bytes to text as a browser would: the HTTP header's charset, the BOM, the ``<meta>``
    declaration, then detection (never Scrapy's cp1252 guess for an undeclared page)."""
    _, text = html_to_unicode(content_type, body, auto_detect_fun=detect_encoding)
    return text


def as_selector(page: str | bytes | Selector) -> Selector:
    """Parse once: page objects accept HTML text, raw bytes or an already-built selector."""
    if isinstance(page, Selector):
        return page
    if isinstance(page, bytes):
        page = decode_html(page)
    return Selector(text=page, type="html")


def element_text(el: etree._Element) -> str:
    """The text a reader sees in an element: inline markup flattened, ``<br>`` as a space."""
    parts: list[str] = [el.text or ""]
    for child in el:
        if not isinstance(child.tag, str):  # comments, processing instructions
            parts.append(child.tail or "")
            continue
        parts.append(" " if child.tag == "br" else element_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def first_text(sel: Selector, query: str) -> str | None:
    """Visible text of the first element matching a CSS query, or ``None``."""
    found = sel.css(query)
    if not found:
        return None
    return element_text(found[0].root)


def has_class(name: str) -> str:
    """An XPath predicate for a class name, safe for names like ``uk-width-2-3@m``."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"
