"""Field rules: pure functions that turn the raw strings a page carries into stored values.

Every rule of the anatomy's field contract (whitespace, counters, emoji, dates, URLs,
rates) lives here once; page objects only locate the raw text, and the normalise
pipeline applies these functions to every item, whatever its class.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import emoji

from core.clock import KZ_TZ as KZ_TZ  # re-exported: page objects and tests take it from here
from core.clock import as_kz, kz_iso

#: What ``articles.section`` may hold: the section path segment of an article's URL.
ARTICLE_SECTIONS = ("novosti", "stati", "cards", "interview", "newskaz")
#: Sections that do not sit at the root of the path: Kazakh-language news lives under a language
#: prefix (``/kaz/newskaz/<slug>``), so its section is the segment after ``kaz``, not ``kaz`` itself.
SECTION_PATHS: dict[str, tuple[str, ...]] = {"newskaz": ("kaz", "newskaz")}
#: The path prefix of an article's AMP copy (``/amp/novosti/<slug>``): the same story, stored once.
AMP_PREFIX = "amp"

#: Strings longer than this are not kept in the rules' caches (a hostile page's value may be megabytes).
_CACHED_LENGTH = 2048

_ZERO_WIDTH = {"\u200b", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u180e"}
_JOINERS = {"\u200c", "\u200d"}
_VARIATION_SELECTORS = {"\ufe0e", "\ufe0f"}


def _is_space(ch: str) -> bool:
    return ch in UNICODE_SPACES or ch == " "


def _is_emoji_part(ch: str) -> bool:
    """True for characters that can stand on either side of a joiner inside an emoji."""
    cat = unicodedata.category(ch)
    return cat in ("So", "Sk", "Mn", "Me") or ch in _VARIATION_SELECTORS or emoji.is_emoji(ch)


#: Unicode's space separators (Zs, Zl, Zp) and the ASCII controls that act as spaces.
UNICODE_SPACES = (
    "\t\n\r\f\v\x85\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
#: Bidirectional controls (embeddings, overrides, isolates, the Arabic letter mark): invisible, and a
#: stored override would reorder the text around it wherever it is shown.
_BIDI_CONTROLS = "\u061c\u202a-\u202e\u2066-\u2069"
_REMOVED = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f" + "".join(sorted(_ZERO_WIDTH)) + _BIDI_CONTROLS
_REMOVE = re.compile(f"[{_REMOVED}]")
_OTHER_SPACES = re.compile(f"[{UNICODE_SPACES}]")
_SPACE_RUN = re.compile(" {2,}")
_CONTEXTUAL = "".join(sorted(_JOINERS | _VARIATION_SELECTORS))
_CONTEXT = re.compile(f"[{_CONTEXTUAL}]")
#: Any character ``clean_text`` removes, judges or replaces: text with none (and no double space)
#: only has its ends stripped. Most text is plain, and text cleaned once always is.
_NOT_PLAIN = re.compile(f"[{_REMOVED}{_CONTEXTUAL}{UNICODE_SPACES}]")


def clean_text(value: str | None) -> str | None:
    """Whitespace-normalise text per the anatomy; ``None`` for nothing left.

    Unicode spaces become a space, zero-width characters, soft hyphens, controls and
    bidirectional controls go, joiners and variation selectors survive only inside an
    emoji sequence, runs of spaces collapse and the ends are stripped.
    """
    if value is None:
        return None
    if type(value) is str and len(value) <= _CACHED_TEXT:  # a body block is cleaned by its page, then by normalise
        return _cached_clean_text(value)
    return _clean_text(value)


def _clean_text(value: str) -> str | None:
    """``clean_text`` itself, uncached."""
    if _NOT_PLAIN.search(value) is None and "  " not in value:  # what the steps below leave as it is
        return value.strip() or None
    # Removed first, so a joiner or selector is judged by the neighbours that stay (idempotent).
    value = _REMOVE.sub("", value)
    if _CONTEXT.search(value):  # rare: a joiner or selector needs its neighbours
        value = _keep_emoji_joiners(value)
    text = _SPACE_RUN.sub(" ", _OTHER_SPACES.sub(" ", value)).strip()
    return text or None


#: ``_clean_text`` with its answers kept, for texts up to ``_CACHED_TEXT`` characters.
_cached_clean_text = lru_cache(maxsize=256)(_clean_text)
_CACHED_TEXT = 16384


def _keep_emoji_joiners(value: str) -> str:
    """Drop joiners and variation selectors except inside an emoji sequence (a char-by-char pass)."""
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch in _ZERO_WIDTH:
            continue
        if ch in _JOINERS:
            prev = out[-1] if out else ""
            nxt = value[i + 1] if i + 1 < len(value) else ""
            if prev and nxt and _is_emoji_part(prev) and _is_emoji_part(nxt) and not _is_space(prev):
                out.append(ch)
            continue
        if ch in _VARIATION_SELECTORS:
            prev = out[-1] if out else ""
            if prev and not _is_space(prev) and not prev.isalpha():
                out.append(ch)
            continue
        out.append(" " if _is_space(ch) else ch)
    return "".join(out)


def join_blocks(blocks: list[str] | str | None) -> str | None:
    """Body text: each block cleaned, empty ones dropped, joined by a blank line."""
    if blocks is None:
        return None
    if isinstance(blocks, str):
        blocks = blocks.split("\n\n")
    cleaned = [c for c in (clean_text(b) for b in blocks) if c]
    return "\n\n".join(cleaned) or None


_MISSING = {"", "—", "–", "-", "n/a", "нет"}
_COUNTER = re.compile(r"^(?P<num>\d+(?:[.,]\d+)?)\s*(?P<mult>тыс\.?|k|к|млн\.?|m|м)?$", re.IGNORECASE)
_MULTIPLIERS = {"тыс": 1_000, "k": 1_000, "к": 1_000, "млн": 1_000_000, "m": 1_000_000, "м": 1_000_000}


def parse_count(value: Any) -> int | None:
    """A counter such as "11674", "11 674", "1,2 тыс." or "12K"; ``None`` when missing.

    A missing counter ("—", empty) is NULL, never 0; text that is not a counter
    raises ``ValueError`` so the item is rejected instead of stored wrong.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a counter: {value!r}")
    if isinstance(value, int):
        return value
    text = clean_text(str(value))
    if text is None or text.lower() in _MISSING:
        return None
    compact = text.replace(" ", "")
    if compact.isdigit():
        return int(compact)
    m = _COUNTER.match(re.sub(r"(?<=\d) (?=\d)", "", text))  # "1 200 тыс." as "1200 тыс."
    if not m:
        raise ValueError(f"not a counter: {value!r}")
    num = float(m.group("num").replace(",", "."))
    mult = m.group("mult")
    if mult:
        num *= _MULTIPLIERS[mult.lower().rstrip(".")]
    elif "." in m.group("num") or "," in m.group("num"):
        raise ValueError(f"not a whole counter: {value!r}")
    return round(num)


def parse_amount(value: Any) -> float | None:
    """A rate in tenge ("505.1", "505,1"); ``None`` for a missing side ("—")."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = clean_text(str(value))
    if text is None or text.lower() in _MISSING:
        return None
    text = text.replace(" ", "").replace(",", ".")
    if not re.fullmatch(r"\d+(?:\.\d+)?", text):
        raise ValueError(f"not an amount: {value!r}")
    return float(text)


def split_rate(value: str | None) -> tuple[str | None, str | None]:
    """Split the widget's "buy / sell" text into its two sides (raw strings)."""
    if value is None:
        return None, None
    parts = [p.strip() for p in value.split("/")]
    if len(parts) != 2:
        raise ValueError(f"not a buy / sell pair: {value!r}")
    return parts[0], parts[1]


def currency_code(value: str | None) -> str | None:
    """ "USD:" → "USD": upper case, without the colon."""
    text = clean_text(value)
    if text is None:
        return None
    return text.rstrip(":").strip().upper() or None


def split_emoji(text: str | None) -> tuple[str | None, str | None]:
    """Split leading emoji off a title: ("🥩🥒", "Сельскохозяйственная ярмарка…").

    Emoji sequences (ZWJ families, flags, variation selectors) stay whole.
    Returns ``(None, title)`` when the title starts with no emoji.
    """
    text = clean_text(text)
    if text is None:
        return None, None
    pos = 0
    found: list[str] = []
    for match in emoji.emoji_list(text):
        start = match["match_start"]
        if text[pos:start].strip():
            break
        found.append(match["emoji"])
        pos = match["match_end"]
    if not found:
        return None, text
    # Keep stray variation selectors / joiners that belong to the last emoji.
    while pos < len(text) and text[pos] in _VARIATION_SELECTORS | _JOINERS:
        pos += 1
    return "".join(found), clean_text(text[pos:])


_RU_MONTHS = {
    # Russian, genitive as printed on the site, and nominative just in case
    "января": 1,
    "февраля": 2,
    "марта": 3,
    "апреля": 4,
    "мая": 5,
    "июня": 6,
    "июля": 7,
    "августа": 8,
    "сентября": 9,
    "октября": 10,
    "ноября": 11,
    "декабря": 12,
    "январь": 1,
    "февраль": 2,
    "март": 3,
    "апрель": 4,
    "май": 5,
    "июнь": 6,
    "июль": 7,
    "август": 8,
    "сентябрь": 9,
    "октябрь": 10,
    "ноябрь": 11,
    "декабрь": 12,
}
_KK_MONTHS = {
    "қаңтар": 1,
    "ақпан": 2,
    "наурыз": 3,
    "сәуір": 4,
    "мамыр": 5,
    "маусым": 6,
    "шілде": 7,
    "тамыз": 8,
    "қыркүйек": 9,
    "қазан": 10,
    "қараша": 11,
    "желтоқсан": 12,
}
_MONTHS = {**_RU_MONTHS, **_KK_MONTHS}
#: Kazakh case endings a month name may carry ("16 қаңтарда", "қаңтардың 16-сы" aside): locative, genitive.
_KK_ENDINGS = ("да", "де", "та", "те", "ның", "нің", "дың", "дің", "тың", "тің")


def _month(word: str) -> int | None:
    """A month name, Russian or Kazakh, Kazakh with a case ending too ("қаңтарда"); ``None`` otherwise."""
    word = word.lower()
    if word in _MONTHS:
        return _MONTHS[word]
    for ending in _KK_ENDINGS:
        if word.endswith(ending) and word[: -len(ending)] in _KK_MONTHS:
            return _KK_MONTHS[word[: -len(ending)]]
    return None


#: What may stand between a date and its time: "года", "г.", "ж.", "жылы", a comma, "в", "сағат", "сағ.".
_TIME_TAIL = (
    r"(?:\s*(?:года|год|г\.|жылы|жылғы|жыл|ж\.)?,?\s*(?:(?:в\s|сағат\s|сағ\.)\s*)?(?P<h2>\d{1,2}):(?P<m2>\d{2}))?"
)
#: "10:52, 16 января 2026", "16 января 2026 года в 10:52", "16 қаңтар 2026 ж. 10:52"
_TEXT_DATE = re.compile(
    r"(?:(?P<h1>\d{1,2}):(?P<m1>\d{2}),?\s+)?(?P<day>\d{1,2})\s+(?P<month>[^\W\d_]+)\s+(?P<year>\d{4})" + _TIME_TAIL,
    re.IGNORECASE,
)
#: Kazakh, year first: "2026 жылғы 16 қаңтар, 10:52", "2026 ж. 16 қаңтарда сағат 10:52"
_TEXT_DATE_YEAR_FIRST = re.compile(
    r"(?:(?P<h1>\d{1,2}):(?P<m1>\d{2}),?\s+)?(?P<year>\d{4})\s*(?:жылғы|жылы|ж\.)\s*(?P<day>\d{1,2})\s+"
    r"(?P<month>[^\W\d_]+)" + _TIME_TAIL,
    re.IGNORECASE,
)
#: A clock time just after a date that the patterns could not attach to it ("16 января 2026, обн. 10:52").
_NEAR_CLOCK = re.compile(r"\D{0,16}\d{1,2}:\d{2}")


def parse_datetime(value: str | None) -> str | None:
    """ISO 8601 in Kazakhstan time ("2026-01-16T10:52:00+05:00") from an ISO stamp or page text.

    The offset is the one in force at that instant (UTC+06:00 before 1 March 2024), so the
    stored date is the Kazakhstan date. Accepts ISO stamps with any offset (a naive one is the
    Kazakhstan time of its day) and visible text in Russian or Kazakh ("23:40, 15 января 2026",
    "16 января 2026 года в 10:52", "09:05, 15 қаңтар 2026", "2026 жылғы 16 қаңтар, 10:52").
    Raises ``ValueError`` for text it cannot read, a time it cannot place included, so nothing
    is stored as a guess (a date read without its time would be midnight).

    Answers for strings are kept (``_cached_parse_datetime``): a page's layers repeat one time,
    and each is read by the page object and again by normalisation.
    """
    if type(value) is str and len(value) <= _CACHED_LENGTH:
        return _cached_parse_datetime(value)
    return _parse_datetime(value)


def _parse_datetime(value: str | None) -> str | None:
    """``parse_datetime`` itself, uncached."""
    text = clean_text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        m = _TEXT_DATE.search(text)
        if not m or _month(m.group("month")) is None:
            m = _TEXT_DATE_YEAR_FIRST.search(text)
        month = _month(m.group("month")) if m else None
        if not m or month is None:
            raise ValueError(f"not a date: {value!r}")
        hour = m.group("h1") or m.group("h2")
        minute = m.group("m1") or m.group("m2")
        if hour is None and _NEAR_CLOCK.match(text, m.end()):
            raise ValueError(f"a time that cannot be placed: {value!r}")
        parsed = datetime(int(m.group("year")), month, int(m.group("day")), int(hour or 0), int(minute or 0))
    return kz_iso(parsed)


#: ``_parse_datetime`` with its answers kept (an exception is not kept: it is raised again each time).
_cached_parse_datetime = lru_cache(maxsize=4096)(_parse_datetime)


#: Query parameters that only track a click: ``utm_*`` and these ad networks' click ids.
_TRACKING = {"fbclid", "gclid", "yclid", "ysclid"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str, raw: Any) -> tuple[str, str, int, SplitResult]:
    """(scheme, lower-case host, port made explicit, parts) of an absolute http(s) URL; ``ValueError`` if not one.

    A page's own URL is the base of most of its links: its reading is kept (``_known_origin``).
    """
    if type(url) is str and len(url) <= _CACHED_LENGTH:
        found = _known_origin(url)
        if found is not None:
            return found
    return _read_origin(url, raw)


@lru_cache(maxsize=1024)
def _known_origin(url: str) -> tuple[str, str, int, SplitResult] | None:
    """``_origin`` of a URL string, or ``None`` when it has none (``_read_origin`` then says why)."""
    try:
        return _read_origin(url, url)
    except ValueError:
        return None


def _read_origin(url: str, raw: Any) -> tuple[str, str, int, SplitResult]:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {raw!r}")
    try:
        port = parts.port
    except ValueError as exc:  # ":abc", ":99999"
        raise ValueError(f"not a valid port in {raw!r}") from exc
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme], parts


def _same_site(host: str, port: int, site_host: str, site_port: int) -> bool:
    """One host, with or without ``www.``, on the site's port; a site on a default port owns both (http, https)."""
    if host.removeprefix("www.") != site_host.removeprefix("www."):
        return False
    defaults = set(_DEFAULT_PORTS.values())
    return port == site_port or (port in defaults and site_port in defaults)


def on_site(url: str | None, site: str) -> bool:
    """Is ``url`` on the site of ``site`` (the page's own URL, or the base URL)? See ``canonical_url``."""
    text = clean_text(url)
    if text is None:
        return False
    try:
        _, host, port, _ = _origin(urljoin(site, text), url)
        _, site_host, site_port, _ = _origin(site, site)
    except ValueError:
        return False
    return _same_site(host, port, site_host, site_port)


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """One spelling per page, so the listing's link and the stored key are the same string.

    Absolute (resolved against ``base``), host lower-cased, no user info, default port, trailing
    slash, fragment, ``utm_*`` or click-id parameters. ``base`` is the site (the page's own URL
    or the spider's base URL): a URL on its host (the same host, ``www.`` or not, on the site's
    port, or on 80 / 443 for a site on a default port) takes the site's scheme, host and port.
    So ``http://INFORMBURO.KZ:443/novosti/x/`` on https://informburo.kz is
    ``https://informburo.kz/novosti/x``, and on the mirror (http://127.0.0.1:PORT) http stays http.
    A URL on another host keeps its own scheme and host. An article's AMP copy is the article
    (``without_amp``); an older article's ``.html`` stays, it is that page's own URL.

    Answers for strings are kept (``_cached_canonical_url``): a crawl normalises the same links
    (listing entries, known URLs, a page's own address) again and again.
    """
    if type(url) is str and (base is None or type(base) is str) and len(url) + len(base or "") <= _CACHED_LENGTH:
        return _cached_canonical_url(url, base)
    return _canonical_url(url, base)


def _canonical_url(url: str | None, base: str | None = None) -> str | None:
    """``canonical_url`` itself, uncached."""
    text = clean_text(url)
    if text is None:
        return None
    if base:
        text = urljoin(base, text)
    scheme, host, port, parts = _origin(text, url)
    if base:
        try:
            site_scheme, site_host, site_port, _ = _origin(base, base)
        except ValueError:  # no site to compare with: the URL keeps its own origin
            site_host = ""
        if site_host and _same_site(host, port, site_host, site_port):
            scheme, host, port = site_scheme, site_host, site_port
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    ]
    return urlunsplit((scheme, netloc, without_amp(parts.path).rstrip("/") or "/", urlencode(query), ""))


#: ``_canonical_url`` with its answers kept (an exception is not kept: it is raised again each time).
_cached_canonical_url = lru_cache(maxsize=4096)(_canonical_url)


def _section(segments: list[str]) -> str | None:
    """The section of an article path's segments (a section's path, then at least a slug), or ``None``."""
    for section in ARTICLE_SECTIONS:
        prefix = SECTION_PATHS.get(section, (section,))
        if len(segments) > len(prefix) and tuple(segments[: len(prefix)]) == prefix:
            return section
    return None


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def without_amp(path: str) -> str:
    """An AMP copy's path as its article's (``/amp/novosti/x`` → ``/novosti/x``); any other path as it is.

    The AMP copy's canonical link names the article itself, so both spellings are one page with
    one key: the listing's link, the canonical link and the known-URL check then agree, and the
    story is neither fetched nor stored twice. Only an article path behind ``/amp`` is folded.
    """
    segments = _segments(path)
    if len(segments) > 1 and segments[0] == AMP_PREFIX and _section(segments[1:]):
        return path[path.index(AMP_PREFIX) + len(AMP_PREFIX) :]
    return path


def section_of(url: str | None) -> str | None:
    """The section an article URL belongs to, else ``None`` (story hubs, tag pages, the home page…).

    ``/novosti/<slug>`` (an older one ending in ``.html`` too), ``/stati/…``, ``/cards/…``,
    ``/interview/…`` are their first segment; Kazakh news, ``/kaz/newskaz/<slug>``, is
    ``newskaz``; an AMP copy (``/amp/…``) is its article's section.
    """
    if not url:
        return None
    return _section(_segments(without_amp(urlsplit(url).path)))


def language(value: str | None) -> str | None:
    """ "ru-RU" → "ru"; "kk" / "kz" → "kk"."""
    text = clean_text(value)
    if text is None:
        return None
    code = text.lower().replace("_", "-").split("-")[0].strip()
    return "kk" if code in ("kk", "kz") else (code or None)


# --- text a page should never have given us -----------------------------------------

#: Letters of the Latin-1 range standing in for Cyrillic: UTF-8 read as Latin-1 or cp1252 ("Ð¿Ñ€Ð¸"),
#: cp1251 read as Latin-1 ("Ïðèâåò"). A few in a French name are real; a third of the letters is not.
_LATIN1_LETTERS = re.compile("[\u00c0-\u00ff]")
GARBLED_SHARE = 0.3
#: A notice, not a story: cookie and consent banners, and the pages an anti-bot wall or a
#: paywall serves instead of the article (Russian, Kazakh, English).
_BOILERPLATE_WORDS = (
    r"cookie|куки|cookies? файл|файлы cookie|согласи[еяю] на (?:обработку|использование)|персональных данных"
    r"|политик[аеиуой]+ конфиденциальности|privacy policy|принять (?:все|cookie)|accept (?:all|cookies)"
    r"|we use cookies|мы используем|жеке деректер|enable javascript|включите javascript|checking your browser"
    r"|проверка браузера|access denied|доступ запрещ|оформите подписку|subscribe to (?:read|continue)"
)
#: The letters the words above start with: one test a position before trying twenty alternatives
#: (three times faster; the matches are the same, since every alternative starts with one of them).
_BOILERPLATE_FIRST = "acepswвджкмопсф"
_BOILERPLATE = re.compile(f"(?=[{_BOILERPLATE_FIRST}])(?:{_BOILERPLATE_WORDS})", re.IGNORECASE)
#: Only a short body is judged by its vocabulary: a long article about cookies is still an article.
BOILERPLATE_MAX = 1500


def garbled(text: str | None) -> str | None:
    """Why ``text`` is mojibake (a page decoded with the wrong charset), or ``None``.

    Replacement characters (bytes that were not the declared encoding), or Latin-1 letters
    making up a third of the letters (Cyrillic bytes read as a Western code page).
    """
    if not text:
        return None
    replaced = text.count("\ufffd")
    if replaced >= 3 and replaced >= 0.01 * len(text):
        return f"mojibake: {replaced} of {len(text)} characters are U+FFFD (bytes not of the declared charset)"
    latin1 = len(_LATIN1_LETTERS.findall(text))
    if latin1 >= 5:
        letters = sum(ch.isalpha() for ch in text)
        if latin1 >= GARBLED_SHARE * letters:
            return f"mojibake: {latin1} of {letters} letters are Latin-1 (Cyrillic read in the wrong code page)"
    return None


def readable_text(value: str | None) -> str | None:
    """``clean_text``, refusing mojibake (``ValueError``): garbled text is no title or lead."""
    text = clean_text(value)
    reason = garbled(text)
    if reason:
        raise ValueError(reason)
    return text


def readable_body(blocks: list[str] | str | None) -> str | None:
    """``join_blocks``, refusing mojibake and a short body that is a cookie, consent or anti-bot notice."""
    text = join_blocks(blocks)
    reason = garbled(text)
    if reason:
        raise ValueError(reason)
    if text and len(text) <= BOILERPLATE_MAX:
        found = sorted({m.group(0).lower() for m in _BOILERPLATE.finditer(text)})
        if len(found) >= 2:
            raise ValueError(f"a notice, not an article ({', '.join(repr(f) for f in found[:4])})")
    return text


_WORDS = re.compile(r"\w{4,}")


def shared_words(a: str | None, b: str | None) -> float:
    """The share of the shorter text's words (of four letters or more) that the other one has too:
    near 1 for an edited or extended story, near 0 for another text altogether."""
    x, y = set(_WORDS.findall((a or "").casefold())), set(_WORDS.findall((b or "").casefold()))
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))


def clean_tags(tags: list[str] | None) -> list[str]:
    """Tag texts without "#", cleaned, empty and repeated ones dropped, page order kept."""
    out: list[str] = []
    for tag in tags or []:
        text = clean_text(tag)
        text = clean_text(text.lstrip("#")) if text else None
        if text and text not in out:
            out.append(text)
    return out


_TODAY = {"сегодня", "бүгін"}
_YESTERDAY = {"вчера", "кеше"}
_HEADING_DATE = re.compile(r"^(?P<day>\d{1,2})\s+(?P<month>[^\W\d_]+)(?:\s+(?P<year>\d{4}))?")
_CLOCK = re.compile(r"(?P<h>\d{1,2}):(?P<m>\d{2})")


def listing_datetime(heading: str | None, clock: str | None, now: datetime) -> str | None:
    """A listing entry's time from its date heading and "13:51", against the crawl time.

    "Сегодня"/"Бүгін" and "Вчера"/"Кеше" count from ``now`` in Kazakhstan time; "16 января"
    without a year is the latest such date not after ``now`` (so in early January,
    "31 декабря" is last year). ``None`` when either part is missing or unreadable.
    """
    heading, clock = clean_text(heading), clean_text(clock)
    if not heading or not clock:
        return None
    time_match = _CLOCK.search(clock)
    if not time_match:
        return None
    today = as_kz(now).date()  # a naive ``now`` is Kazakhstan time
    key = heading.lower()
    if key in _TODAY:
        day = today
    elif key in _YESTERDAY:
        day = today - timedelta(days=1)
    else:
        m = _HEADING_DATE.match(heading)
        month = _month(m.group("month")) if m else None
        if not m or month is None:
            return None
        year = int(m.group("year")) if m.group("year") else today.year
        try:
            day = datetime(year, month, int(m.group("day"))).date()
            if not m.group("year") and day > today:
                day = day.replace(year=year - 1)
        except ValueError:
            return None
    try:  # the wall time of that day, with the offset in force then
        return kz_iso(datetime(day.year, day.month, day.day, int(time_match["h"]), int(time_match["m"])))
    except ValueError:  # "25:00"
        return None
