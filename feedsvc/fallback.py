"""Automatic extraction for pages without rules: readability-lxml, then the news-page fixes.

readability-lxml picks the story's container well, but on news pages it
keeps the headline, byline and dateline in the body, keeps share/related/
newsletter widgets, and merges a second story that shares the container
(DESIGN.md). So widgets are pruned by class/id words before it runs, and its
result goes through the same head, end and companion steps as a rules page;
:func:`drop_link_lists` then removes link-dense blocks (lists of other stories).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lxml.html import HtmlElement
from readability import Document
from readability.readability import Unparseable

from feedsvc.blocks import Block
from feedsvc.boilerplate import prune_boilerplate
from feedsvc.errors import ExtractError
from feedsvc.htmldoc import parse_fragment

log = logging.getLogger(__name__)

_LINK_LIST_DENSITY = 0.6
_LINK_LIST_MAX_TEXT = 300


def readable_root(document: HtmlElement, url: str) -> HtmlElement:
    """The story container readability finds in ``document`` (which it consumes)."""
    prune_boilerplate(document)
    try:
        summary = Document(document, url=url).summary(html_partial=True)
    except (Unparseable, ValueError, TypeError) as exc:
        raise ExtractError(url, f"automatic extraction failed: {exc}") from exc
    if not summary or not summary.strip():
        raise ExtractError(url, "automatic extraction found no text")
    return parse_fragment(summary)


def drop_link_lists(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` without short blocks that are mostly links (related stories, tags, share links)."""
    return [
        block
        for block in blocks
        if not (block.text and len(block.text) <= _LINK_LIST_MAX_TEXT and block.link_density >= _LINK_LIST_DENSITY)
    ]
