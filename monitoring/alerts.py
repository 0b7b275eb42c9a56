"""Alert delivery: one message when an incident starts, one when it recovers, through Apprise.

Apprise reads one kind of URL for Telegram, email, Slack, Matrix, ntfy, a JSON webhook and a hundred
more, so a deployment adds a line to the config instead of us writing a client per service. The
monitors decide what to say (an ``Alert``); ``send`` says it to every destination that takes its
severity, each on its own, and reports one ``Delivery`` per try: it never raises, and one dead
destination never keeps the others from being told.

Secrets live in the URLs (bot tokens, passwords, webhook paths), read from the environment at send
time. They must not reach a log line, an exception or a ``Delivery``: destinations are shown by scheme
and host only, and a filter on the loggers of Apprise and urllib3 masks every secret part of a URL
we sent to (Apprise logs whole request URLs at DEBUG, its unpacked URL fields at TRACE).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from core.alerts import PLACEHOLDER, SEVERITIES, AlertsConfig, Destination

logger = logging.getLogger("informburo.alerts")

KINDS = ("start", "recover", "test")
#: Schemes of Apprise's generic JSON webhook: the alert's fields go into the posted object as keys.
JSON_SCHEMES = ("json", "jsons")
#: Loggers that may write a URL we send to, each given the secret filter (a logger's filter does not cover its
#: children, so urllib3's are named: created here first, they carry the filter when urllib3 is imported).
LOGGERS = (
    "apprise",
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "requests_oauthlib",
    "oauthlib",
)
MASK = "***"
APP_URL = "https://github.com/informburo-pipeline/informburo-pipeline"


@dataclass(frozen=True)
class Alert:
    """What one monitor has to say: an incident started, it recovered, or a test of the destinations.

    ``detail`` is one line of what the monitor saw ("no most-read sidebar"); the title adds the run.
    """

    kind: str  # "start" | "recover" | "test"
    severity: str  # "warning" | "critical"; a recovery carries its incident's
    monitor: str  # e.g. "sidebar", "page_errors", "quiet_site"
    detail: str
    since: str | None = None  # ISO time the incident started
    run_id: int | None = None  # the run that tripped (start) or cleared (recover) it; None for checks across runs
    last_good_run_id: int | None = None
    failures: int = 1  # for a recovery: how many runs (or checks) the incident lasted
    site: str = ""  # the base URL checked
    database: str = ""  # the database, for the command to look

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity {self.severity!r} is not one of {', '.join(SEVERITIES)}")

    def title(self) -> str:
        """One line, the subject of an email: "[informburo CRITICAL] sidebar: no most-read sidebar since run 41"."""
        detail = _one_line(self.detail)
        if self.kind == "test":
            return f"[informburo TEST] {detail or 'alert delivery test'}"
        if self.kind == "recover":
            back = f" in run {self.run_id}" if self.run_id is not None else ""
            return f"[informburo RECOVERED] {self.monitor}: back{back} after {self._lasted()}"
        if self.run_id is not None:
            when = f" since run {self.run_id}"
        elif self.since:
            when = f" since {self.since}"
        else:
            when = ""
        return f"[informburo {self.severity.upper()}] {self.monitor}: {detail}{when}"

    def body(self) -> str:
        """What, since when, the last good run, the run, and the commands to look."""
        if self.kind == "test":
            lines = [
                "A test alert from informburo: if you read this, alerts reach this destination.",
                f"What: {_one_line(self.detail) or 'alert delivery test'}",
            ]
        elif self.kind == "recover":
            lines = [
                f"Recovered: {self.monitor} is back after {self._lasted()}.",
                f"What: {_one_line(self.detail)}",
                f"Severity while it lasted: {self.severity}",
                f"Since: {self.since or 'unknown'}",
                f"Cleared by run: {_run(self.run_id)}",
                f"Last good run before it: {_run(self.last_good_run_id)}",
            ]
        else:
            lines = [
                f"What: {_one_line(self.detail)}",
                f"Monitor: {self.monitor} ({self.severity})",
                f"Since: {self.since or 'unknown'}",
                f"Run: {_run(self.run_id)}",
                f"Last good run: {_run(self.last_good_run_id)}",
            ]
        if self.site:
            lines.append(f"Site: {self.site}")
        status = "informburo status" + (f" --db {shlex.quote(self.database)}" if self.database else "")
        lines += ["", "To look:", f"  {status}", "  informburo check"]
        return "\n".join(lines)

    def fields(self) -> dict[str, Any]:
        """The alert as top-level keys of a JSON webhook's object (next to Apprise's title and message)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "monitor": self.monitor,
            "detail": self.detail,
            "since": self.since,
            "run": self.run_id,
            "last_good_run": self.last_good_run_id,
            "failures": self.failures,
            "site": self.site or None,
            "database": self.database or None,
        }

    def _lasted(self) -> str:
        unit = "run" if self.run_id is not None else "check"
        return f"{self.failures} failed {unit}{'' if self.failures == 1 else 's'}"


@dataclass(frozen=True)
class Delivery:
    """One alert tried at one destination; ``destination`` is shown by scheme and host only."""

    alert: Alert
    destination: str
    ok: bool
    error: str | None


def send(
    config: AlertsConfig,
    alerts: Sequence[Alert],
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> list[Delivery]:
    """Each alert to each destination that takes its severity (a test alert to all); one Delivery per try.

    ``${NAME}`` placeholders are read from ``environ`` (default os.environ) now, so an unset variable
    is a failed Delivery naming it. ``timeout`` bounds each destination. Never raises.
    """
    env = os.environ if environ is None else environ
    _guard_loggers()
    deliveries = []
    for alert in alerts:
        for destination in config.destinations:
            if alert.kind == "test" or destination.takes(alert.severity):
                deliveries.append(_deliver(alert, destination, env, timeout))
    return deliveries


def redact(url: str) -> str:
    """``scheme://host[:port]``, the host only when it is a host name or an address (a Telegram URL's
    "host" is its bot token) or a ``${NAME}`` placeholder; never the user, password, path or query."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return MASK
    public = _public_host(rest)
    return f"{scheme.lower()}://{public if public else MASK}"


# -- one delivery ---------------------------------------------------------------------------------------------


def _deliver(alert: Alert, destination: Destination, environ: Mapping[str, str], timeout: float) -> Delivery:
    shown = redact(destination.url)
    try:
        missing = [name for name in destination.placeholders() if not environ.get(name)]
        if missing:
            names = ", ".join(missing)
            verb = "is" if len(missing) == 1 else "are"
            return _logged(Delivery(alert, shown, False, f"environment variable {names} {verb} not set or empty"))
        url = PLACEHOLDER.sub(lambda m: environ[m.group(1)], destination.url)
        _remember(_secret_parts(destination.url, url, environ))
        error = _notify(url, alert, timeout)
    except Exception as e:  # a bug here or in Apprise must not stop the next destination
        error = f"{type(e).__name__}: {e}"
    return _logged(Delivery(alert, shown, error is None, None if error is None else _scrub(error)))


def _notify(url: str, alert: Alert, timeout: float) -> str | None:
    """Send through Apprise; None when delivered, else the reason."""
    _import_imghdr_quietly()
    import apprise  # here, not at the top: a command that never alerts does not load 190 plugins
    from apprise.plugins import url_to_dict

    _guard_loggers()  # again: importing Apprise may have made loggers
    asset = apprise.AppriseAsset(
        app_id="informburo", app_desc="informburo alerts", app_url=APP_URL, service_timeout=timeout
    )
    with _apprise_complaints() as complaints:
        tokens = url_to_dict(url, secure_logging=True)
        if tokens is None:  # Apprise's own words repeat the whole URL: ours name the scheme only
            return f"Apprise cannot read this URL (no service is called {url.partition(':')[0]}://, or it is malformed)"
        tokens.setdefault("cto", timeout)  # connect and read timeouts, unless the URL sets its own
        tokens.setdefault("rto", timeout)
        if tokens.get("schema") in JSON_SCHEMES:
            # Apprise's payload extras (the `:key=value` of a json:// URL), given as values, not text:
            # the run stays a number and a missing one is null. The URL's own extras are kept.
            tokens["payload"] = {**(tokens.get("payload") or {}), **alert.fields()}
        plugin = apprise.Apprise.instantiate(tokens, asset=asset)
        if plugin is None:
            return "Apprise refused this URL: " + _reason(complaints)
    result = apprise.Apprise(plugin, asset=asset).notify(
        body=alert.body(),
        title=alert.title(),
        notify_type=_notify_type(alert, apprise.NotifyType),
        body_format=apprise.NotifyFormat.TEXT,
    )
    if result:
        return None
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return f"timed out after {timeout:g} s"
    said = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return "; ".join(dict.fromkeys(said)) or f"Apprise reported {result.status.name.lower()} and said no more"


def _import_imghdr_quietly() -> None:
    """Apprise's email plugin imports ``imghdr`` (for PGPy), deprecated since Python 3.11: its warning, once,
    is an error where warnings are (the test suite), and says nothing to act on. Gone in 3.13: Apprise shims it."""
    if "imghdr" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        with suppress(ImportError):
            import imghdr  # noqa: F401


def _notify_type(alert: Alert, types: Any) -> Any:
    if alert.kind == "test":
        return types.INFO
    if alert.kind == "recover":
        return types.SUCCESS
    return types.FAILURE if alert.severity == "critical" else types.WARNING


def _logged(delivery: Delivery) -> Delivery:
    alert = delivery.alert
    if delivery.ok:
        logger.info("alert %s %s sent to %s", alert.monitor, alert.kind, delivery.destination)
    else:
        logger.warning(
            "alert %s %s not sent to %s: %s", alert.monitor, alert.kind, delivery.destination, delivery.error
        )
    return delivery


@contextmanager
def _apprise_complaints() -> Iterator[list[str]]:
    """Apprise's warnings on this thread while it reads a URL: the only reason it gives for refusing one."""
    said: list[str] = []
    thread = threading.get_ident()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                said.append(record.getMessage())

    handler = Collect(logging.WARNING)
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(handler)
    try:
        yield said
    finally:
        apprise_logger.removeHandler(handler)


def _reason(complaints: list[str]) -> str:
    """Apprise's first complaint, the cause ("Invalid ~From~ email specified"); the next one only says
    "Could not load" and prints every field of the URL."""
    causes = [c.strip().rstrip(":").strip() for c in complaints if not c.startswith("Could not load")]
    return causes[0][:200] if causes and causes[0] else "a part is missing or wrong (see its page in Apprise's docs)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _run(run_id: int | None) -> str:
    return "none recorded" if run_id is None else str(run_id)


# -- what is public in a URL, and keeping the rest out of logs ------------------------------------------------

_HOST_NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
#: Query keys whose values are settings, not secrets (Apprise's own and email's addresses).
_PLAIN_KEYS = {"mode", "format", "overflow", "method", "cto", "rto", "verify", "smtp", "from", "to", "cc", "bcc"}
_MIN_WHOLE = 3  # a password or an environment value this short is masked all the same …
_MIN_PIECE = 6  # … a piece of a path or a token only from this length, so logs stay readable


def _public_host(rest: str) -> str | None:
    """``host[:port]`` of what follows ``scheme://`` if the host is a name, an address or a placeholder."""
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    hostport = netloc.rpartition("@")[2]
    if _IPV6.match(hostport):
        host, _, port = hostport.partition("]")
        host, port = host + "]", port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    placeholder = PLACEHOLDER.fullmatch(host)
    if not (host == "localhost" or _IPV4.fullmatch(host) or _IPV6.fullmatch(host) or placeholder):
        if not _HOST_NAME.fullmatch(host):
            return None
    return f"{host}:{port}" if port.isdigit() else host


def _secret_parts(written: str, url: str, environ: Mapping[str, str]) -> set[str]:
    """Every part of ``url`` that may be a secret: the environment values put in, the user and password,
    a host that is not a host name, the path, the query values; whole and in pieces, plain and quoted."""
    whole: set[str] = {environ[name] for name in PLACEHOLDER.findall(written) if environ.get(name)}
    rest = url.partition("://")[2]
    netloc, path, query = re.fullmatch(r"([^/?]*)([^?]*)\??(.*)", rest, re.DOTALL).groups()  # type: ignore[union-attr]
    userinfo, _, hostport = netloc.rpartition("@")
    if userinfo:
        whole.update({userinfo, *userinfo.split(":", 1)})
    if _public_host(rest) is None:
        whole.add(hostport)
    whole.add(path)
    for pair in re.split(r"[&;]", query):
        key, _, value = pair.partition("=")
        if key.lstrip(":+-") not in _PLAIN_KEYS:
            whole.add(value)
    pieces = {p for text in whole for p in re.split(r"[/:@?&=#,;\s]+", unquote(text)) if len(p) >= _MIN_PIECE}
    found = {text for text in whole if len(text) >= _MIN_WHOLE} | pieces
    return {form for text in found for form in (text, unquote(text), quote(text, safe=""), quote_plus(text))}


_secrets: frozenset[str] = frozenset()
_by_length: tuple[str, ...] = ()
_lock = threading.Lock()


def _remember(parts: set[str]) -> None:
    """Add secrets to mask, for good: Apprise may log from a worker thread after send() returned."""
    global _secrets, _by_length
    with _lock:
        if parts <= _secrets:
            return
        _secrets = _secrets | parts
        _by_length = tuple(sorted(_secrets, key=len, reverse=True))


def _scrub(text: str) -> str:
    for secret in _by_length:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class _MaskSecrets(logging.Filter):
    """Rewrites a record of Apprise or urllib3 with every known secret masked, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _by_length:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format itself is the handler's problem, not a leak
            return True
        clean = _scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = _MaskSecrets()


def _guard_loggers() -> None:
    """The filter on each logger that may carry a URL, those named and the children they have by now."""
    roots = {name.split(".")[0] for name in LOGGERS}
    names = {*LOGGERS, *(name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] in roots)}
    for name in names:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
