"""Blocks back to simple, regular HTML.

Paragraphs become ``<p>`` (single line breaks kept as ``<br>``); headings
``<h2>``-``<h4>``; a wire-copy subhead written ``- North Korean labourers -``
(or a short paragraph that is all bold) becomes ``<h3>``; list items are
grouped into their list; an image block followed by a caption (a
``<figcaption>``, or a short line in small print or italics) becomes a
``<figure>``. Rendering the blocks of rendered HTML gives the same HTML.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Sequence

from feedsvc.blocks import Block

SUBHEAD = re.compile(r"[-–—]{1,2}\s*(?P<words>[^-–—\s].{0,118}?)\s*[-–—]{1,2}")
_BOLD_ONLY = re.compile(r"<(b|strong)\b[^>]*>(?P<inner>.*)</\1>", re.DOTALL | re.IGNORECASE)
_NO_SUBHEAD_END = (".", ",", ":", ";", "!", "?", "…")
_HEADING_LEVEL = {"h1": "h2", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h4", "h6": "h4"}
_MAX_CAPTION = 500
_MAX_BOLD_SUBHEAD = 80


def render_blocks(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        if block.kind in ("li", "blockquote"):
            end = _group_end(blocks, index)
            out.append(_render_group(blocks[index:end]))
            index = end
            continue
        if block.is_image or (block.lines[0].has_image and not block.lines[0].text):
            figure, used = _render_figure(blocks, index)
            out.append(figure)
            index += used
            continue
        out.append(_render_one(block))
        index += 1
    return "\n".join(part for part in out if part)


def subhead_words(block: Block) -> str | None:
    """The words of a ``- Words -`` subhead block, else None."""
    if len(block.lines) != 1:
        return None
    match = SUBHEAD.fullmatch(block.text)
    return match.group("words") if match else None


def is_caption(block: Block) -> bool:
    """A caption's look: a figcaption, or short text all in small print or italics."""
    if not block.text or len(block.text) > _MAX_CAPTION or block.is_image:
        return False
    return block.kind == "caption" or all(line.small for line in block.lines if line.text)


def is_figure(block: Block) -> bool:
    """A picture block: images only, or an image line followed by caption lines."""
    first = block.lines[0]
    if not first.has_image or first.text:
        return False
    rest = [line for line in block.lines[1:] if line.text]
    return all(line.small for line in rest) and sum(len(line.text) for line in rest) <= _MAX_CAPTION


def _render_one(block: Block) -> str:
    words = subhead_words(block)
    if words is not None:
        return f"<h3>{htmllib.escape(words, quote=False)}</h3>"
    if block.kind in _HEADING_LEVEL:
        tag = _HEADING_LEVEL[block.kind]
        return f"<{tag}>{block.html}</{tag}>"
    if block.kind in ("pre", "table"):
        return block.html
    bold = _bold_subhead(block)
    if bold is not None:
        return f"<h3>{bold}</h3>"
    return f"<p>{block.html}</p>"


def _bold_subhead(block: Block) -> str | None:
    if len(block.lines) != 1 or not block.text or len(block.text) > _MAX_BOLD_SUBHEAD:
        return None
    if block.text.endswith(_NO_SUBHEAD_END) or block.lines[0].link_chars:
        return None
    match = _BOLD_ONLY.fullmatch(block.lines[0].html)
    if match is None or re.search(r"</(b|strong)>", match.group("inner"), re.IGNORECASE):
        return None
    return match.group("inner")


def _render_figure(blocks: Sequence[Block], index: int) -> tuple[str, int]:
    """A figure from an image block (and the caption after it or on its next lines)."""
    block = blocks[index]
    images = [line for line in block.lines if line.has_image and not line.text]
    rest = [line for line in block.lines if line.text]
    caption = ""
    used = 1
    if rest and all(line.small for line in rest) and sum(len(line.text) for line in rest) <= _MAX_CAPTION:
        caption = "<br>".join(line.html for line in rest)
        rest = []
    elif not rest and index + 1 < len(blocks) and is_caption(blocks[index + 1]):
        caption = blocks[index + 1].html
        used = 2
    figure = "<figure>" + "".join(line.html for line in images)
    figure += f"<figcaption>{caption}</figcaption></figure>" if caption else "</figure>"
    if rest:
        figure += "<p>" + "<br>".join(line.html for line in rest) + "</p>"
    return figure, used


def _group_end(blocks: Sequence[Block], start: int) -> int:
    kind, group = blocks[start].kind, blocks[start].group
    end = start + 1
    while end < len(blocks) and blocks[end].kind == kind and blocks[end].group is group:
        end += 1
    return end


def _render_group(blocks: Sequence[Block]) -> str:
    first = blocks[0]
    if first.kind == "li":
        tag = "ol" if first.group is not None and first.group.tag == "ol" else "ul"
        items = "".join(f"<li>{block.html}</li>" for block in blocks)
        return f"<{tag}>{items}</{tag}>"
    return "<blockquote>" + "".join(_render_one(block) for block in blocks) + "</blockquote>"
