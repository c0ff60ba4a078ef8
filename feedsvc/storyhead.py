"""Find a story's head (headline, byline, dateline) among its blocks and take it out.

News pages print, in this order: (a section label,) the headline, a byline
``By Maria PANINA``, a dateline ``Vladivostok, Russia (AFP) April 25, 2019``
(sometimes byline and dateline on one line, sometimes the dateline opening
the first paragraph: ``Paris (AFP) May 2, 2019 - The ...``). The head is
found by its text, whatever the markup: the first dateline that follows the
headline within a few lines. Everything before the head (navigation, section
label) and the head itself leave the body; pictures inside the head stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedsvc.blocks import Block, trim_line_start
from feedsvc.datelines import parse_byline, parse_dateline, split_byline_dateline, split_opening_dateline
from feedsvc.models import Dateline
from feedsvc.textmatch import fold, same_folded_title

_TITLE_REACH = 6  # lines between a headline and its dateline (byline, deck, image, caption)
_HEADLINE_MAX = 250
_OPENING_REACH = 3  # without a headline, an opening dateline counts only this early


@dataclass(frozen=True)
class StoryHead:
    title: str | None
    author: str | None
    dateline: Dateline | None
    marks: tuple[Block, ...]  # the headline and dateline blocks (a companion's box holds neither)
    body: tuple[Block, ...]  # the story's blocks after the head


@dataclass(frozen=True)
class _Spot:
    block: int
    line: int
    text: str


def find_head(
    blocks: Sequence[Block],
    *,
    title_hints: Sequence[str],
    patterns: Sequence[str] = (),
    opening_patterns: Sequence[str] = (),
    dateline_hint: str | None = None,
) -> StoryHead:
    """The head of the story in ``blocks`` and the blocks after it."""
    return _head(
        blocks, title_hints=title_hints, patterns=patterns, opening_patterns=opening_patterns, dateline_hint=dateline_hint
    )[0]


def settled_head(
    blocks: Sequence[Block],
    *,
    title_hints: Sequence[str],
    patterns: Sequence[str] = (),
    opening_patterns: Sequence[str] = (),
    dateline_hint: str | None = None,
) -> StoryHead | None:
    """``find_head(blocks)`` when no block added after ``blocks`` could change it, else None.

    That holds once a dateline near a headline is found (the first one wins, whatever comes
    later) and the last block lies wholly after the head (the line after the dateline, which
    may be a late byline, included): a reader of the page in order may stop there.
    """
    head, settled = _head(
        blocks, title_hints=title_hints, patterns=patterns, opening_patterns=opening_patterns, dateline_hint=dateline_hint
    )
    return head if settled else None


def _head(
    blocks: Sequence[Block],
    *,
    title_hints: Sequence[str],
    patterns: Sequence[str],
    opening_patterns: Sequence[str],
    dateline_hint: str | None,
) -> tuple[StoryHead, bool]:
    """(the head, whether later blocks could not change it): see ``settled_head``."""
    spots = [
        _Spot(i, j, line.text) for i, block in enumerate(blocks) for j, line in enumerate(block.lines) if line.text
    ]
    hints = [hint for hint in title_hints if hint]
    folded = [fold(hint) for hint in hints]
    shortest, longest = min(map(len, hints), default=0), max(map(len, hints), default=0)
    titles = [
        p
        for p, spot in enumerate(spots)
        if shortest // 2 <= len(spot.text) <= 2 * longest and any(same_folded_title(fold(spot.text), f) for f in folded)
    ]
    title_hint = hints[0] if hints else None
    anchor, dateline, author, opening_rest = _find_dateline(spots, titles, patterns, opening_patterns, dateline_hint)
    headline = _find_headline(spots, blocks, titles, anchor)
    settled = (
        anchor is not None
        and any(anchor - _TITLE_REACH <= t < anchor for t in titles)
        and anchor + 1 < len(spots)
        and spots[anchor + 1].block < len(blocks) - 1
    )
    if anchor is None and headline is None:
        return StoryHead(title_hint, None, None, (), tuple(blocks)), False
    end = anchor if anchor is not None else headline
    assert end is not None
    start = headline if headline is not None else end
    for p in range(start, end + 1):
        author = author or parse_byline(spots[p].text)
    if opening_rest is None and end + 1 < len(spots) and (late := parse_byline(spots[end + 1].text)):
        author, end = author or late, end + 1  # a byline printed under the dateline
    body = _kept_images(blocks, spots, start, end) + _after(blocks, spots, end, opening_rest)
    title = _headline_text(spots[headline].text, hints) if headline is not None else title_hint
    marks = tuple(dict.fromkeys(blocks[spots[p].block] for p in (start, end)))
    return StoryHead(title, author, dateline, marks, tuple(body)), settled


def _headline_text(text: str, hints: Sequence[str]) -> str:
    """The headline as printed, or the hint it holds after a prefix ("NUKEWARS Kim, Putin ...")."""
    folded = fold(text)
    for hint in hints:
        cut = fold(hint)
        if folded != cut and folded.endswith(cut) and same_folded_title(folded, cut):
            return hint
    return text


def _find_dateline(
    spots: list[_Spot],
    titles: list[int],
    patterns: Sequence[str],
    opening_patterns: Sequence[str],
    hint: str | None,
) -> tuple[int | None, Dateline | None, str | None, str | None]:
    """(spot, dateline, author on the same line, rest of an opening line) of the story's dateline."""
    first_plain: tuple[int, Dateline, str | None] | None = None
    folded_hint = fold(hint) if hint else None
    for p, spot in enumerate(spots):
        if folded_hint and folded_hint not in fold(spot.text):
            continue
        near_title = any(p - _TITLE_REACH <= t < p for t in titles)
        found = _plain_dateline(spot.text, patterns)
        if found is not None:
            if near_title or (not titles and hint is None):
                return p, found[0], found[1], None
            first_plain = first_plain or (p, found[0], found[1])
            continue
        opening = split_opening_dateline(spot.text, opening_patterns)
        if opening is not None and (near_title or (not titles and p < _OPENING_REACH)):
            return p, opening[0], None, opening[1]
    if first_plain is not None and not titles:
        return first_plain[0], first_plain[1], first_plain[2], None
    return None, None, None, None


def _plain_dateline(text: str, patterns: Sequence[str]) -> tuple[Dateline, str | None] | None:
    dateline = parse_dateline(text, patterns)
    if dateline is not None:
        return dateline, None
    both = split_byline_dateline(text, patterns)
    return (both[1], both[0]) if both is not None else None


def _find_headline(spots: list[_Spot], blocks: Sequence[Block], titles: list[int], anchor: int | None) -> int | None:
    if anchor is not None:
        before = [t for t in titles if anchor - _TITLE_REACH <= t < anchor]
        if before:
            return before[-1]
        for p in range(anchor - 1, max(anchor - 3, -1), -1):
            text = spots[p].text
            if parse_byline(text) is None:
                return p if len(text) <= _HEADLINE_MAX and not text.endswith(".") else None
        return None
    if not titles:
        return None
    # no dateline: the title block that is a heading or at least not a link in a list
    for t in titles:
        block = blocks[spots[t].block]
        if block.kind.startswith("h") or block.link_density < 0.5:
            return t
    return titles[0]


def _kept_images(blocks: Sequence[Block], spots: list[_Spot], start: int, end: int) -> list[Block]:
    """Pictures (and their captions) printed between the headline and the dateline."""
    first, last = spots[start].block, spots[end].block
    kept: list[Block] = []
    for index in range(first + 1, last):
        block = blocks[index]
        if block.is_image or (kept and kept[-1].is_image and all(line.small for line in block.lines)):
            kept.append(block)
    return kept


def _after(blocks: Sequence[Block], spots: list[_Spot], end: int, opening_rest: str | None) -> list[Block]:
    """The blocks after the head: the rest of the dateline's block, then the following blocks."""
    spot = spots[end]
    block = blocks[spot.block]
    if opening_rest is None:
        remainder = block.without_lines(spot.line + 1)
    else:
        remainder = block.without_lines(spot.line)
        if remainder is not None:
            prefix = spot.text[: len(spot.text) - len(opening_rest)]
            trimmed = trim_line_start(remainder.lines[0], prefix)
            remainder = remainder.without_lines(1) if trimmed is None else remainder.with_first_line(trimmed)
    return ([remainder] if remainder is not None else []) + list(blocks[spot.block + 1:])
