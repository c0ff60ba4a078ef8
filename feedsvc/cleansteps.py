"""The cleaning steps shared by the extract and clean stages.

Extraction already holds the page's tree and its blocks, so it runs these
steps directly instead of serialising and re-parsing; the clean stage runs
them on an HTML fragment. Same steps, same order, so cleaning extracted HTML
again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml.html import HtmlElement

from feedsvc.blockrender import render_blocks
from feedsvc.blocks import Block
from feedsvc.boilerplate import prune_boilerplate
from feedsvc.linkfix import absolutise_urls, drop_tracking_images, resolve_lazy_images
from feedsvc.sanitize import sanitize


def prepare_tree(root: HtmlElement, base_url: str, *, lazy_attr: str | None = None, prune: bool = True) -> None:
    """The tree steps of cleaning, in place (scripts and the like must be gone already):
    widgets by class/id words, real image addresses, no tracking pixels, absolute URLs."""
    if prune:
        prune_boilerplate(root)
    resolve_lazy_images(root, lazy_attr)
    drop_tracking_images(root)
    absolutise_urls(root, base_url)


def blocks_to_html(blocks: Sequence[Block]) -> str:
    """The last steps of cleaning: render the blocks, then sanitize (always last)."""
    return sanitize(render_blocks(blocks))
