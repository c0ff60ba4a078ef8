"""The block model: a page region read the way a reader sees it.

Old news templates put a whole story in one table cell with ``<br><br>``
between paragraphs, titles in ``<font>``, companion stories in nested tables.
:func:`linearise` turns any element into a flat list of :class:`Block` s, one
per paragraph as displayed: a block ends at every block-level element and at
every run of two or more ``<br>``. A single ``<br>`` splits a block into
:class:`Line` s (``By Maria PANINA<br>Vladivostok, Russia (AFP) ...``).

Each block keeps its inline HTML (links, emphasis, images), its text, and
``node``, the element holding its first piece (``path`` adds that element's
ancestors), so callers can ask which box (table, div) a block sits in.
"""

from __future__ import annotations

import html as htmllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from feedsvc.htmldoc import parse_fragment

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "li", "main", "menu",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
})
#: Block-level tags that give their blocks a kind other than a plain paragraph.
_KINDS = {
    "h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h5", "h6": "h6",
    "li": "li", "blockquote": "blockquote", "figcaption": "caption", "caption": "caption",
}
_SMALL_TAGS = frozenset({"small", "i", "em", "cite"})
_SMALL_FONT_SIZES = frozenset({"1", "-1", "-2", "-3"})
_CAPTION_WORDS = ("caption", "credit", "cutline")
_DATA_TABLE_MAX_CELL = 300


class Line(NamedTuple):  # a tuple: a page makes hundreds, and a frozen dataclass is slow to make
    """Part of a block between single ``<br>`` s."""

    html: str
    text: str  # whitespace collapsed
    small: bool = False  # every piece of text in small print or italics (a caption's look)
    link_chars: int = 0  # characters of text inside links

    @property
    def has_image(self) -> bool:
        return "<img" in self.html


@dataclass(eq=False)  # not frozen (slower to make) but never changed: callers make new blocks
class Block:
    """One paragraph as displayed."""

    lines: tuple[Line, ...]
    node: HtmlElement  # the element holding the block's first piece
    kind: str = "p"  # p, h1..h6, li, blockquote, caption, pre, table
    group: HtmlElement | None = field(default=None)  # the list or quote a li/blockquote block belongs to
    text: str = field(init=False)  # the lines' texts, one per line; read for every block, so made at once

    def __post_init__(self) -> None:
        self.text = "\n".join(line.text for line in self.lines if line.text)

    @property
    def html(self) -> str:
        return "<br>".join(line.html for line in self.lines)

    @cached_property
    def path(self) -> tuple[HtmlElement, ...]:
        """``node`` and all its ancestors, innermost first."""
        return (self.node, *self.node.iterancestors())

    @property
    def is_image(self) -> bool:
        """Images only, no text (a photo, perhaps wrapped in a link)."""
        return all(not line.text and line.has_image for line in self.lines)

    @property
    def link_density(self) -> float:
        chars = sum(len(line.text) for line in self.lines)
        return sum(line.link_chars for line in self.lines) / chars if chars else 0.0

    def within(self, element: HtmlElement) -> bool:
        """True when the block's first piece sits inside (or is) ``element``."""
        return any(node is element for node in self.path)

    def without_lines(self, count: int) -> Block | None:
        """This block minus its first ``count`` lines; None when nothing is left."""
        rest = self.lines[count:]
        return Block(rest, self.node, self.kind, self.group) if rest else None

    def take_lines(self, count: int) -> Block | None:
        """This block's first ``count`` lines only; None when that is nothing."""
        head = self.lines[:count]
        return Block(head, self.node, self.kind, self.group) if head else None

    def with_first_line(self, line: Line) -> Block:
        return Block((line, *self.lines[1:]), self.node, self.kind, self.group)


def linearise(root: HtmlElement) -> list[Block]:
    """The blocks of ``root`` in reading order."""
    return linearise_all([root])


def linearise_all(roots: Iterable[HtmlElement], until: Callable[[list[Block]], bool] | None = None) -> list[Block]:
    """The blocks of ``roots`` in reading order; with ``until``, only up to the first block
    after which ``until(blocks so far)`` is true (the rest is not read at all)."""
    blocks: list[Block] = []
    for root in roots:
        builder = _Builder(_breaking_elements(root), blocks, until)
        try:
            _walk_children(root, builder, _Context())
            builder.flush()
        except _Enough:
            break
    return blocks


class _Enough(Exception):
    """Raised by the builder when the caller of ``linearise_all`` has read enough."""


def is_data_table(table: HtmlElement) -> bool:
    """A table of data (kept as a table), not a layout table (read as blocks)."""
    if any(inner is not table for inner in table.iter("table")):
        return False
    rows = list(table.iter("tr"))
    if len(rows) < 2:
        return False
    cells = [cell for row in rows for cell in row if cell.tag in ("td", "th")]
    if any(len(cell.text_content()) > _DATA_TABLE_MAX_CELL for cell in cells):
        return False
    has_header = any(cell.tag == "th" for cell in cells)
    wide_rows = sum(1 for row in rows if sum(1 for cell in row if cell.tag in ("td", "th")) >= 2)
    return has_header or wide_rows >= 2


# ------------------------------------------------------------------ the walk


class _Context(NamedTuple):  # a tuple: made for every element walked, so cheap to create
    kind: str = "p"
    group: HtmlElement | None = None
    small: bool = False
    link: bool = False


def _walk_children(element: HtmlElement, builder: _Builder, context: _Context) -> None:
    if element.text:
        builder.text(element.text, element, context)
    for child in element:
        _walk(child, builder, context)
        if child.tail:
            builder.text(child.tail, element, context)


def _walk(element: HtmlElement, builder: _Builder, context: _Context) -> None:
    tag = element.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return
    if tag == "br":
        builder.br()
    elif tag == "hr":
        builder.flush()
    elif tag == "img":
        builder.element(element, context)
    elif tag in BLOCK_TAGS:
        builder.flush()
        if tag == "pre" or (tag == "table" and is_data_table(element)):
            builder.element(element, _Context(kind=tag))
        else:
            _walk_children(element, builder, _enter_block(element, context))
        builder.flush()
    else:
        inner = _enter_inline(element, context)
        if element in builder.breaking:
            _walk_children(element, builder, inner)
        else:
            builder.element(element, inner)


def _enter_block(element: HtmlElement, context: _Context) -> _Context:
    kind = _KINDS.get(element.tag)
    small = context.small or kind == "caption" or _has_caption_class(element)
    if kind is None:
        return _Context(context.kind, context.group, small, context.link)
    group = element.getparent() if kind == "li" else element if kind == "blockquote" else None
    if kind == "caption":
        small = True
    return _Context(kind, group, small, context.link)


def _enter_inline(element: HtmlElement, context: _Context) -> _Context:
    small = context.small or _is_small(element)
    link = context.link or element.tag == "a"
    if small == context.small and link == context.link:
        return context
    return _Context(context.kind, context.group, small, link)


def _breaking_elements(root: HtmlElement) -> set[HtmlElement]:
    """Elements under ``root`` holding a block-level element or a ``<br>`` (not atomic inline runs)."""
    breaking: set[HtmlElement] = set()
    # One plain pass: iter() with ~50 tag names costs more than testing each tag here.
    for element in root.iter():
        tag = element.tag
        if tag != "br" and tag not in BLOCK_TAGS:
            continue
        for ancestor in element.iterancestors():
            if ancestor in breaking:
                break
            breaking.add(ancestor)
            if ancestor is root:
                break
    return breaking


def _is_small(element: HtmlElement) -> bool:
    tag = element.tag
    if tag in _SMALL_TAGS:
        return True
    if tag == "font" and (element.get("size") or "").strip() in _SMALL_FONT_SIZES:
        return True
    return _has_caption_class(element)


def _has_caption_class(element: HtmlElement) -> bool:
    names = element.get("class")
    ident = element.get("id")
    if names is None and ident is None:
        return False
    folded = f"{names or ''} {ident or ''}".lower()
    return any(word in folded for word in _CAPTION_WORDS)


def _all_small(element: HtmlElement) -> bool:
    """Every piece of text inside ``element`` is in small print or italics."""
    if _is_small(element):
        return True
    if (element.text or "").strip():
        return False
    for child in element:
        if (child.tail or "").strip():
            return False
        if child.text_content().strip() and not _all_small(child):
            return False
    return True


class _Builder:
    """Collects pieces into lines and lines into blocks during one walk."""

    def __init__(
        self, breaking: set[HtmlElement], blocks: list[Block], until: Callable[[list[Block]], bool] | None = None
    ) -> None:
        self.breaking = breaking
        self.blocks = blocks
        self._until = until
        self._lines: list[Line] = []
        self._html: list[str] = []
        self._text: list[str] = []
        self._small = True
        self._link_chars = 0
        self._content = False
        self._node: HtmlElement | None = None
        self._context = _Context()
        self._pending_br = 0

    def text(self, text: str, parent: HtmlElement, context: _Context) -> None:
        if text.isspace():
            if self._content and self._pending_br == 0:
                self._html.append(" ")
                self._text.append(" ")
            return
        self._open(parent, context)
        self._html.append(htmllib.escape(text, quote=False))
        self._text.append(text)
        self._small = self._small and context.small
        if context.link:
            self._link_chars += len(text.strip())

    def element(self, element: HtmlElement, context: _Context) -> None:
        text = element.text_content() if len(element) else element.text or ""
        has_text = bool(text.strip())
        if not has_text and element.tag != "img" and next(element.iter("img"), None) is None:
            return
        self._open(element, context)
        self._html.append(lxml.etree.tostring(element, encoding="unicode", method="html", with_tail=False))
        self._text.append(text)
        if has_text:
            self._small = self._small and (context.small or _all_small(element))
            if context.link or element.tag == "a":
                self._link_chars += len(text.strip())
            elif len(element):  # a childless element holds no link
                self._link_chars += sum(len(a.text_content().strip()) for a in element.iter("a"))

    def br(self) -> None:
        if self._content or self._lines:
            self._pending_br += 1

    def flush(self) -> None:
        self._end_line()
        done = False
        if self._lines and self._node is not None:
            self.blocks.append(Block(tuple(self._lines), self._node, self._context.kind, self._context.group))
            done = self._until is not None and self._until(self.blocks)
        self._lines = []
        self._node = None
        self._pending_br = 0
        if done:
            raise _Enough

    def _open(self, node: HtmlElement, context: _Context) -> None:
        if self._pending_br >= 2:
            self.flush()
        elif self._pending_br == 1:
            self._end_line()
        self._pending_br = 0
        if self._node is None:
            self._node = node
            self._context = context
        self._content = True

    def _end_line(self) -> None:
        if not self._content:  # nothing collected since the last line ended
            return
        html = "".join(self._html).strip()
        text = " ".join("".join(self._text).split())
        self._lines.append(Line(html, text, self._small and bool(text), self._link_chars))
        self._html, self._text = [], []
        self._small, self._link_chars, self._content = True, 0, False


def trim_line_start(line: Line, prefix: str) -> Line | None:
    """``line`` without the visible text ``prefix`` at its start (markup kept); None when empty."""
    wanted = sum(1 for char in prefix if not char.isspace())
    root = parse_fragment(line.html or "<span></span>")
    for node, attr in _text_slots(root):
        if wanted <= 0:
            break
        value = getattr(node, attr) or ""
        cut = 0
        while cut < len(value) and wanted > 0:
            if not value[cut].isspace():
                wanted -= 1
            cut += 1
        setattr(node, attr, value[cut:])
    html = (root.text or "") + "".join(lxml.html.tostring(child, encoding="unicode") for child in root)
    text = " ".join(root.text_content().split())
    html = html.strip()
    if not text and "<img" not in html:
        return None
    return Line(html, text, line.small, min(line.link_chars, len(text)))


def _text_slots(root: HtmlElement) -> list[tuple[HtmlElement, str]]:
    """(element, "text" | "tail") for every text slot inside ``root``, in reading order."""
    ordered: list[tuple[HtmlElement, str]] = [(root, "text")]

    def visit(element: HtmlElement) -> None:
        for child in element:
            ordered.append((child, "text"))
            visit(child)
            ordered.append((child, "tail"))

    visit(root)
    return ordered
