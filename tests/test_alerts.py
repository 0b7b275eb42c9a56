"""Alerts (issue 15): the ``[alerts]`` config, and delivery through Apprise to real local servers.

Email goes to an SMTP server the test starts (aiosmtpd), webhooks to an HTTP server in a thread; a
dead destination is a closed port. Nothing is mocked between our code and the wire.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from core.alerts import (
    AlertsConfig,
    AlertsConfigError,
    Destination,
    alerts_from_environment,
    parse_alerts,
)
from monitoring.alerts import Alert, redact, send

BOTH = frozenset({"warning", "critical"})
START = Alert(
    kind="start",
    severity="critical",
    monitor="sidebar",
    detail="no most-read sidebar",
    since="2025-03-01T10:15:00+05:00",
    run_id=41,
    last_good_run_id=40,
    site="https://informburo.kz",
    database="data/informburo.db",
)
RECOVER = Alert(
    kind="recover",
    severity="critical",
    monitor="sidebar",
    detail="most-read sidebar found again",
    since="2025-03-01T10:15:00+05:00",
    run_id=44,
    last_good_run_id=40,
    failures=3,
    site="https://informburo.kz",
    database="data/informburo.db",
)
WARNING = Alert(kind="start", severity="warning", monitor="page_errors", detail="12% of pages failed", run_id=41)
QUIET = Alert(kind="start", severity="warning", monitor="quiet_site", detail="no new article in 6 hours")
TEST = Alert(kind="test", severity="warning", monitor="test", detail="")


def free_port() -> int:
    """A port nobody listens on (bound, then let go): a dead destination, or one for a server to take."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=informburo@example.org&to=ops@example.org"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A plain SMTP server on 127.0.0.1 (no TLS, no login) that keeps what it is given."""
    box = Mailbox(free_port())

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    controller = Controller(Keep(), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hooks:
    port: int
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def url(self, path: str = "/hooks/informburo") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.posts]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """An HTTP server on 127.0.0.1 that keeps every JSON object posted to it, by path."""
    posts: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet: keep the test output clean)
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Hooks(server.server_address[1], posts)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def config(*urls: str, critical: tuple[str, ...] = (), warning: tuple[str, ...] = ()) -> AlertsConfig:
    return parse_alerts({"urls": list(urls), "critical": list(critical), "warning": list(warning)})


# -- delivery ---------------------------------------------------------------------------------------------------


def test_email_one_message_when_an_incident_starts_and_one_when_it_recovers(mailbox: Mailbox) -> None:
    alerts = config(mailbox.url())
    [started] = send(alerts, [START], environ={}, timeout=5)
    assert started.ok, started.error
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["Subject"] == "[informburo CRITICAL] sidebar: no most-read sidebar since run 41"
    assert message["To"] == "ops@example.org"
    text = message.get_content()
    for line in ("Run: 41", "Last good run: 40", "Since: 2025-03-01T10:15:00+05:00", "no most-read sidebar"):
        assert line in text
    assert "informburo status --db data/informburo.db" in text

    [recovered] = send(alerts, [RECOVER], environ={}, timeout=5)
    assert recovered.ok, recovered.error
    assert len(mailbox.messages) == 2
    second = mailbox.messages[1]
    assert second["Subject"] == "[informburo RECOVERED] sidebar: back in run 44 after 3 failed runs"
    assert "Cleared by run: 44" in second.get_content()


def test_webhook_json_carries_severity_monitor_run_and_detail_as_keys(hooks: Hooks) -> None:
    # ?:team=ops is Apprise's own payload extra in the URL: it stays next to ours.
    deliveries = send(config(hooks.url() + "?:team=ops"), [START, QUIET], environ={}, timeout=5)
    assert [d.ok for d in deliveries] == [True, True], deliveries
    (path, start), (_, quiet) = hooks.posts
    assert path == "/hooks/informburo"
    assert start["severity"] == "critical"
    assert start["monitor"] == "sidebar"
    assert start["run"] == 41
    assert start["detail"] == "no most-read sidebar"
    assert (start["kind"], start["since"], start["last_good_run"]) == ("start", "2025-03-01T10:15:00+05:00", 40)
    assert start["title"] == START.title() and "Run: 41" in start["message"]
    assert start["type"] == "failure" and start["team"] == "ops"
    assert (quiet["monitor"], quiet["severity"], quiet["run"]) == ("quiet_site", "warning", None)


def test_severity_routing_a_warning_never_reaches_a_critical_only_destination(hooks: Hooks) -> None:
    alerts = config(hooks.url("/all"), critical=(hooks.url("/critical"),), warning=(hooks.url("/warning"),))
    warned = send(alerts, [WARNING], environ={}, timeout=5)
    assert sorted(hooks.paths()) == ["/all", "/warning"]
    assert sorted(d.destination for d in warned) == [f"json://127.0.0.1:{hooks.port}"] * 2
    hooks.posts.clear()
    send(alerts, [RECOVER], environ={}, timeout=5)  # a recovery goes where its incident's severity went
    assert sorted(hooks.paths()) == ["/all", "/critical"]
    hooks.posts.clear()
    send(alerts, [TEST], environ={}, timeout=5)  # a test goes everywhere
    assert sorted(hooks.paths()) == ["/all", "/critical", "/warning"]


def test_an_unreachable_destination_fails_with_a_reason_and_the_next_is_still_told(
    hooks: Hooks, mailbox: Mailbox
) -> None:
    dead = free_port()
    alerts = AlertsConfig(
        (
            Destination(f"json://127.0.0.1:{dead}/hook"),
            Destination(f"mailto://127.0.0.1:{dead}?from=informburo@example.org&to=ops@example.org"),
            Destination("nosuchscheme://example.org/x"),
            Destination("not a url at all"),  # only parse_alerts would have refused it
            Destination(hooks.url()),
            Destination(mailbox.url()),
        )
    )
    deliveries = send(alerts, [START], environ={}, timeout=2)
    assert [d.ok for d in deliveries] == [False, False, False, False, True, True]
    for failed in deliveries[:4]:
        assert failed.error and len(failed.error) > 10, failed
    assert "connection error" in deliveries[0].error.lower()
    assert deliveries[1].destination == f"mailto://127.0.0.1:{dead}"
    assert len(hooks.posts) == 1 and len(mailbox.messages) == 1


def test_an_unset_variable_is_a_failed_delivery_that_names_it_not_a_crash(hooks: Hooks) -> None:
    alerts = config(hooks.url("/hooks/${HOOK_TOKEN}"))
    [failed] = send(alerts, [START], environ={"OTHER": "x"}, timeout=5)
    assert not failed.ok and "HOOK_TOKEN" in (failed.error or "")
    assert hooks.posts == []
    [sent] = send(alerts, [START], environ={"HOOK_TOKEN": "t0ken-from-env"}, timeout=5)
    assert sent.ok, sent.error
    assert hooks.paths() == ["/hooks/t0ken-from-env"]
    assert "t0ken-from-env" not in repr(sent)


def test_no_secret_reaches_a_delivery_or_a_log_record(hooks: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(1)  # everything, Apprise's TRACE (its URL fields unpacked) included
    password, token, chat = "Pa55-w0rd-smtp", "h00k-t0ken-9f3a", "chat-71234"
    dead = free_port()
    environ = {"SMTP_PASSWORD": password, "HOOK_TOKEN": token}
    alerts = config(
        f"json://robot:{password}@127.0.0.1:{dead}/hooks/${{HOOK_TOKEN}}",  # refused: errors name the URL
        f"mailto://robot:${{SMTP_PASSWORD}}@127.0.0.1:{dead}?from=informburo@example.org&to=ops@example.org",
        hooks.url("/hooks/${HOOK_TOKEN}") + f"?-chat={chat}",  # delivered (-key: a query parameter of the POST)
        f"ntfy://robot:{password}@127.0.0.1:{dead}/{token}",
    )
    deliveries = send(alerts, [START, RECOVER], environ=environ, timeout=2)
    assert [d.ok for d in deliveries] == [False, False, True, False] * 2
    assert hooks.paths() == [f"/hooks/{token}?chat={chat}"] * 2  # the secrets were really used

    records = [r for r in caplog.records if r.name.startswith(("apprise", "urllib3"))]
    assert any("***" in r.getMessage() for r in records), "the test no longer sees Apprise log a URL"
    texts = [repr(d) for d in deliveries] + [r.getMessage() for r in caplog.records]
    texts += [r.exc_text or "" for r in caplog.records]
    for secret in (password, token, chat):
        assert not [t for t in texts if secret in t], secret


def test_a_url_apprise_refuses_is_a_failed_delivery_with_apprise_s_reason() -> None:
    # An SMTP server given by address needs from=: Apprise cannot make up a sender.
    alerts = config(f"mailto://127.0.0.1:{free_port()}?to=ops@example.org")
    [refused] = send(alerts, [START], environ={}, timeout=2)
    assert not refused.ok and "From" in (refused.error or "")


# -- what alerts say ----------------------------------------------------------------------------------------------


def test_titles_name_the_monitor_and_the_run() -> None:
    assert START.title() == "[informburo CRITICAL] sidebar: no most-read sidebar since run 41"
    assert WARNING.title() == "[informburo WARNING] page_errors: 12% of pages failed since run 41"
    assert QUIET.title() == "[informburo WARNING] quiet_site: no new article in 6 hours"
    assert TEST.title() == "[informburo TEST] alert delivery test"
    quiet_back = Alert("recover", "warning", "quiet_site", "new articles again", failures=1)
    assert quiet_back.title() == "[informburo RECOVERED] quiet_site: back after 1 failed check"
    assert "informburo status\n" in quiet_back.body() + "\n"
    with pytest.raises(ValueError, match="severity"):
        Alert("start", "info", "sidebar", "x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("tgram://123456789:AAH-s3cret/-100123", "tgram://***"),
        ("tgram://${TELEGRAM_TOKEN}/${TELEGRAM_CHAT}", "tgram://${TELEGRAM_TOKEN}"),
        ("mailtos://robot:pa55@smtp.example.org:587?to=ops@example.org", "mailtos://smtp.example.org:587"),
        ("json://hooks.example.org/informburo/s3cret", "json://hooks.example.org"),
        ("ntfy://ntfy.sh/informburo-alerts", "ntfy://ntfy.sh"),
        ("ntfy://informburo-alerts", "ntfy://***"),
        ("json://[::1]:8080/x", "json://[::1]:8080"),
        ("not a url", "***"),
    ],
)
def test_redact_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert redact(url) == shown


# -- config ---------------------------------------------------------------------------------------------------------


def test_parse_alerts_reads_every_form() -> None:
    assert not parse_alerts(None) and parse_alerts(None) == AlertsConfig()
    parsed = parse_alerts(
        {
            "urls": ["tgram://${TELEGRAM_TOKEN}/${TELEGRAM_CHAT}", "json://hooks.example.org/x"],
            "critical": ["json://hooks.example.org/x", "mailtos://robot:${SMTP_PASSWORD}@smtp.example.org"],
            "warning": "ntfy://ntfy.sh/informburo",  # one URL needs no list
        }
    )
    assert parsed
    assert parsed.destinations == (
        Destination("tgram://${TELEGRAM_TOKEN}/${TELEGRAM_CHAT}", BOTH),
        Destination("json://hooks.example.org/x", BOTH),  # listed twice: one destination
        Destination("mailtos://robot:${SMTP_PASSWORD}@smtp.example.org", frozenset({"critical"})),
        Destination("ntfy://ntfy.sh/informburo", frozenset({"warning"})),
    )
    assert parsed.destinations[0].placeholders() == ("TELEGRAM_TOKEN", "TELEGRAM_CHAT")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (42, "[alerts]: expected a table, got 42"),
        ({"urls": 42}, "[alerts] urls: expected a list of URLs, got 42"),
        ({"critical": {"a": "b"}}, "[alerts] critical: expected a list of URLs, got a table"),
        ({"url": ["tgram://a/b"]}, "[alerts] unknown key 'url' (known: urls, critical, warning)"),
        ({"urls": ["json://a.org/x", "tgram:/x"]}, "[alerts] urls[1]: 'tgram:/x' is not a URL (scheme://…)"),
        ({"warning": [True]}, "[alerts] warning[0]: expected a URL string, got true"),
        ({"urls": [""]}, "[alerts] urls[0]: '' is not a URL (scheme://…)"),
        (
            {"urls": ["tgram://${TELEGRAM_TOKEN/x"]},
            "[alerts] urls[0]: bad placeholder '${TELEGRAM_T'… (write ${NAME}: letters, digits and _)",
        ),
        (
            {"urls": ["mailto:robot:s3cretpassword@smtp.example.org"]},  # cut short: it may hold a secret
            "[alerts] urls[0]: 'mailto:robot'… is not a URL (scheme://…)",
        ),
    ],
)
def test_parse_alerts_names_the_key_of_a_malformed_value(table: Any, message: str) -> None:
    with pytest.raises(AlertsConfigError) as caught:
        parse_alerts(table)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError) and "\n" not in message


def test_an_unset_variable_does_not_fail_the_config() -> None:
    assert parse_alerts({"urls": ["tgram://${NOWHERE_SET}/${ALSO_NOT}"]}).destinations[0].url.startswith("tgram://")


def test_the_environment_variable_adds_destinations_for_every_severity() -> None:
    assert alerts_from_environment({}) == () and alerts_from_environment({"INFORMBURO_ALERT_URLS": " "}) == ()
    found = alerts_from_environment(
        {
            "INFORMBURO_ALERT_URLS": "tgram://${T}/${C}, mailto://localhost?to=a@example.org,b@example.org\n json://h.org/x"
        }
    )
    assert [d.url for d in found] == [
        "tgram://${T}/${C}",
        "mailto://localhost?to=a@example.org,b@example.org",  # a comma inside a URL stays in it
        "json://h.org/x",
    ]
    assert all(d.severities == BOTH for d in found)
    merged = parse_alerts({"critical": ["json://h.org/x"]}).merged(found)
    assert len(merged.destinations) == 3 and merged.destinations[0] == Destination("json://h.org/x", BOTH)
    with pytest.raises(AlertsConfigError, match=r"^INFORMBURO_ALERT_URLS\[1\]: 'oops' is not a URL"):
        alerts_from_environment({"INFORMBURO_ALERT_URLS": "json://h.org/x oops"})


def test_send_with_no_destinations_sends_nothing() -> None:
    assert send(AlertsConfig(), [START, TEST]) == []
