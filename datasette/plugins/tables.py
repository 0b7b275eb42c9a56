"""Table pages that show rows first: a long text (an article's body, a stored item) is clipped to three lines.

The clip is CSS (``.long-text`` in ``templates/table.html``), so the whole text is still in the page and
the row's own page, which does not clip, shows it in full; the article page shows it as prose.
"""

from __future__ import annotations

from typing import Any

import markupsafe

from datasette import hookimpl

#: Texts longer than this are wrapped for clipping; shorter ones render as Datasette renders them.
LONG_TEXT = 280


@hookimpl
def render_cell(value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """A long text in a table's cell, wrapped so the table page can clip it to a few lines."""
    if table is None or not isinstance(value, str) or len(value) <= LONG_TEXT:
        return None
    return markupsafe.Markup('<div class="long-text">{}</div>').format(value)
