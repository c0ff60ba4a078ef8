"""Where a story stops, and the boxes inside it that are not the story.

* ``body_end_text``: the first block starting with one of these phrases
  (``Related Links``) and everything after it leave the story.
* Another story's teaser (a headline link, then a dateline on its own line)
  also ends the story, together with the short label printed above it.
* ``strip_text``: a block starting with one of these phrases goes, and with it
  the largest box (table, div...) that starts with that block, as long as the
  box holds no part of the story's head (``Thanks for being here;`` removes
  the whole donation box).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml.html import HtmlElement

from feedsvc.blocks import Block, Line
from feedsvc.datelines import parse_dateline
from feedsvc.textmatch import fold, starts_with_any

_LABEL_MAX = 40  # a section label ("NUKEWARS") above a teaser's headline
_LINKED = 0.5


def story_end(blocks: Sequence[Block], end_text: Sequence[str], patterns: Sequence[str] = ()) -> list[Block]:
    """The blocks of the story: ``blocks`` up to the first one that is no longer the story."""
    lines = [(index, number) for index, block in enumerate(blocks) for number in range(len(block.lines))]
    for position, (index, number) in enumerate(lines):
        block = blocks[index]
        if number == 0 and end_text and starts_with_any(block.text, end_text):
            return list(blocks[:index])
        if position and _is_teaser_dateline(block.lines[number], blocks, lines[position - 1], patterns):
            first = position - 1
            if first and _is_label(blocks, lines[first - 1]):
                first -= 1
            cut_index, cut_line = lines[first]
            head = blocks[cut_index].take_lines(cut_line)
            return list(blocks[:cut_index]) + ([head] if head is not None else [])
    return list(blocks)


def strip_text_boxes(
    blocks: Sequence[Block], phrases: Sequence[str], roots: Sequence[HtmlElement], keep: Sequence[Block] = ()
) -> list[Block]:
    """``blocks`` without those starting with a phrase and the boxes such blocks open."""
    if not phrases:
        return list(blocks)
    doomed: set[int] = set()
    for index, block in enumerate(blocks):
        if index in doomed or not starts_with_any(block.text, phrases):
            continue
        doomed.add(index)
        box = _opened_box(block, roots, keep)
        if box is not None:
            doomed.update(i for i, other in enumerate(blocks) if other.within(box))
    return [block for index, block in enumerate(blocks) if index not in doomed]


def _is_teaser_dateline(
    line: Line, blocks: Sequence[Block], previous: tuple[int, int], patterns: Sequence[str]
) -> bool:
    """A dateline alone on its line right under a linked headline: another story's teaser."""
    above = blocks[previous[0]].lines[previous[1]]
    if not above.text or above.link_chars < _LINKED * len(above.text):
        return False
    return parse_dateline(line.text, patterns) is not None


def _is_label(blocks: Sequence[Block], where: tuple[int, int]) -> bool:
    line = blocks[where[0]].lines[where[1]]
    return 0 < len(line.text) <= _LABEL_MAX and line.text.upper() == line.text and not line.link_chars


def _opened_box(block: Block, roots: Sequence[HtmlElement], keep: Sequence[Block]) -> HtmlElement | None:
    """The largest element, below the roots, whose text begins with ``block``'s text."""
    start = fold(block.text)[:60]
    best = None
    for element in block.path:
        if any(element is root for root in roots):
            return best
        if not fold(element.text_content()).startswith(start) or any(kept.within(element) for kept in keep):
            return best
        best = element
    return None  # not under any root: leave the tree alone
