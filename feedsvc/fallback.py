"""Automatic extraction for pages without rules: the story's container, then the news-page fixes.

readability-lxml picks a story's container well on plain pages, but on news
pages it keeps share/related/newsletter widgets, loses embedded posts, merges
a second story that shares the container, and on list-like pages or pages with
long comment threads picks the wrong block (DESIGN.md). So:

1. the page is cleared first (:mod:`feedsvc.pageclean`: hidden elements,
   landmarks, widgets by class/id words, teaser lists; embedded posts kept);
2. the page's own statements are trusted before any text-density score
   (:mod:`feedsvc.storyroot`): the element holding the JSON-LD ``articleBody``,
   then the element named as the story's body (``itemprop="articleBody"``,
   ``entry-content``, ``article-body``...);
3. only then readability-lxml chooses;

and the result goes through the same head, end and companion steps as a rules
page; :func:`drop_link_lists` then removes link-dense blocks (lists of other
stories) and :func:`drop_promo_blocks` "Read more: ..." style lines.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from lxml.html import HtmlElement

from feedsvc.blocks import Block
from feedsvc.errors import ExtractError
from feedsvc.htmldoc import parse_fragment
from feedsvc.pageclean import clear_page
from feedsvc.storyroot import json_ld_root, named_root, paragraph_text, scored_root

log = logging.getLogger(__name__)

_LINK_LIST_DENSITY = 0.6
_LINK_LIST_MAX_TEXT = 300
_PROMO_MAX_TEXT = 220
_PREAMBLE_LINE = 80
_PARTIAL = 1.25
#: Lines that point elsewhere or ask for something: never story paragraphs on a page without rules.
_PROMO = re.compile(
    r"^\W*(?:(?:read more|related|see also|also read|more|recommended|watch|listen)\s*[:|»›]"
    r"|(?:sign up|subscribe|advertisement|share this|follow us|click here|continue reading|read more)\b)",
    re.IGNORECASE,
)


def readable_root(
    document: HtmlElement, url: str, body_text: str | None = None, about: Sequence[str] = ()
) -> HtmlElement:
    """The story's container in ``document`` (which this clears and may consume); see the module docstring.

    ``body_text``: the page's JSON-LD ``articleBody``; ``about``: its title and description.
    """
    clear_page(document)
    root = json_ld_root(document, body_text)
    if root is None:
        named, scored = named_root(document), scored_root(document, about)
        root = named if named is not None and not _holds_much_more(scored, named) else scored
    if root is not None:
        return root
    # readability-lxml is loaded here, when a page first needs it (in a CPU worker): the process
    # serving feeds never extracts and is spared its memory.
    from readability import Document
    from readability.readability import Unparseable

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


def drop_promo_blocks(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` without short lines pointing elsewhere ("Read more: ...", "Sign up to ...")."""
    return [block for block in blocks if not (len(block.text) <= _PROMO_MAX_TEXT and _PROMO.match(block.text))]


def drop_preamble(blocks: Sequence[Block]) -> list[Block]:
    """``blocks`` from the first sentence-long paragraph (or picture) on: the short lines before it
    on a page without rules are kickers, bylines, dates, reading times and share counts."""
    for index, block in enumerate(blocks):
        if block.is_image or block.kind.startswith("h") and index and blocks[index - 1].is_image:
            return list(blocks[index:])
        if len(block.text) >= _PREAMBLE_LINE or block.text.rstrip().endswith((".", "!", "?", "”", '"')):
            return list(blocks[index:])
    return list(blocks)


def _holds_much_more(outer: HtmlElement | None, inner: HtmlElement) -> bool:
    """True when ``outer`` contains ``inner`` and a good deal more paragraph text (the named body is partial)."""
    if outer is None or outer is inner or not any(a is outer for a in inner.iterancestors()):
        return False
    return paragraph_text(outer) >= _PARTIAL * paragraph_text(inner)
