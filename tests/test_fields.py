"""The field rules of the anatomy, one function each, with property tests for the normalisers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.fields import (
    KZ_TZ,
    canonical_url,
    clean_tags,
    clean_text,
    currency_code,
    join_blocks,
    language,
    listing_datetime,
    on_site,
    parse_amount,
    parse_count,
    parse_datetime,
    section_of,
    split_emoji,
    split_rate,
)
from mirror.site import MONTHS

RU_MONTHS = MONTHS["ru"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  a\u00a0b\u2009c\u202fd  ", "a b c d"),
        ("пере\u00adговоры", "переговоры"),
        ("a\u200bb\ufeffc", "abc"),
        ("a \n\t  b", "a b"),
        ("«кавычки» — и – тире", "«кавычки» — и – тире"),
        ("👨\u200d👩\u200d👧 семья", "👨\u200d👩\u200d👧 семья"),
        ("слово\u200dслово", "словослово"),
        ("⚠\ufe0f внимание", "⚠\ufe0f внимание"),
        ("   ", None),
        (None, None),
    ],
)
def test_clean_text(raw: str | None, clean: str | None) -> None:
    assert clean_text(raw) == clean


@given(st.text())
def test_clean_text_is_idempotent_and_leaves_no_odd_space(text: str) -> None:
    once = clean_text(text)
    assert clean_text(once) == once
    if once is not None:
        assert once == once.strip() and "  " not in once
        assert not any(ch in once for ch in "\u00a0\u2009\u200b\u00ad\ufeff\n\t")


def test_join_blocks_drops_empty_blocks() -> None:
    assert join_blocks([" один ", "\u00a0", "два\nтри"]) == "один\n\nдва три"
    assert join_blocks([]) is None


@pytest.mark.parametrize(
    ("raw", "count"),
    [
        ("11674", 11674),
        ("11 674", 11674),
        ("11\u00a0674", 11674),
        ("11\u2009674", 11674),
        ("1,2 тыс.", 1200),
        ("1.2 тыс", 1200),
        ("12K", 12000),
        ("12к", 12000),
        ("3 млн", 3_000_000),
        ("0", 0),
        ("—", None),
        ("", None),
        (None, None),
        (7, 7),
    ],
)
def test_parse_count(raw: object, count: int | None) -> None:
    assert parse_count(raw) == count


@pytest.mark.parametrize("raw", ["много", "12.5", "1 2 3 x", "-5"])
def test_parse_count_refuses_what_is_not_a_counter(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_count(raw)


@given(st.text())
def test_parse_count_reads_or_refuses_never_crashes(text: str) -> None:
    try:
        value = parse_count(text)
    except ValueError:
        return
    assert value is None or value >= 0


@given(st.integers(min_value=0, max_value=10**9))
def test_parse_count_reads_grouped_numbers(n: int) -> None:
    grouped = f"{n:,}".replace(",", "\u00a0")
    assert parse_count(grouped) == n == parse_count(str(n))


@pytest.mark.parametrize(
    ("raw", "buy", "sell"),
    [("505.1 / 508.1", 505.1, 508.1), ("505,1 / 508,1", 505.1, 508.1), ("— / 6.63", None, 6.63)],
)
def test_rates(raw: str, buy: float | None, sell: float | None) -> None:
    b, s = split_rate(raw)
    assert (parse_amount(b), parse_amount(s)) == (buy, sell)


def test_rate_refuses_a_value_that_is_not_a_pair() -> None:
    with pytest.raises(ValueError):
        split_rate("505.1")
    with pytest.raises(ValueError):
        parse_amount("abc")


def test_currency_code() -> None:
    assert currency_code(" usd: ") == "USD"
    assert currency_code("CNY") == "CNY"


@pytest.mark.parametrize(
    ("raw", "emoji", "title"),
    [
        ("🥩🥒 Сельскохозяйственная ярмарка", "🥩🥒", "Сельскохозяйственная ярмарка"),
        ("📚Частным школам", "📚", "Частным школам"),
        ("‼️ Ну что, друзья", "‼️", "Ну что, друзья"),
        ("⚠️ Доброе утро!", "⚠️", "Доброе утро!"),
        ("👨\u200d👩\u200d👧 Семья", "👨\u200d👩\u200d👧", "Семья"),
        ("🇰🇿 Флаг", "🇰🇿", "Флаг"),
        ("🥩 🥒 Через пробел", "🥩🥒", "Через пробел"),
        ("Без эмодзи 🥩", None, "Без эмодзи 🥩"),
        ("2026: год реформ", None, "2026: год реформ"),
    ],
)
def test_split_emoji(raw: str, emoji: str | None, title: str) -> None:
    assert split_emoji(raw) == (emoji, title)


@given(st.text())
def test_split_emoji_never_crashes_and_loses_no_letters(text: str) -> None:
    emoji, title = split_emoji(text)
    assert emoji is None or not any(ch.isalnum() for ch in emoji)
    kept = "".join(ch for ch in (emoji or "") + (title or "") if ch.isalnum())
    assert kept == "".join(ch for ch in (clean_text(text) or "") if ch.isalnum())


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2026-01-16T10:52:00+05:00", "2026-01-16T10:52:00+05:00"),
        ("2026-01-16T05:52:00Z", "2026-01-16T10:52:00+05:00"),
        ("2026-01-16T10:52:00", "2026-01-16T10:52:00+05:00"),
        ("10:52, 16 января 2026", "2026-01-16T10:52:00+05:00"),
        ("23:40, 15 января 2026", "2026-01-15T23:40:00+05:00"),
        ("09:05, 15 қаңтар 2026", "2026-01-15T09:05:00+05:00"),
        ("16 января 2026, 10:52", "2026-01-16T10:52:00+05:00"),
        ("16 января 2026 года в 10:52", "2026-01-16T10:52:00+05:00"),
        ("16 января 2026 г. в 10:52", "2026-01-16T10:52:00+05:00"),
        ("Опубликовано 16 января 2026 г., 10:52", "2026-01-16T10:52:00+05:00"),
        ("16 қаңтар 2026 ж. 10:52", "2026-01-16T10:52:00+05:00"),
        ("16 қаңтар 2026 жылы, сағат 10:52", "2026-01-16T10:52:00+05:00"),
        ("2026 жылғы 16 қаңтар, 10:52", "2026-01-16T10:52:00+05:00"),
        ("2026 ж. 16 қаңтарда сағ. 10:52", "2026-01-16T10:52:00+05:00"),
        ("10:52, 2026 жылғы 16 қаңтар", "2026-01-16T10:52:00+05:00"),
        ("16 января 2026", "2026-01-16T00:00:00+05:00"),  # a date alone: its midnight, as an ISO date is
        # Before 1 March 2024 Kazakhstan was at UTC+06:00: the day and hour are the ones shown then.
        ("1 мая 2023 года в 00:30", "2023-05-01T00:30:00+06:00"),
        ("2023-05-01T00:30:00+06:00", "2023-05-01T00:30:00+06:00"),
        ("2023-04-30T23:30:00+05:00", "2023-05-01T00:30:00+06:00"),
        (None, None),
    ],
)
def test_parse_datetime(raw: str | None, iso: str | None) -> None:
    assert parse_datetime(raw) == iso


@pytest.mark.parametrize(
    "text",
    [
        "вчера вечером",
        "16 января 2026 года около 10:52",  # a time it cannot place is refused, not read as midnight
        "16 января 2026 года в 25:10",
        "31 февраля 2026 года в 10:52",
        "16 мартобря 2026 года в 10:52",
    ],
)
def test_parse_datetime_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://Informburo.kz/novosti/x?utm_source=tg&utm_medium=a#top", "https://informburo.kz/novosti/x"),
        ("/novosti/x?page=2&utm_campaign=c", "https://informburo.kz/novosti/x?page=2"),
        ("https://informburo.kz", "https://informburo.kz/"),
    ],
)
def test_canonical_url(raw: str, url: str) -> None:
    assert canonical_url(raw, "https://informburo.kz/stati/y") == url


def test_canonical_url_refuses_non_http() -> None:
    with pytest.raises(ValueError):
        canonical_url("javascript:alert(1)")


@pytest.mark.parametrize(
    ("url", "section"),
    [
        ("https://informburo.kz/novosti/x", "novosti"),
        ("https://informburo.kz/stati/x", "stati"),
        ("https://informburo.kz/cards/x", "cards"),
        ("https://informburo.kz/interview/x", "interview"),
        ("https://informburo.kz/novosti", None),
        ("https://informburo.kz/tags/x", None),
        ("https://informburo.kz/author/x", None),
    ],
)
def test_section_of(url: str, section: str | None) -> None:
    assert section_of(url) == section


def test_language_and_tags() -> None:
    assert language("ru-RU") == "ru" and language("kk") == "kk" and language("kz") == "kk"
    assert clean_tags(["#КТК", " нефть ", "#КТК", "", "#"]) == ["КТК", "нефть"]


@given(st.text())
def test_reading_functions_read_or_refuse_with_value_error(text: str) -> None:
    for read in (parse_amount, parse_datetime, canonical_url, currency_code, language):
        try:
            value = read(text)
        except ValueError:
            continue
        if value is not None and read is not parse_amount:
            assert value == read(value)  # idempotent: a stored value reads back as itself


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_parse_datetime_round_trips_any_moment(moment: datetime) -> None:
    # The wall time in Kazakhstan, with the offset in force at that instant (through UTC, so a
    # wall time the clocks skipped in a DST spring-forward takes its real offset).
    local = moment.replace(second=0, microsecond=0, tzinfo=KZ_TZ).astimezone(UTC).astimezone(KZ_TZ)
    stamp = local.isoformat()
    assert parse_datetime(stamp) == stamp
    text = f"{moment:%H:%M}, {moment.day} {RU_MONTHS[moment.month - 1]} {moment.year}"
    assert parse_datetime(text) == stamp


@pytest.mark.parametrize(
    ("heading", "clock", "iso"),
    [
        ("Сегодня", "13:51", "2026-01-16T13:51:00+05:00"),
        ("Бүгін", "08:00", "2026-01-16T08:00:00+05:00"),
        ("Вчера", "23:40", "2026-01-15T23:40:00+05:00"),
        ("Кеше", "23:40", "2026-01-15T23:40:00+05:00"),
        ("16 января", "10:52", "2026-01-16T10:52:00+05:00"),
        ("31 декабря", "12:00", "2025-12-31T12:00:00+05:00"),  # no year: the latest one not in the future
        ("31 декабря 2025", "12:00", "2025-12-31T12:00:00+05:00"),
        ("15 қаңтар", "09:05", "2026-01-15T09:05:00+05:00"),
        ("31 декабря 2023", "12:00", "2023-12-31T12:00:00+06:00"),  # UTC+06:00 until 1 March 2024
        ("Сегодня", None, None),
        ("Сегодня", "25:00", None),
        ("Послезавтра", "10:00", None),
        ("31 февраля", "10:00", None),
    ],
)
def test_listing_datetime_resolves_against_the_crawl_date(heading: str, clock: str | None, iso: str | None) -> None:
    # 00:30 on 16 January in Kazakhstan is still 15 January in UTC: the day must be Kazakhstan's.
    now = datetime(2026, 1, 15, 19, 30, tzinfo=UTC)
    assert listing_datetime(heading, clock, now) == iso


@given(st.text(), st.text())
def test_listing_datetime_never_raises(heading: str, clock: str) -> None:
    result = listing_datetime(heading, clock, datetime(2026, 1, 16, 15, 0, tzinfo=KZ_TZ))
    assert result is None or parse_datetime(result) == result  # in the stored form, offset of its day


def test_the_space_table_covers_every_unicode_separator() -> None:
    import sys
    import unicodedata

    from crawler.fields import UNICODE_SPACES

    separators = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")}
    assert separators - {" "} <= set(UNICODE_SPACES)


# -- canonical URLs and bidirectional controls -------------------------------------

SITE_BASES = ("https://informburo.kz", "http://127.0.0.1:8765")


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("http://INFORMBURO.KZ:443/novosti/x/", "https://informburo.kz/novosti/x"),
        ("HTTPS://www.Informburo.kz:80/novosti/x//#top", "https://informburo.kz/novosti/x"),
        (
            "//informburo.kz/novosti/x?fbclid=1&yclid=2&ysclid=3&gclid=4&page=2",
            "https://informburo.kz/novosti/x?page=2",
        ),
        ("https://user:secret@informburo.kz/novosti/x", "https://informburo.kz/novosti/x"),
        # another host keeps its own scheme and host, normalised all the same
        ("http://KAZINFORM.kz:80/novosti/x/?utm_source=a", "http://kazinform.kz/novosti/x"),
        ("https://informburo.kz:8443/novosti/x", "https://informburo.kz:8443/novosti/x"),  # another port
        ("https://cdn.informburo.kz/a.jpg", "https://cdn.informburo.kz/a.jpg"),
    ],
)
def test_canonical_url_on_the_live_site(raw: str, url: str) -> None:
    assert canonical_url(raw, "https://informburo.kz/stati/y") == url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://127.0.0.1:8765/novosti/x/", "http://127.0.0.1:8765/novosti/x"),  # the mirror's http stays
        ("/novosti/x/#c", "http://127.0.0.1:8765/novosti/x"),
        ("http://127.0.0.1:9/novosti/x", "http://127.0.0.1:9/novosti/x"),  # another port: another site
        ("http://127.0.0.1/novosti/x", "http://127.0.0.1/novosti/x"),
    ],
)
def test_canonical_url_on_the_mirror(raw: str, url: str) -> None:
    assert canonical_url(raw, "http://127.0.0.1:8765/novosti") == url


@pytest.mark.parametrize("base", SITE_BASES)
@pytest.mark.parametrize(
    "spelling",
    ["{base}/novosti/x", "{base}/novosti/x/", "/novosti/x?utm_source=tg#comments", "{base}/novosti/x/?fbclid=1"],
)
def test_every_spelling_of_a_link_is_the_stored_key(base: str, spelling: str) -> None:
    """The listing's link and the article page's canonical meet on one string, on the live site and the mirror."""
    key = canonical_url(f"{base}/novosti/x", base)
    assert canonical_url(spelling.replace("{base}", base), base) == key == f"{base}/novosti/x"
    assert canonical_url(key) == key  # the normalise pipeline leaves a stored key alone


def test_on_site() -> None:
    assert on_site("http://www.INFORMBURO.kz:443/x", "https://informburo.kz/novosti/y")
    assert on_site("/novosti/x", "https://informburo.kz")
    assert not on_site("https://informburo.kz.example/x", "https://informburo.kz")
    assert not on_site("https://informburo.kz:8443/x", "https://informburo.kz")
    assert not on_site("http://127.0.0.1:9/x", "http://127.0.0.1:8765")
    assert not on_site("javascript:alert(1)", "https://informburo.kz") and not on_site(None, "https://informburo.kz")


BIDI = "\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("control", list(BIDI))
def test_clean_text_drops_bidirectional_controls(control: str) -> None:
    assert clean_text(f"{control}Заголовок {control}статьи{control}") == "Заголовок статьи"


@given(st.lists(st.one_of(st.sampled_from(BIDI + "\x01\u200d\ufe0f😀a "), st.text(max_size=3))).map("".join))
def test_no_bidirectional_control_survives_clean_text(text: str) -> None:
    """Controls mixed with joiners and selectors: all go, and a second pass changes nothing."""
    once = clean_text(text)
    assert once is None or not any(ch in once for ch in BIDI)
    assert clean_text(once) == once


@pytest.mark.parametrize("raw", ["a\x01\ufe0f", "a\u202e\ufe0f", "a\u2066\u200d\ufe0f"])
def test_a_selector_is_judged_by_the_neighbours_that_stay(raw: str) -> None:
    """A removed control between a letter and a variation selector must not make the selector survive once."""
    assert clean_text(raw) == "a"
