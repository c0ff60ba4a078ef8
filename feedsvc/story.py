"""From the chosen content root(s) to the story's parts, in a fixed order.

::

    blocks -> head out (headline, byline, dateline)
    -> cut at the story's end (body_end_text, another story's teaser)
    -> strip_text boxes out -> companion stories split off -> (automatic only) link lists out
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial

from lxml.html import HtmlElement

from feedsvc.blocks import Block, linearise, linearise_all
from feedsvc.boundaries import story_end, strip_text_boxes
from feedsvc.companions import Companion, split_companions
from feedsvc.fallback import drop_link_lists, drop_preamble, drop_promo_blocks
from feedsvc.models import Dateline
from feedsvc.rules.model import SiteRules
from feedsvc.storyhead import StoryHead, find_head, settled_head
from feedsvc.textmatch import starts_with_any


@dataclass(frozen=True)
class StoryParts:
    title: str | None
    author: str | None
    dateline: Dateline | None
    blocks: tuple[Block, ...]
    companions: tuple[Companion, ...]


def read_story(
    roots: Sequence[HtmlElement],
    rules: SiteRules,
    *,
    title_hints: Sequence[str],
    dateline_hint: str | None = None,
    companion_boxes: Sequence[HtmlElement] = (),
    automatic: bool = False,
) -> StoryParts:
    """The main story's head and blocks, and the companion stories, found under ``roots``."""
    patterns = rules.dateline_pattern
    head_of = partial(find_head, title_hints=title_hints, patterns=patterns,
                      opening_patterns=rules.companion_pattern, dateline_hint=dateline_hint)
    settled_of = partial(settled_head, title_hints=title_hints, patterns=patterns,
                         opening_patterns=rules.companion_pattern, dateline_hint=dateline_hint)
    settled: list[StoryHead] = []

    def story_over(blocks: list[Block]) -> bool:
        """Stop reading at a block that ends the story once the head before it is settled:
        what follows (related links, donation boxes, comments) is never the story."""
        if automatic or not starts_with_any(blocks[-1].text, rules.body_end_text):
            return False
        head = settled_of(blocks)
        if head is not None:
            settled.append(head)
        return head is not None

    blocks = linearise_all(roots, until=story_over if rules.body_end_text else None)
    head = settled[0] if settled else head_of(blocks)
    blocks = story_end(head.body, rules.body_end_text, patterns)
    first = next((b for b in blocks if b.text and not starts_with_any(b.text, rules.strip_text)), None)
    keep = head.marks + ((first,) if first is not None else ())
    blocks = strip_text_boxes(blocks, rules.strip_text, roots, keep)
    blocks, companions = split_companions(
        blocks,
        marks=head.marks,
        roots=roots,
        patterns=patterns,
        opening_patterns=rules.companion_pattern,
        boxes=companion_boxes,
    )
    if automatic:
        blocks = drop_promo_blocks(drop_link_lists(drop_preamble(blocks)))
    return StoryParts(head.title, head.author, head.dateline, tuple(blocks), tuple(companions))


def read_page_head(
    document: HtmlElement, rules: SiteRules, *, title_hints: Sequence[str], dateline_hint: str | None = None
) -> StoryHead:
    """The story's head read from the whole page (for automatic extraction, whose root may miss it)."""
    body = document.find("body")
    return find_head(
        linearise(body if body is not None else document),
        title_hints=title_hints,
        patterns=rules.dateline_pattern,
        opening_patterns=rules.companion_pattern,
        dateline_hint=dateline_hint,
    )


def with_head_facts(parts: StoryParts, head: StoryHead) -> StoryParts:
    """``parts`` with the title, author and dateline it lacks taken from ``head``."""
    return replace(
        parts,
        title=parts.title or head.title,
        author=parts.author or head.author,
        dateline=parts.dateline or head.dateline,
    )
