"""Kazakhstan time, as every stored timestamp is written."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

#: Kazakhstan time: the offset stored timestamps carry (a single UTC+05:00 zone since March 2024).
KZ_TZ = timezone(timedelta(hours=5))


def now_kz() -> str:
    """The current time as stored: ISO 8601 with +05:00."""
    return datetime.now(KZ_TZ).isoformat(timespec="seconds")


def since_bound(value: str) -> str:
    """``2026-01-16`` (a Kazakhstan day) or a full ISO time → the stored text form to compare with.

    For command-line bounds (``--since``); a naive time is Kazakhstan time.
    """
    if len(value) == 10:
        return date.fromisoformat(value).isoformat() + "T00:00:00+05:00"
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KZ_TZ)
    return parsed.astimezone(KZ_TZ).isoformat(timespec="seconds")
