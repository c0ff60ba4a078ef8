"""The rule directive ``tidy: yes``: the markup clean-up HTML Tidy gives FiveFilters, on the parsed tree.

FiveFilters Full-Text RSS and graby run HTML Tidy over a page before their
XPaths look at it (``tidy: yes``, the default) and, when the site's ``body``
then matches nothing, try once more on the untidied page ("tidy may have
messed up"). Rule authors therefore wrote some XPaths against Tidy's output.
feedsvc reads the page as parsed first (libxml2 already repairs broken
markup) and, when ``tidy`` is on and no ``body`` alternative matches, tries the
rules again on a tidied tree. Tidied means what the FiveFilters Tidy settings
change in the structure:

* ``enclose-text`` / ``enclose-block-text``: text and inline markup sitting
  directly in ``<body>`` or ``<blockquote>`` is wrapped in ``<p>``;
* ``logical-emphasis``: ``<i>`` becomes ``<em>``, ``<b>`` becomes ``<strong>``;
* ``drop-empty-paras``: paragraphs with neither text nor an image go.
"""

from __future__ import annotations

from lxml.html import HtmlElement

from feedsvc.blocks import BLOCK_TAGS

_ENCLOSING = ("body", "blockquote")
_EMPHASIS = {"i": "em", "b": "strong"}


def tidy_tree(root: HtmlElement) -> None:
    """Apply Tidy's structural clean-up to the page ``root`` (in place)."""
    for element in list(root.iter(*_EMPHASIS)):
        element.tag = _EMPHASIS[str(element.tag)]
    for container in list(root.iter(*_ENCLOSING)):
        _enclose_text(container)
    for paragraph in list(root.iter("p")):
        if not paragraph.text_content().strip() and paragraph.find(".//img") is None:
            paragraph.drop_tree()


def _enclose_text(container: HtmlElement) -> None:
    """Wrap each run of text and inline elements directly inside ``container`` in a ``<p>``."""
    current: HtmlElement | None = None
    if container.text and container.text.strip():
        current = container.makeelement("p", {})
        current.text, container.text = container.text, None
        container.insert(0, current)
    for child in list(container):
        if child is current:
            continue
        if isinstance(child.tag, str) and child.tag in BLOCK_TAGS:
            current = None
            if child.tail and child.tail.strip():
                current = container.makeelement("p", {})
                current.text, child.tail = child.tail, None
                child.addnext(current)
            continue
        if current is None:
            if not _has_content(child):
                continue
            current = container.makeelement("p", {})
            child.addprevious(current)
        current.append(child)  # moves the child, with its tail, into the paragraph


def _has_content(element: HtmlElement) -> bool:
    if not isinstance(element.tag, str):
        return bool((element.tail or "").strip())
    return bool(element.text_content().strip() or (element.tail or "").strip() or element.tag == "img")
