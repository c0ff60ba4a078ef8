"""``?limit=N``: the first N entries of an already rendered feed.

A shortened feed is cut from the rendered bytes (entries are in feed order,
newest first), not re-rendered from the store: everything else in the
document (feed metadata, self, hub and archive links) stays as rendered, and
the same full feed and N always give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from feedsvc.feedgenext import ATOM_NS

MAX_LIMIT = 1000

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def parse_limit(value: str | None) -> int | None:
    """The ``limit`` query value as a number of entries; None when absent.

    Raises ValueError for anything but a whole number from 1 to ``MAX_LIMIT``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {value!r}")
    return int(text)


def limit_entries(fmt: str, body: bytes, count: int) -> bytes:
    """``body`` (a rendered feed in ``fmt``) with only its first ``count`` entries."""
    if fmt == "json":
        feed: dict[str, Any] = json.loads(body)
        feed["items"] = feed.get("items", [])[:count]
        return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    root = etree.fromstring(body, _PARSER)
    if fmt == "atom":
        parent, entries = root, root.findall(f"{{{ATOM_NS}}}entry")
    elif fmt == "rss":
        channel = root.find("channel")
        if channel is None:
            raise ValueError("an RSS feed without a channel")
        parent, entries = channel, channel.findall("item")
    else:
        raise ValueError(f"unknown feed format {fmt!r}")
    for entry in entries[count:]:
        parent.remove(entry)
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data
