"""The currency-rates widget (``section.currency-rates``), buy / sell in tenge."""

from __future__ import annotations

from lxml import etree
from parsel import Selector

from crawler.fields import clean_text, currency_code, split_rate
from crawler.items import RateQuote
from crawler.pages.base import as_selector, css, first_text
from crawler.pages.shape import find_rates
from crawler.pages.sidebar import SHAPE, SITE, Widget, duplicate_blocks

BLOCKS = "section.currency-rates table.currency-rates-table"
ROW = "tr"
CODE = "td.currency-code"
VALUE = "td.currency-value"


def parse_rates(page: str | bytes | Selector, url: str, captured_at: str | None = None) -> Widget[RateQuote]:
    """One raw quote per table row that names a currency.

    A page with two rates widgets, or one currency twice, keeps the first (a snapshot has one
    row per currency) and says what it left in ``problems``. Only when the named selectors find
    no row are the rates looked for by their shape (``shape.find_rates``): they are never overridden.
    """
    root = as_selector(page).root
    blocks = [block for block in css(BLOCKS)(root) if _rows(block)]
    if not blocks:
        return _by_shape(root, captured_at)
    problems = duplicate_blocks(blocks, _rows, "currency-rates")
    quotes: list[RateQuote] = []
    taken: dict[str, str | None] = {}
    for code, value in _rows(blocks[0]):
        key = currency_code(code)
        if key is not None and key in taken:
            kept, left = clean_text(taken[key]), clean_text(value)
            problems.append(f"{key} listed twice in the currency rates: took the first ({kept!r}), left {left!r}")
            continue
        if key is not None:
            taken[key] = value
        quote = RateQuote(currency=code, captured_at=captured_at)
        try:
            quote.buy, quote.sell = split_rate(value)
        except ValueError as exc:
            quote.problems["buy"] = quote.problems["sell"] = str(exc)
        quotes.append(quote)
    return Widget(quotes, problems, SITE)


def _by_shape(root: etree._Element, captured_at: str | None) -> Widget[RateQuote]:
    """The first rates block found by its shape; the others, and a currency listed twice, said in
    ``problems`` as for the selectors' tables; no block, an empty widget (``layer`` ``None``)."""
    blocks = find_rates(root, captured_at)
    if not blocks:
        return Widget()
    problems = duplicate_blocks(blocks, lambda block: [(q.currency, q.buy, q.sell) for q in block], "currency-rates")
    quotes: list[RateQuote] = []
    taken: dict[str, RateQuote] = {}
    for quote in blocks[0]:
        key = currency_code(quote.currency)
        if key is not None and key in taken:
            kept, left = (f"{q.buy} / {q.sell}" for q in (taken[key], quote))
            problems.append(f"{key} listed twice in the currency rates: took the first ({kept!r}), left {left!r}")
            continue
        if key is not None:
            taken[key] = quote
        quotes.append(quote)
    note = (
        f"currency rates found by their shape ({len(quotes)} currencies): the selectors"
        f" ({BLOCKS} {CODE}) matched nothing; check crawler/pages/rates.py"
    )
    return Widget(quotes, problems, SHAPE, [note])


def _rows(block: etree._Element) -> list[tuple[str, str | None]]:
    """(code, value) of each row of a table that names a currency, raw."""
    rows = []
    for row in css(ROW)(block):
        code = first_text(row, CODE)
        if code is not None:
            value = first_text(row, VALUE)
            rows.append((code, value))
    return rows
