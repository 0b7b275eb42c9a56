"""What every page object shares: one parse per page, and text helpers over lxml."""

from __future__ import annotations

from functools import cache

from cssselect import GenericTranslator
from lxml import etree
from parsel import Selector
from parsel.selector import create_root_node
from w3lib.encoding import html_to_unicode

_TRANSLATOR = GenericTranslator()


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
    declaration, then detection (never Scrapy's cp1252 guess for an undeclared page); and
    not the declared UTF-8 when the bytes are plainly another charset (``misdeclared``)."""
    return read_html(body, content_type)[0]


def read_html(body: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """(``decode_html``'s text, why the declared charset was set aside, or ``None``)."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=detect_encoding)
    return redecoded(body, encoding, text) or (text, None)


#: Replacement characters past which a page "in UTF-8" is another charset, not a stray bad byte.
MISDECLARED_MIN = 16
MISDECLARED_SHARE = 0.01


def redecoded(body: bytes, encoding: str | None, text: str) -> tuple[str, str] | None:
    """(text, why) when a page declared UTF-8 but its bytes are another charset (a cp1251 page
    served as UTF-8 reads as U+FFFD mojibake): decoded in the detected charset instead. ``None``
    when the page is what it declares, or has only a stray bad byte or two."""
    if "\ufffd" not in text or (encoding or "").lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    replaced = text.count("\ufffd")
    if replaced < MISDECLARED_MIN and replaced < MISDECLARED_SHARE * len(text):
        return None
    try:
        body.decode("utf-8")
        return None  # the U+FFFD are the page's own characters
    except UnicodeDecodeError:
        pass
    guess = detect_encoding(body)
    if not guess or guess.lower().replace("_", "-") in ("utf-8", "utf8"):
        return None
    return body.decode(guess, errors="replace"), f"declared {encoding}, but {replaced} bytes are not: read as {guess}"


def as_selector(page: str | bytes | Selector) -> Selector:
    """Parse once: page objects accept HTML text, raw bytes or an already-built selector."""
    if isinstance(page, Selector):
        return page
    if isinstance(page, bytes):
        page = decode_html(page)
    return html_selector(page)


def html_selector(text: str) -> Selector:
    """A page's selector, parsed exactly as parsel parses HTML text but into plain lxml elements:
    ``lxml.html``'s element classes cost a Python class lookup for every element the page objects
    touch (a fifth of a page's reading once it is parsed), and no page object uses their methods."""
    return Selector(root=create_root_node(text, etree.HTMLParser), type="html")


#: Elements whose content no reader sees: a counter loaded by script holds only its script.
UNSEEN = frozenset({"script", "style", "template"})


def element_text(el: etree._Element, skip: set[etree._Element] | frozenset[etree._Element] = frozenset()) -> str:
    """The text a reader sees in an element: inline markup flattened, ``<br>`` as a space.

    Children in ``skip`` (noise) and scripts, styles and templates are left out; their tail text stays.
    A walk with its own stack, not recursion: a page may nest inline tags thousands deep,
    past Python's recursion limit, and its text must still be read.
    """
    if not len(el):
        return el.text or ""
    parts: list[str] = [el.text or ""]
    stack = [(el, iter(el))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:  # ``node`` is done: its tail follows it, inside its parent
            stack.pop()
            if stack:
                parts.append(node.tail or "")
            continue
        if isinstance(child.tag, str) and child not in skip and child.tag not in UNSEEN:  # not a comment, not noise
            if child.tag == "br":
                parts.append(" ")
            elif len(child):  # inline markup inside: walk into it
                parts.append(child.text or "")
                stack.append((child, iter(child)))
                continue
            else:
                parts.append(child.text or "")
        parts.append(child.tail or "")
    return "".join(parts)


def followed(el: etree._Element) -> bool:
    """Did the page go on after ``el`` closed: a tail or a later sibling of it or of an ancestor?

    A parser closes whatever is still open where a cut-off page stops, so the element the
    cut fell in, and every ancestor of it, is the last thing in the tree: nothing follows it.
    """
    node: etree._Element | None = el
    while node is not None and node.getparent() is not None:  # the root is never followed
        if node.tail or node.getnext() is not None:
            return True
        node = node.getparent()
    return False


@cache
def css(query: str) -> etree.XPath:
    """A CSS selector compiled once to an lxml XPath (page objects run them on every page)."""
    return etree.XPath(_TRANSLATOR.css_to_xpath(query))


@cache
def xpath(query: str) -> etree.XPath:
    """An XPath expression compiled once."""
    return etree.XPath(query)


def first_text(node: Selector | etree._Element, query: str) -> str | None:
    """Visible text of the first element matching a CSS query, or ``None``."""
    root = node.root if isinstance(node, Selector) else node
    found = css(query)(root)
    if not found:
        return None
    return element_text(found[0])


def has_class(name: str) -> str:
    """An XPath predicate for a class name, safe for names like ``uk-width-2-3@m``."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"
