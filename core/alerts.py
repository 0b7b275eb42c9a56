"""Where alerts go: the ``[alerts]`` table of the config and ``INFORMBURO_ALERT_URLS``, read into destinations.

Each destination is one Apprise URL (``tgram://``, ``mailto://``, ``json://``, ``ntfy://`` …) and the
severities it takes. Secrets stay out of the file: a URL may say ``${NAME}``, and the value is read from
the environment only when an alert is sent (monitoring/alerts.py), so a command that never alerts does
not fail for a variable it does not need. Pure: imports no library that sends, and nothing of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("warning", "critical")
#: The keys of ``[alerts]``: ``urls`` take every severity, the others only their own.
KEYS = ("urls", "critical", "warning")
#: Comma- or whitespace-separated URLs that take every severity, added to the file's.
ENVIRONMENT_VARIABLE = "INFORMBURO_ALERT_URLS"

#: ``scheme://`` and something after it; Apprise schemes are short lower-case words (``tgram``, ``mailtos``).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
#: A well-formed placeholder; every other ``${`` is a mistake we name at parse time.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Where one URL ends and the next starts in the variable: whitespace, or a comma before ``scheme://``
#: (a comma inside a URL, as in ``?to=a@x.org,b@x.org``, stays in it).
_SPLIT = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_SHOWN = 12  # characters of a bad value an error repeats: enough to find it, too few to leak a token


class AlertsConfigError(ValueError):
    """A malformed ``[alerts]`` value, in one line that names the key (the config turns it into ConfigError)."""


@dataclass(frozen=True)
class Destination:
    """One Apprise URL, as written (``${NAME}`` placeholders unresolved), and the severities it takes."""

    url: str
    severities: frozenset[str] = frozenset(SEVERITIES)

    def takes(self, severity: str) -> bool:
        return severity in self.severities

    def placeholders(self) -> tuple[str, ...]:
        """The environment variables this URL needs at send time, in order, each once."""
        return tuple(dict.fromkeys(PLACEHOLDER.findall(self.url)))


@dataclass(frozen=True)
class AlertsConfig:
    """Every destination; empty (false) when nobody is to be told."""

    destinations: tuple[Destination, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.destinations)

    def merged(self, extra: Iterable[Destination]) -> AlertsConfig:
        """These destinations and ``extra`` (e.g. ``alerts_from_environment``), a URL named twice sent to once."""
        return AlertsConfig(_merge([*self.destinations, *extra]))


def parse_alerts(table: Any) -> AlertsConfig:
    """The ``[alerts]`` table as tomllib read it (None when the file has none).

    ``urls`` take every severity, ``critical`` and ``warning`` only theirs; each is a list of URLs
    (a single string is a list of one). Raises AlertsConfigError on anything else.
    """
    if table is None:
        return AlertsConfig()
    if not isinstance(table, Mapping):
        raise AlertsConfigError(f"[alerts]: expected a table, got {_describe(table)}")
    for key in table:
        if key not in KEYS:
            raise AlertsConfigError(f"[alerts] unknown key {key!r} (known: {', '.join(KEYS)})")
    found: list[Destination] = []
    for key in KEYS:
        if key not in table:
            continue
        value = table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise AlertsConfigError(f"[alerts] {key}: expected a list of URLs, got {_describe(value)}")
        severities = frozenset(SEVERITIES) if key == "urls" else frozenset({key})
        for index, url in enumerate(value):
            found.append(Destination(_checked(url, f"[alerts] {key}[{index}]"), severities))
    return AlertsConfig(_merge(found))


def alerts_from_environment(environ: Mapping[str, str]) -> tuple[Destination, ...]:
    """The destinations of ``INFORMBURO_ALERT_URLS`` (every severity); none when it is unset or blank."""
    text = environ.get(ENVIRONMENT_VARIABLE, "")
    urls = [part for part in _SPLIT.split(text) if part and part != ","]
    return _merge(
        Destination(_checked(url.strip(","), f"{ENVIRONMENT_VARIABLE}[{index}]")) for index, url in enumerate(urls)
    )


def _checked(url: Any, where: str) -> str:
    """The URL if it is one and its placeholders are well formed; else AlertsConfigError naming ``where``."""
    if not isinstance(url, str):
        raise AlertsConfigError(f"{where}: expected a URL string, got {_describe(url)}")
    url = url.strip()
    if not _URL.match(url):
        raise AlertsConfigError(f"{where}: {_shown(url)} is not a URL (scheme://…)")
    rest = PLACEHOLDER.sub("", url)
    if "${" in rest:
        bad = rest[rest.index("${") :][:_SHOWN].split("}")[0]
        raise AlertsConfigError(f"{where}: bad placeholder {bad!r}… (write ${{NAME}}: letters, digits and _)")
    return url


def _merge(destinations: Iterable[Destination]) -> tuple[Destination, ...]:
    """One destination per URL, first place kept, severities joined: a URL listed twice is not alerted twice."""
    by_url: dict[str, frozenset[str]] = {}
    for destination in destinations:
        by_url[destination.url] = by_url.get(destination.url, frozenset()) | destination.severities
    return tuple(Destination(url, severities) for url, severities in by_url.items())


def _shown(value: str) -> str:
    """A bad value, quoted and cut short: it may hold a password or a token, and errors get logged."""
    return repr(value) if len(value) <= _SHOWN else repr(value[:_SHOWN]) + "…"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, str):
        return _shown(value)
    return type(value).__name__
