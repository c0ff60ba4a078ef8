"""Clean an article body: boilerplate out, structure regular, URLs absolute, HTML safe.

The order is fixed (sanitizing always runs last)::

    parse fragment -> drop scripts/styles/embeds/forms -> drop widgets by class/id words
    -> real image addresses (lazy loading) -> drop tracking pixels -> absolute URLs
    -> blocks (``<br><br>`` runs become paragraphs) -> drop boilerplate text blocks
    -> render (subheads, figures with captions, lists) -> nh3 allowlist

Cleaning clean HTML gives the same HTML: extraction runs these steps on its own tree
(cleansteps), and its output needs no second pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedsvc.blocks import Block, linearise
from feedsvc.cleansteps import blocks_to_html, prepare_tree
from feedsvc.htmldoc import drop_junk, parse_fragment
from feedsvc.textmatch import starts_with_any


def clean_body(
    html: str,
    base_url: str,
    *,
    strip_text: Sequence[str] = (),
    end_text: Sequence[str] = (),
    lazy_attr: str | None = None,
    prune: bool = True,
) -> str:
    """Safe, regular article HTML from ``html`` found on the page at ``base_url``.

    ``strip_text``: a block starting with one of these is dropped;
    ``end_text``: a block starting with one of these, and all after it, are dropped;
    ``lazy_attr``: the image attribute holding the real address on this site;
    ``prune``: drop widgets named by class/id words (share, related, comments...).
    """
    if not html.strip():
        return ""
    root = parse_fragment(html)
    drop_junk(root)
    prepare_tree(root, base_url, lazy_attr=lazy_attr, prune=prune)
    return blocks_to_html(drop_text_blocks(linearise(root), strip_text, end_text))


def drop_text_blocks(blocks: Sequence[Block], strip_text: Sequence[str], end_text: Sequence[str]) -> list[Block]:
    """``blocks`` up to the first one starting with an ``end_text``, minus those starting with a ``strip_text``."""
    kept: list[Block] = []
    for block in blocks:
        if end_text and starts_with_any(block.text, end_text):
            break
        if strip_text and starts_with_any(block.text, strip_text):
            continue
        kept.append(block)
    return kept


def text_of(html: str) -> str:
    """The readable text of ``html``: paragraphs separated by blank lines, for summaries and hashes."""
    if not html.strip():
        return ""
    root = parse_fragment(html)
    drop_junk(root)
    return "\n\n".join(block.text for block in linearise(root) if block.text)
