"""Browsing the database in Datasette: what ``informburo serve`` runs.

Datasette is bound to 127.0.0.1 and reads the file without ``-i`` (immutable), since a
crawl may be writing to it: Datasette then opens it with ``mode=ro``, and no plugin that
writes is installed, so ``?sql=`` can only read. ``datasette/metadata.yml`` (at the
repository root: the package is installed in editable mode) holds the descriptions,
defaults, canned queries and charts; docs/datasette.md explains them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DEFAULT_PORT = 8001
DATASETTE = Path(__file__).resolve().parent.parent / "datasette"
METADATA = DATASETTE / "metadata.yml"
#: The front page, the article page and the table pages (Jinja, overriding Datasette's own).
TEMPLATES = DATASETTE / "templates"
#: Our Datasette plugins (routes, SQL functions, template variables): one module each.
PLUGINS = DATASETTE / "plugins"
#: The database name ``metadata.yml`` is written for: the stem of the default ``data/informburo.db``.
METADATA_DATABASE = "informburo"
CHART_PLUGIN = "datasette-dashboards"


def database_name(db: str | Path) -> str:
    """The name Datasette gives a database file (its stem), which URLs and metadata use."""
    return Path(db).stem


def load_metadata(name: str = METADATA_DATABASE, path: Path = METADATA) -> dict[str, Any]:
    """``metadata.yml``, its database section and its charts' queries aimed at database ``name``."""
    import yaml

    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    databases = metadata.get("databases", {})
    if name != METADATA_DATABASE and METADATA_DATABASE in databases:
        databases[name] = databases.pop(METADATA_DATABASE)
    for dashboard in metadata.get("plugins", {}).get(CHART_PLUGIN, {}).values():
        for part in (*dashboard.get("filters", {}).values(), *dashboard.get("charts", {}).values()):
            if part.get("db") == METADATA_DATABASE:
                part["db"] = name
    return metadata


def datasette_args(db: str | Path, port: int, metadata: str | Path) -> list[str]:
    """The ``datasette`` command line (after the program name) that serves ``db`` read-only on 127.0.0.1."""
    return [
        "serve", str(db), "--host", HOST, "--port", str(port), "--metadata", str(metadata),
        "--template-dir", str(TEMPLATES), "--plugins-dir", str(PLUGINS),
    ]  # fmt: skip


def port_number(text: str) -> int:
    """An ``argparse`` type: a TCP port, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return port


class _TerminatedError(Exception):
    """SIGTERM arrived: Datasette has shut down, leave quietly."""


def _stop(signum: int, frame: object) -> None:
    raise _TerminatedError


def serve(db: str | Path, port: int = DEFAULT_PORT) -> int:
    """Run Datasette on ``db`` in this process until SIGINT or SIGTERM; 0 when stopped by one.

    Raises ``FileNotFoundError`` for a missing database (Datasette would create an empty one) or metadata.
    """
    import click
    from datasette.cli import cli

    db = Path(db)
    if not db.is_file():
        raise FileNotFoundError(f"no database at {db}; run `informburo crawl` first")
    if not METADATA.is_file():
        raise FileNotFoundError(f"no Datasette metadata at {METADATA}: serve runs from the checkout (pip install -e)")
    with tempfile.TemporaryDirectory(prefix="informburo-datasette-") as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(json.dumps(load_metadata(database_name(db)), ensure_ascii=False), encoding="utf-8")
        print(f"Serving {db} read-only at http://{HOST}:{port}/ (charts: /-/dashboards); Ctrl-C stops.", flush=True)
        # uvicorn re-raises the signal it stopped on once it has shut down; ours turns SIGTERM into a clean return.
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            cli.main(args=datasette_args(db, port, metadata), prog_name="datasette", standalone_mode=False)
        except (KeyboardInterrupt, _TerminatedError):
            pass
        except click.ClickException as exc:  # Datasette refused its arguments (a broken metadata file)
            print(f"informburo: datasette: {exc.format_message()}", file=sys.stderr)
            return 2
        except SystemExit as exc:  # uvicorn could not bind the port, and said why
            return exc.code if isinstance(exc.code, int) else 1
        finally:
            signal.signal(signal.SIGTERM, previous)
    print("Datasette stopped.", file=sys.stderr)
    return 0
