"""One configuration: defaults < environment < TOML file < command line, read by every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import cli
from core.config import Config, ConfigError, Monitors, load_config
from core.names import DEFAULT_BASE_URL, DEFAULT_DB
from jobs.crawl import check_settings, crawl_settings
from tests.conftest import ROOT

ENV = {"INFORMBURO_DB": "env.db", "INFORMBURO_BASE_URL": "http://env.example", "INFORMBURO_REDIS_URL": "redis://env"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_set() -> None:
    config = load_config(environ={})
    assert (config.db, config.base_url, config.redis_url) == (DEFAULT_DB, DEFAULT_BASE_URL, None)


def test_environment_over_defaults() -> None:
    config = load_config(environ=ENV)
    assert (config.db, config.base_url, config.redis_url) == ("env.db", "http://env.example", "redis://env")


def test_file_over_environment_and_command_line_over_file(tmp_path: Path) -> None:
    toml = write(tmp_path / "c.toml", 'db = "file.db"\nbase_url = "http://file.example"\nredis_url = "redis://file"\n')
    config = load_config(toml, environ=ENV)
    assert (config.db, config.base_url, config.redis_url) == ("file.db", "http://file.example", "redis://file")
    config = load_config(toml, db="cli.db", base_url="http://cli.example", redis_url="redis://cli", environ=ENV)
    assert (config.db, config.base_url, config.redis_url) == ("cli.db", "http://cli.example", "redis://cli")


def test_politeness_and_settings_become_scrapy_settings() -> None:
    config = Config(contact_url="mailto:a@b.c", download_delay=2.5, concurrent_requests_per_host=1)
    config.settings = {"DOWNLOAD_DELAY": 3}
    settings = config.crawl_settings()
    assert "mailto:a@b.c" in settings["USER_AGENT"]
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
    assert settings["DOWNLOAD_DELAY"] == 3  # [settings] on top of the politeness keys
    assert settings["AUTOTHROTTLE_START_DELAY"] == 2.5 and "AUTOTHROTTLE_ENABLED" not in settings


def test_download_delay_zero_means_no_delay_not_autothrottles_start_delay() -> None:
    settings = Config(download_delay=0).crawl_settings()
    assert (settings["DOWNLOAD_DELAY"], settings["AUTOTHROTTLE_START_DELAY"]) == (0, 0)
    assert settings["AUTOTHROTTLE_ENABLED"] is False
    assert "AUTOTHROTTLE_ENABLED" not in Config().crawl_settings()  # unset: the polite defaults stand


@pytest.mark.parametrize("command", ["crawl", "backfill", "seed", "worker", "run", "store", "status"])
def test_every_command_that_runs_a_crawl_takes_a_config(command: str, tmp_path: Path) -> None:
    toml = write(tmp_path / "c.toml", 'db = "file.db"\n')
    args = cli.build_parser().parse_args([command, "--config", str(toml)])
    assert args.config == str(toml)
    assert cli._config(args).db == "file.db"


def test_a_crawl_gets_the_config_then_the_command_line(tmp_path: Path) -> None:
    toml = write(
        tmp_path / "c.toml",
        'db = "file.db"\nbase_url = "http://file.example"\ndownload_delay = 4\n[settings]\nRETRY_TIMES = 5\n',
    )
    args = cli.build_parser().parse_args(["crawl", "--config", str(toml), "--db", "cli.db", "-s", "RETRY_TIMES=1"])
    settings = cli._crawl_settings(args, cli._config(args), args.max_pages)
    assert settings["INFORMBURO_DB"] == "cli.db"
    assert settings["INFORMBURO_BASE_URL"] == "http://file.example"
    assert settings.getfloat("DOWNLOAD_DELAY") == 4
    assert settings.getint("RETRY_TIMES") == 1


def test_extraction_workers_reach_the_crawl_and_a_bad_count_is_refused(tmp_path: Path) -> None:
    assert "INFORMBURO_EXTRACTION_WORKERS" not in Config().crawl_settings()  # unset: a core each but one
    config = load_config(write(tmp_path / "c.toml", "extraction_workers = 0\n"), environ={})
    assert config.crawl_settings()["INFORMBURO_EXTRACTION_WORKERS"] == 0
    for bad in ("-1", "1.5", "true", '"2"'):
        with pytest.raises(ValueError, match="extraction_workers must be a whole number of at least 0"):
            load_config(write(tmp_path / "bad.toml", f"extraction_workers = {bad}\n"), environ={})


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = write(tmp_path / "c.toml", "dbb = 1\n")
    assert cli.main(["crawl", "--config", str(toml)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown top-level keys: dbb" in err


@pytest.mark.parametrize(
    "source",
    [{"environ": {"INFORMBURO_BASE_URL": "ftp://env.example"}}, {"base_url": "informburo.kz"}],
    ids=["environment", "command line"],
)
def test_a_base_url_that_is_not_http_is_refused_wherever_it_comes_from(source: dict) -> None:
    """Checked once, at load: a crawl would only find out after taking the lock and making the database."""
    with pytest.raises(ValueError, match="base URL must be an absolute http"):
        load_config(**{"environ": {}, **source})


# --- [monitors] and [alerts] (docs/monitoring.md) ---


def test_monitors_and_alerts_default_to_the_documented_thresholds_and_no_destination() -> None:
    config = load_config(environ={})
    assert config.monitors == Monitors() and not config.alerts
    assert (config.monitors.page_errors_percent, config.monitors.rejects, config.monitors.quiet_hours) == (20, 5, 3)
    assert config.monitors.hours_text() == "06:00–23:00" and config.monitors.disk_free_gb == 1
    assert config.monitors.coverage_percent == {"title": 100, "body": 100, "published_at": 100}
    assert not {"INFORMBURO_MONITORS", "INFORMBURO_CONFIG"} & set(config.crawl_settings())


def test_monitors_and_alerts_reach_a_crawl_as_thresholds_and_a_path_never_as_urls(tmp_path: Path) -> None:
    toml = write(
        tmp_path / "c.toml",
        "[monitors]\npage_errors_percent = 10\ncoverage_percent = { author = 30 }\n"
        'publishing_hours = "07:30-22:00"\ndisabled = ["finish_reason"]\n'
        '[alerts]\ncritical = ["tgram://${BOT}/123"]\n',
    )
    config = load_config(toml, environ={"INFORMBURO_ALERT_URLS": "json://127.0.0.1:9/hook"})
    assert config.monitors.page_errors_percent == 10 and config.monitors.publishing_hours == (450, 1320)
    assert config.monitors.coverage_percent["author"] == 30 and config.monitors.disabled == {"finish_reason"}
    assert [(d.url, sorted(d.severities)) for d in config.alerts.destinations] == [
        ("tgram://${BOT}/123", ["critical"]),
        ("json://127.0.0.1:9/hook", ["critical", "warning"]),
    ]
    settings = config.crawl_settings()
    assert settings["INFORMBURO_MONITORS"]["page_errors_percent"] == 10
    assert settings["INFORMBURO_CONFIG"] == str(toml.resolve())
    assert "tgram" not in repr(settings) and "json://" not in repr(settings) and "tgram" not in repr(config)
    check_settings(settings)  # what the daemon's children get passes the crawl's own check


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[monitors]\nrejects = 2.5\n", "rejects must be a whole number"),
        ("[monitors]\nsize_percent = 0\n", "size_percent must be at least 1"),
        ("[monitors]\noverdue_factor = 0.5\n", "overdue_factor must be at least 1"),
        ("[monitors]\nheartbeat_seconds = 0\n", "heartbeat_seconds must be more than 0"),
        ("[monitors]\ndb_size_limit_mb = -1\n", "db_size_limit_mb must be more than 0"),
        ("[monitors]\nexpect_daemon = 1\n", "expect_daemon must be true or false"),
        ("[monitors]\ncoverage_percent = { authr = 30 }\n", "coverage_percent: unknown field 'authr'"),
        ("[monitors]\ncoverage_percent = { author = 130 }\n", "coverage_percent.author must be at most 100"),
        ('[monitors]\ndisabled = ["sidebarr"]\n', "disabled: unknown monitor 'sidebarr'"),
        ('[monitors]\npublishing_hours = "6-23"\n', "publishing_hours must be"),
        ("monitors = 5\n", "monitors must be a table"),
        ("[alerts]\nurls = 5\n", "[alerts] urls: expected a list of URLs"),
    ],
)
def test_a_bad_monitors_or_alerts_value_is_refused_with_the_key(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path / "c.toml", table), environ={})


def test_a_bad_alert_url_in_the_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="INFORMBURO_ALERT_URLS"):
        load_config(environ={"INFORMBURO_ALERT_URLS": "not-a-url"})


def test_thresholds_given_as_a_setting_are_checked_before_a_crawl(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="page_errors_percent must be a number"):
        crawl_settings(
            str(tmp_path / "x.db"), "http://127.0.0.1:9", None, {"INFORMBURO_MONITORS": '{"page_errors_percent": "x"}'}
        )
    with pytest.raises(ConfigError, match="cannot read"):
        crawl_settings(
            str(tmp_path / "x.db"), "http://127.0.0.1:9", None, {"INFORMBURO_CONFIG": str(tmp_path / "none.toml")}
        )


def test_the_shipped_config_shows_every_monitors_key_and_its_examples_load(tmp_path: Path) -> None:
    """config/informburo.toml's commented [monitors] and [alerts] tables, uncommented, are a valid config
    whose thresholds are the defaults, and they name every key [monitors] takes."""
    shipped = (ROOT / "config" / "informburo.toml").read_text(encoding="utf-8").splitlines()
    start = shipped.index("# [monitors]")
    lines = []
    for line in shipped[start:]:
        if not line.startswith("#"):
            break
        if re.match(r"# (\[\w+\]|\w+ = )", line):
            lines.append(line[2:])
    start = shipped.index("# [alerts]")
    lines += [line[2:] for line in shipped[start : start + 3]]
    config = load_config(write(tmp_path / "c.toml", "\n".join(lines) + "\n"), environ={})
    defaults = Monitors()
    limits = {"db_size_limit_mb": 5000.0, "archive_size_limit_mb": 2000.0}
    assert config.monitors == Monitors(**{**defaults.__dict__, **limits, "table": {}})
    assert set(config.monitors.table) == set(Monitors.__dataclass_fields__) - {"table"}
    assert len(config.alerts.destinations) == 2
