"""Script-loaded widgets (Laravel's arrilot/laravel-widgets): the request a browser would make.

The live article page holds its views counter as an async widget: ``<small
id="arrilot-widget-container-N">`` with only a ``<script>`` that loads ``/arrilot/load-widget``
into it, so a plain fetch sees no number. We run no browser: ``widget_request`` reads the
script into the one request it would send (URL on the page's own host, method, parameters,
CSRF token), the spider fetches it as a follow-up of the page, and ``widget_views`` reads the
counter's text out of the answer. Pure functions: no network, no storage.

The package's loaders, all read here (``N`` the widget's id on the page):

* ``$('#…-N').load('/arrilot/load-widget', {"id":N,"name":…,"params":…,"_token":…})``: jQuery's
  ``.load`` with an object is a POST of form data (the package until 3.x; a JS literal with
  unquoted keys and single-quoted strings too);
* ``$('#…-N').load('/arrilot/load-widget?id=N&name=…&params=…')``, ``$.get(url, {…})`` and the
  native ``xhr.open("GET", url, true)``: a GET, the parameters in the query;
* ``$.post(url, {…})``, ``$.ajax({url: …, type: "POST", data: {…}})``.

The script is inside the container (as the package renders it) or a sibling after it that names
the container's id.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree
from parsel import Selector

from crawler.fields import clean_text
from crawler.pages.base import as_selector, css, element_text

#: Laravel's CSRF token, which a POST to the site must carry (``_token`` and ``X-CSRF-TOKEN``).
CSRF_META = 'meta[name="csrf-token"]'
#: A loader call: jQuery's ``.load(`` / ``$.get(`` / ``$.post(`` / ``$.ajax(``, or ``xhr.open(``.
CALL = re.compile(r"\.(?P<fn>load|get|post|ajax|open)\s*\(")
#: A counter in the answer's text: digits, grouped by spaces or NBSP, maybe "1,2 тыс." or "12K".
NUMBER = re.compile(r"\d[\d\s\u00a0\u202f]*(?:[.,]\d+)?(?:\s*(?:тыс|млн|k|m)\b\.?)?", re.I)
#: Keys of a JSON answer that hold the counter.
COUNT_KEYS = ("views", "count", "value", "html", "data")


@dataclass(frozen=True)
class WidgetRequest:
    """One widget's request, as the page's script would send it."""

    url: str  # absolute, on the page's host; a GET's parameters are in its query
    method: str  # "GET" or "POST"
    #: A POST's form data, ``_token`` included when the page carries a token; empty for a GET.
    form: tuple[tuple[str, str], ...] = ()
    csrf: str | None = None  # sent as ``X-CSRF-TOKEN`` too
    container: str = ""  # the placeholder's id
    headers: dict[str, str] = field(default_factory=dict)


def widget_request(page: str | bytes | Selector, page_url: str, container: str) -> WidgetRequest | None:
    """The request that loads the widget in ``container`` (a CSS query; the article page's is
    ``crawler.pages.article.VIEWS``), or ``None`` (no loader script, one that
    cannot be read, or one that points off the page's host)."""
    found = read_widget(page, page_url, container)
    return found if isinstance(found, WidgetRequest) else None


def read_widget(page: str | bytes | Selector, page_url: str, container: str) -> WidgetRequest | str | None:
    """``widget_request``, telling why a loader script was there but unusable: ``None`` when the
    container holds no loader script at all (nothing to load), the reason as text when it does but
    no request can be read from it (recorded, so an empty counter is never silent)."""
    root = as_selector(page).root
    found = css(container)(root)
    if not found:
        return None
    el = found[0]
    scripts = loader_scripts(el)
    if not scripts:
        return None
    reason = "its script names no request"
    for script in scripts:
        spec = _read_call(script, page_url)
        if isinstance(spec, str):
            reason = spec
            continue
        url, method, data = spec
        token = _csrf(root) or data.get("_token")
        form: tuple[tuple[str, str], ...] = ()
        if method == "POST":
            if token and "_token" not in data:
                data["_token"] = token
            form = tuple(data.items())
        elif data:  # a GET's object goes into the query, after what the URL already carries
            parts = urlsplit(url)
            query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *data.items()])
            url = urlunsplit(parts._replace(query=query))
        headers = {"X-Requested-With": "XMLHttpRequest"}  # as jQuery sends it; Laravel's ajax() checks it
        if token:
            headers["X-CSRF-TOKEN"] = token
        return WidgetRequest(url, method, form, token, el.get("id") or "", headers)
    return reason


def loader_scripts(el: etree._Element) -> list[str]:
    """The loader scripts of a widget container: its own ``<script>``s, else the ``<script>``s right
    after it that name its id."""
    own = [s.text or "" for s in el.iter("script")]
    if own:
        return own
    name = el.get("id") or ""
    after = []
    for sibling in el.itersiblings():
        if not isinstance(sibling.tag, str) or sibling.tag != "script":
            break
        if name and name in (sibling.text or ""):
            after.append(sibling.text or "")
    return after


def holds_loader(el: etree._Element) -> bool:
    """Does a counter's element hold (or come with) a widget loader instead of its number?"""
    return bool(loader_scripts(el)) and not re.search(r"\d", element_text(el, set(el.iter("script"))))


def widget_views(answer: str) -> str | None:
    """The counter's raw text in a widget's answer (an HTML fragment such as ``<i class="eye"></i>
    12 345``, or JSON), or ``None`` when it holds no number."""
    text = answer.strip()
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if data is not None:
            value = _json_count(data)
            return _number_in(str(value)) if value is not None else None
    if not text:
        return None
    try:
        root = Selector(text=f"<div>{text}</div>", type="html").root
        for node in list(css("script, style, noscript, template")(root)):
            node.drop_tree()
        visible = clean_text(element_text(css("div")(root)[0])) or ""
    except Exception:  # not markup at all: the answer's text as it is
        visible = clean_text(html.unescape(re.sub(r"<[^>]*>", " ", text))) or ""
    return _number_in(visible)


# -- reading the script ----------------------------------------------------------


def _read_call(script: str, page_url: str) -> tuple[str, str, dict[str, str]] | str:
    """(absolute URL, method, data) of the first loader call in ``script``, or why there is none."""
    reason = "its script names no request"
    for call in CALL.finditer(script):
        try:
            args = _JsReader(script, call.end()).arguments()
        except ValueError as exc:
            reason = f"its script is unreadable ({exc})"
            continue
        spec = _call_spec(call["fn"], args)
        if spec is None:
            continue
        target, method, data = spec
        url = urljoin(page_url, target)
        parts, page = urlsplit(url), urlsplit(page_url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != page.netloc.lower():
            return f"its script loads {url}, which is not on the page's host"
        return url, method, data
    return reason


def _call_spec(fn: str, args: list[Any]) -> tuple[str, str, dict[str, str]] | None:
    """(target, method, data) of one call's arguments, or ``None`` when it is no loader call."""
    if fn == "open":  # xhr.open("GET", url, true)
        if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            method = args[0].upper()
            return (args[1], method, {}) if method in ("GET", "POST") else None
        return None
    if fn == "ajax":  # $.ajax({url: …, type: "POST", data: {…}})
        options = args[0] if args and isinstance(args[0], dict) else None
        if options is None or not isinstance(options.get("url"), str):
            return None
        method = str(options.get("type") or options.get("method") or "GET").upper()
        data = options.get("data")
        return options["url"], method if method in ("GET", "POST") else "GET", _form(data)
    if not args or not isinstance(args[0], str):
        return None
    data = args[1] if len(args) > 1 else None
    if fn == "post":
        return args[0], "POST", _form(data)
    if fn == "get":
        return args[0], "GET", _form(data)
    # .load(url, data): jQuery posts when data is an object, gets when it is absent or a string.
    if isinstance(data, dict):
        return args[0], "POST", _form(data)
    if isinstance(data, str) and data:
        return args[0] + ("&" if "?" in args[0] else "?") + data, "GET", {}
    return args[0], "GET", {}


def _form(data: Any) -> dict[str, str]:
    """An object's values as form fields (jQuery sends numbers and booleans as their text)."""
    if not isinstance(data, dict):
        return dict(parse_qsl(data)) if isinstance(data, str) else {}
    form = {}
    for key, value in data.items():
        if isinstance(value, bool):
            form[key] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            form[key] = str(value)
        elif value is not None:
            form[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return form


def _csrf(root: etree._Element) -> str | None:
    found = css(CSRF_META)(root)
    token = (found[0].get("content") or "").strip() if found else ""
    return token or None


class _JsReader:
    """Reads a call's arguments from script text: JS string, number and boolean literals, and object
    and array literals of them (quoted or bare keys); anything else (a variable, a function) is
    ``None``. Enough for a loader call; no script is ever run."""

    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos

    def arguments(self) -> list[Any]:
        args: list[Any] = []
        self._space()
        if self._peek() == ")":
            return args
        while True:
            args.append(self.value())
            self._space()
            char = self._take()
            if char == ")":
                return args
            if char != ",":
                raise ValueError(f"expected ',' or ')' at {self.pos}")

    def value(self) -> Any:
        self._space()
        char = self._peek()
        if char in ("'", '"', "`"):
            return self._string()
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        return self._bare()

    def _object(self) -> dict[str, Any]:
        self.pos += 1
        found: dict[str, Any] = {}
        while True:
            self._space()
            if self._peek() == "}":
                self.pos += 1
                return found
            key = self._string() if self._peek() in ("'", '"') else self._name()
            self._space()
            if self._take() != ":":
                raise ValueError(f"expected ':' after {key!r}")
            found[key] = self.value()
            self._space()
            char = self._take()
            if char == "}":
                return found
            if char != ",":
                raise ValueError(f"expected ',' or '}}' at {self.pos}")

    def _array(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        while True:
            self._space()
            if self._peek() == "]":
                self.pos += 1
                return items
            items.append(self.value())
            self._space()
            char = self._take()
            if char == "]":
                return items
            if char != ",":
                raise ValueError(f"expected ',' or ']' at {self.pos}")

    def _string(self) -> str:
        quote = self._take()
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise ValueError("unterminated string")
            char = self._take()
            if char == quote:
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            esc = self._take()
            if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.text[self.pos : self.pos + 4]):
                out.append(chr(int(self.text[self.pos : self.pos + 4], 16)))
                self.pos += 4
            elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", self.text[self.pos : self.pos + 2]):
                out.append(chr(int(self.text[self.pos : self.pos + 2], 16)))
                self.pos += 2
            else:
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}.get(esc, esc))

    def _name(self) -> str:
        match = re.compile(r"[A-Za-z_$][\w$]*").match(self.text, self.pos)
        if not match:
            raise ValueError(f"expected a key at {self.pos}")
        self.pos = match.end()
        return match.group()

    def _bare(self) -> Any:
        """A number, ``true``/``false``/``null``; an expression (a variable, a call) is ``None``."""
        match = re.compile(r"-?\d+(?:\.\d+)?(?![\w$])").match(self.text, self.pos)
        if match:
            self.pos = match.end()
            number = match.group()
            return float(number) if "." in number else int(number)
        start, depth = self.pos, 0
        while self.pos < len(self.text):  # skip the expression to the next ',' or closing bracket
            char = self.text[self.pos]
            if char in "'\"`":
                self._string()
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.pos += 1
        else:
            raise ValueError("unterminated call")
        word = self.text[start : self.pos].strip()
        return {"true": True, "false": False}.get(word)

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _take(self) -> str:
        if self.pos >= len(self.text):
            raise ValueError("the call is cut off")
        self.pos += 1
        return self.text[self.pos - 1]


# -- reading the answer ------------------------------------------------------------


def _json_count(data: Any) -> Any:
    if isinstance(data, int | float | str) and not isinstance(data, bool):
        return data
    if isinstance(data, dict):
        for key in COUNT_KEYS:
            if key in data and data[key] is not None:
                found = _json_count(data[key])
                if found is not None:
                    return found
    return None


def _number_in(text: str) -> str | None:
    """The first counter in ``text``, as it is printed (``parse_count`` reads it)."""
    if text.strip().startswith("<"):  # a JSON answer's HTML fragment
        return widget_views(text)
    match = NUMBER.search(text)
    return match.group().strip() if match else None
