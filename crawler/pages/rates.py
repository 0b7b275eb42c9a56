"""The currency-rates widget (``section.currency-rates``), buy / sell in tenge."""

from __future__ import annotations

from parsel import Selector

from crawler.fields import split_rate
from crawler.items import RateQuote
from crawler.pages.base import as_selector, first_text

ROWS = "section.currency-rates table.currency-rates-table tr"
CODE = "td.currency-code"
VALUE = "td.currency-value"


def parse_rates(page: str | bytes | Selector, url: str, captured_at: str | None = None) -> list[RateQuote]:
    """One raw quote per table row that names a currency."""
    sel = as_selector(page)
    quotes = []
    for row in sel.css(ROWS):
        code = first_text(row, CODE)
        if code is None:
            continue
        quote = RateQuote(currency=code, captured_at=captured_at)
        try:
            quote.buy, quote.sell = split_rate(first_text(row, VALUE))
        except ValueError as exc:
            quote.problems["buy"] = quote.problems["sell"] = str(exc)
        quotes.append(quote)
    return quotes
