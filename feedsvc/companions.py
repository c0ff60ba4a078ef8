"""Companion stories: wire stories embedded in another story's page.

A companion opens with a short title, then a paragraph that starts with its
own dateline and a dash::

    Pompeo expects N.Korea diplomacy to be 'bumpy'
    Washington (AFP) April 24, 2019 - US Secretary of State Mike Pompeo said ...

Its extent is its box: the smallest element around its title and dateline
that starts with the title, holds no part of the main story's head (headline,
dateline) and no other companion's dateline, and is not the story's root
(a nested ``<table align="right">``, a bordered ``<div>``, a ``<font>`` run in
its own cell). A page that prints a companion flat among the story's
paragraphs, with no box, gives no sign of where it ends: then only its title
and first paragraph are taken, so the main story never loses text to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml.html import HtmlElement

from feedsvc.blockrender import SUBHEAD
from feedsvc.blocks import Block, trim_line_start
from feedsvc.datelines import parse_byline, parse_dateline, split_opening_dateline
from feedsvc.models import Dateline
from feedsvc.textmatch import fold

#: Elements that only style text inside a paragraph: never a companion's box.
_NOT_BOXES = frozenset({
    "a", "b", "strong", "i", "em", "u", "small", "big", "sup", "sub", "img", "p",
    "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "cite", "q", "abbr",
})
_TITLE_MIN, _TITLE_MAX = 8, 200
_ABBREVIATION_END = re.compile(r"\b\w\.\w\.$")  # a title may end in "U.S."


@dataclass(frozen=True)
class Companion:
    title: str
    dateline: Dateline
    blocks: tuple[Block, ...]  # its body, the dateline taken off the first paragraph
    boxed: bool  # False when no box was found and only the first paragraph was taken


@dataclass(frozen=True)
class _Opening:
    block: int  # index of the block holding the dateline line
    line: int  # that line
    title_block: int
    title_line: int
    dateline: Dateline
    rest: str  # the paragraph after the dateline


def split_companions(
    blocks: Sequence[Block],
    *,
    marks: Sequence[Block],
    roots: Sequence[HtmlElement],
    patterns: Sequence[str] = (),
    opening_patterns: Sequence[str] = (),
    boxes: Sequence[HtmlElement] = (),
) -> tuple[list[Block], list[Companion]]:
    """(the main story's blocks, the companion stories) of ``blocks``.

    ``patterns`` read datelines (``dateline_pattern``), ``opening_patterns``
    a companion's opening (``companion_pattern``); built-in ones follow both.
    ``boxes`` are companion containers named by the rules (``companion``):
    a companion inside one of them takes exactly that box.
    """
    openings = _openings(blocks, patterns, opening_patterns)
    taken: set[int] = set()
    kept_heads: dict[int, Block] = {}  # lines before a companion's title, in the title's block
    companions = []
    for opening in openings:
        if opening.block in taken:
            continue
        others = [blocks[o.block] for o in openings if o is not opening]
        members = _named_box_members(blocks, opening, boxes)
        if members is None:
            members = _boxed_members(blocks, opening, marks, roots, others, taken)
        boxed = members is not None
        if members is None:
            members = sorted({opening.title_block, opening.block})
        taken.update(members)
        head = blocks[opening.title_block].take_lines(opening.title_line)
        if head is not None and head.text:
            kept_heads[opening.title_block] = head
        pictures = [i for i in members if i < opening.title_block and blocks[i].is_image]
        body = _body(blocks, opening, pictures + [i for i in members if i >= opening.title_block])
        title = blocks[opening.title_block].lines[opening.title_line].text
        companions.append(Companion(title, opening.dateline, tuple(body), boxed))
    main = [kept_heads.get(index) if index in taken else block for index, block in enumerate(blocks)]
    return [block for block in main if block is not None], companions


def _openings(blocks: Sequence[Block], patterns: Sequence[str], opening_patterns: Sequence[str]) -> list[_Opening]:
    found = []
    previous: tuple[int, int] | None = None  # the last line with text before this one
    for index, block in enumerate(blocks):
        for number, line in enumerate(block.lines):
            if not line.text:
                continue
            opening = split_opening_dateline(line.text, opening_patterns)
            if opening is not None and previous is not None:
                title = blocks[previous[0]].lines[previous[1]].text
                if _is_title(title, patterns, opening_patterns):
                    found.append(_Opening(index, number, previous[0], previous[1], opening[0], opening[1]))
            previous = (index, number)
    return found


def _is_title(text: str, patterns: Sequence[str], opening_patterns: Sequence[str]) -> bool:
    """A short line that could head a story (not a sentence, dateline, byline or subhead)."""
    if not _TITLE_MIN <= len(text) <= _TITLE_MAX or text.endswith((",", ";", ":")):
        return False
    if text.endswith(".") and not _ABBREVIATION_END.search(text):
        return False
    if SUBHEAD.fullmatch(text) or parse_dateline(text, patterns) is not None or parse_byline(text) is not None:
        return False
    return split_opening_dateline(text, opening_patterns) is None


def _named_box_members(blocks: Sequence[Block], opening: _Opening, boxes: Sequence[HtmlElement]) -> list[int] | None:
    """The blocks of the rules' companion box holding this companion's title and dateline."""
    for box in boxes:
        if blocks[opening.block].within(box) and blocks[opening.title_block].within(box):
            return [i for i, block in enumerate(blocks) if block.within(box)]
    return None


def _boxed_members(
    blocks: Sequence[Block],
    opening: _Opening,
    marks: Sequence[Block],
    roots: Sequence[HtmlElement],
    others: Sequence[Block],
    taken: set[int],
) -> list[int] | None:
    """Indices of the blocks in the companion's box, or None when it has no box."""
    title_block = blocks[opening.title_block]
    title = fold(title_block.lines[opening.title_line].text)
    for element in blocks[opening.block].path:
        if any(element is root for root in roots):
            return None
        if not isinstance(element.tag, str) or element.tag in _NOT_BOXES:
            continue
        inside = set(element.iter())
        if title_block.node not in inside:
            continue
        if any(block.node in inside for block in (*marks, *others)):
            return None
        if not fold(element.text_content()).startswith(title):
            return None
        members = [i for i, block in enumerate(blocks) if block.node in inside]
        chosen = set(members)
        rest = [i for i in range(len(blocks)) if i not in chosen and i not in taken and blocks[i].text]
        return members if rest else None  # a box holding everything left is the story's, not the companion's
    return None


def _body(blocks: Sequence[Block], opening: _Opening, members: Sequence[int]) -> list[Block]:
    body: list[Block] = []
    for index in members:
        block: Block | None = blocks[index]
        if index == opening.title_block:
            assert block is not None
            block = block.without_lines(opening.title_line + 1)
            if index == opening.block and block is not None:
                block = _without_dateline(block, opening, opening.line - opening.title_line - 1)
        elif index == opening.block and block is not None:
            block = _without_dateline(block, opening, opening.line)
        if block is not None:
            body.append(block)
    return body


def _without_dateline(block: Block, opening: _Opening, line: int) -> Block | None:
    """``block`` from its dateline line on, the dateline cut off that line."""
    rest = block.without_lines(line)
    if rest is None:
        return None
    text = rest.lines[0].text
    trimmed = trim_line_start(rest.lines[0], text[: len(text) - len(opening.rest)])
    return rest.without_lines(1) if trimmed is None else rest.with_first_line(trimmed)
