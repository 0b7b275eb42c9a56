"""Scrapy settings: polite defaults for the live site; every one overridable with ``-s``.

Only what a user may want to change is a setting; the rest are constants where they are
used. The database, site and Redis URL default to the environment (core/config.py), so
``scrapy crawl informburo`` works as ``informburo crawl`` does.
"""

# Imported as modules: Scrapy takes every upper-case name of this module for a setting.
from core import config as _config
from core import names as _names

BOT_NAME = "informburo"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

_env = _config.environment()
# Where the collection goes and what it collects (overridable from the CLI or the environment).
INFORMBURO_DB = _env.get("db", _names.DEFAULT_DB)
INFORMBURO_BASE_URL = _env.get("base_url", _names.DEFAULT_BASE_URL)
INFORMBURO_MAX_PAGES = 3
# The recheck part re-fetches stored articles published this many days back (edits, views).
INFORMBURO_RECHECK_DAYS = 3
# Seconds a run waits for another writer (cron vs daemon) to finish before giving up (exit 75).
INFORMBURO_LOCK_TIMEOUT = _names.DEFAULT_LOCK_TIMEOUT
# The scheduled job that started this run (set by the daemon), recorded in crawl_runs.job.
INFORMBURO_JOB = None
# Share of article pages needing a fallback layer (JSON-LD, meta, generic) above which
# the run stores a "layout drift" warning.
INFORMBURO_DRIFT_THRESHOLD = 0.5
# The per-run monitors' thresholds: the config's [monitors] table (docs/monitoring.md); {}: the defaults.
INFORMBURO_MONITORS: dict = {}
# The config file whose [alerts] a run delivers its incidents' alerts to (with INFORMBURO_ALERT_URLS):
# its path only, never the URLs, which may hold secrets. None: the environment's destinations only.
INFORMBURO_CONFIG = None

# Distributed mode (docs/distributed.md), off unless a Redis URL is given: `informburo worker`
# processes share one Redis frontier and `informburo store` writes their items here.
INFORMBURO_REDIS_URL = _env.get("redis_url")
INFORMBURO_REDIS_PREFIX = "informburo"  # one prefix per site and database sharing a Redis
INFORMBURO_WORKER = False  # set by `informburo worker`
# A worker silent this many seconds is taken for dead: its unfinished requests go back on the queue.
INFORMBURO_WORKER_TTL = 15

USER_AGENT = _config.USER_AGENT.format(contact=_config.DEFAULT_CONTACT)
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Scrapy starts this many asyncio tasks for every response's output, however little it holds
# (scrapy/scrapy#5182): at the default 100, a third of the crawling process's CPU went to them.
# Our pipelines are synchronous, so items gain nothing from running side by side.
CONCURRENT_ITEMS = 4
DOWNLOAD_DELAY = 1.0
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
RETRY_TIMES = 2
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote-control server (code execution over HTTP on 127.0.0.1) is on by default;
# a collector that runs every few minutes for months needs no such door, as with the telnet console.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"

# The raw-page archive (every fetched article page, compressed) for `informburo reparse`:
# <db>.archive.db beside the database; pages older than INFORMBURO_ARCHIVE_MAX_DAYS or
# beyond INFORMBURO_ARCHIVE_MAX_MB (compressed) are dropped.
INFORMBURO_ARCHIVE_ENABLED = True
INFORMBURO_ARCHIVE_MAX_DAYS = 365
INFORMBURO_ARCHIVE_MAX_MB = 2000

EXTENSIONS = {"crawler.extensions.ArchiveExtension": 500}
DOWNLOADER_MIDDLEWARES = {
    # AllowedHostsMiddleware replaces Scrapy's offsite filter: stricter (scheme, host and
    # port), and it refuses in process_request, so every refusal reaches the errback and
    # is recorded (Scrapy's drops redirected requests silently when they are scheduled).
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "crawler.middlewares.AllowedHostsMiddleware": 40,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.ConditionalRequestMiddleware": 560,
}
# Retries: RETRY_TIMES attempts more for 5xx, 429 and network errors, each after a wait:
# Retry-After when sent, else INFORMBURO_RETRY_BACKOFF * 2^attempt, at most 30 s.
INFORMBURO_RETRY_BACKOFF = 1.0
# Size limits: a page over DOWNLOAD_MAXSIZE (also when decompressed: gzip bombs) is refused
# and recorded; one over DOWNLOAD_WARNSIZE is logged.
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024

ITEM_PIPELINES = {
    "pipelines.normalize.NormalizePipeline": 100,
    "pipelines.validate.ValidatePipeline": 200,
    "pipelines.store.StorePipeline": 300,
}

FEED_EXPORT_ENCODING = "utf-8"
