"""One configuration: defaults < environment < TOML file < command line, read by every command."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli
from core.config import Config, load_config
from core.names import DEFAULT_BASE_URL, DEFAULT_DB

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
