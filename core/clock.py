"""Kazakhstan time, as every stored timestamp is written: the local time in force at that instant.

Kazakhstan kept UTC+06:00 (Almaty) until 1 March 2024 and one UTC+05:00 zone since; a fixed
+05:00 would put an article published at 00:30 on 1 May 2023 on 30 April. Stored text keeps the
zone's offset of its instant, so ``substr(published_at, 1, 10)`` is always the Kazakhstan date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The tz database's zone for Kazakhstan (Almaty's clock is the country's since March 2024).
ZONE = "Asia/Almaty"
#: The instant Almaty went from UTC+06:00 to UTC+05:00 (tz 2024a: "6:00 - +06 2024 Mar" then
#: "5:00 - +05"): 00:00 local on 1 March 2024, when the clocks went back to 23:00 on 29 February.
UNIFIED_AT = datetime(2024, 2, 29, 18, 0, tzinfo=UTC)


def has_2024_change(zone: tzinfo) -> bool:
    """Whether ``zone`` knows Kazakhstan's move to UTC+05:00; data older than tz 2024a keeps +06:00."""
    before = (UNIFIED_AT - timedelta(seconds=1)).astimezone(zone).utcoffset()
    return before == timedelta(hours=6) and UNIFIED_AT.astimezone(zone).utcoffset() == timedelta(hours=5)


class _PackagedZone(ZoneInfo):
    """Asia/Almaty read from the tzdata package's file. A zone read from a file cannot pickle
    itself, so it pickles as a reference to this module's zone (Scrapy's JOBDIR pickles requests)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _kz_tz, ()


def _kz_tz() -> tzinfo:
    return KZ_TZ


def load_zone(system: tzinfo | None = None) -> tzinfo:
    """Asia/Almaty with the 2024 change: the system's zoneinfo (Python looks there first) when it
    has it, else the declared ``tzdata`` package's copy, read explicitly because Python never gets
    past an outdated system file to it. ``RuntimeError`` when neither has it: no wrong offset is stored.
    ``system`` stands in for the system's zone (tests)."""
    try:
        zone = system if system is not None else ZoneInfo(ZONE)
    except ZoneInfoNotFoundError:
        zone = None
    if zone is not None and has_2024_change(zone):
        return zone
    try:
        with resources.files("tzdata.zoneinfo").joinpath("Asia", "Almaty").open("rb") as data:
            packaged: tzinfo = _PackagedZone.from_file(data, key=ZONE)
    except (ModuleNotFoundError, OSError):
        packaged = None
    if packaged is None or not has_2024_change(packaged):
        raise RuntimeError(
            f"no time zone data for {ZONE} with Kazakhstan's move to UTC+05:00 (tz 2024a): pip install -U tzdata"
        )
    return packaged


#: Kazakhstan time: aware datetimes in it carry the offset in force at their instant.
KZ_TZ: tzinfo = load_zone()


def as_kz(value: str | datetime) -> datetime:
    """An ISO 8601 time (string or datetime) in Kazakhstan time; a naive one is the local time in force then.

    Through UTC, so a wall time the clocks skipped (a DST spring-forward, up to 2004) gets its real offset.
    """
    raw = value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a date: {raw!r}") from None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=KZ_TZ)
    try:
        return value.astimezone(UTC).astimezone(KZ_TZ)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        shown = raw if isinstance(raw, str) else raw.isoformat()
        raise ValueError(f"date value out of range in Kazakhstan time: {shown!r}") from None


def kz_iso(value: str | datetime) -> str:
    """The stored text form of a time: ISO 8601 to the second, with the Kazakhstan offset of its instant."""
    return as_kz(value).isoformat(timespec="seconds")


def now_kz() -> str:
    """The current time as stored: ISO 8601 with the Kazakhstan offset (+05:00 since March 2024)."""
    return datetime.now(KZ_TZ).isoformat(timespec="seconds")


def since_bound(value: str) -> str:
    """``2026-01-16`` (a Kazakhstan day) or a full ISO time → the stored text form to compare with.

    For command-line bounds (``--since``); a naive time is Kazakhstan time. A day starts at its
    own offset (``2023-05-01T00:00:00+06:00``), as the rows of that day are stored.
    """
    if len(value) == 10:
        return kz_iso(datetime.combine(date.fromisoformat(value), time()))
    return kz_iso(value)
