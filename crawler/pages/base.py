"""What every page object shares: one parse per page, and text helpers over lxml."""

from __future__ import annotations

from lxml import etree
from parsel import Selector
from w3lib.encoding import html_to_unicode


def as_selector(page: str | bytes | Selector) -> Selector:
    """Parse once: page objects accept HTML text, raw bytes or an already-built selector.

    Raw bytes are decoded as a browser would with no HTTP header: BOM, then the
    ``<meta charset>`` / ``http-equiv`` declaration (``windows-1251`` pages), then UTF-8.
    """
    if isinstance(page, Selector):
        return page
    if isinstance(page, bytes):
        _, page = html_to_unicode(None, page)
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
