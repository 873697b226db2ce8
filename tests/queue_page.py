"""Read the review queue page as its script does: the rows it embeds for ``review.js``."""

from __future__ import annotations

import json
import re
from typing import Any

_ROWS = re.compile(r'<script id="flag-rows" type="application/json">(.*?)</script>', re.S)


def queue_rows(page: str) -> list[dict[str, Any]]:
    """The flags the page lists, in its order (rows of :mod:`webapp.review.rows`)."""
    found = _ROWS.search(page)
    assert found, "the queue page embeds no flag rows"
    return json.loads(found.group(1))


def selected_id(page: str) -> int | None:
    """The flag the page opens in its viewer."""
    found = re.search(r'id="flag-list"[^>]*data-selected-id="(\d*)"', page)
    assert found, "the queue page has no flag list"
    return int(found.group(1)) if found.group(1) else None
