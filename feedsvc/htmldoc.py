"""Parse a page once with lxml, and remove what is never content.

``lxml.html`` refuses a ``str`` that starts with an XML declaration naming an
encoding (``<?xml version="1.0" encoding="utf-8"?>``): the text is already
decoded, so the declaration is dropped before parsing. A ``<meta charset>``
in a ``str`` is harmless and stays.

Pages are parsed by libxml2 (lxml), which repairs markup its own way. A rule
file's ``parser: html5lib`` (or FiveFilters' ``html5php``) asks for the HTML5
tree-building algorithm browsers use instead (``<tbody>`` inserted, stray
table content moved before the table, misnested tags mended), so XPaths
copied from a browser's inspector match: html5lib builds the tree, which is
then read back into the same element classes as every other page.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from feedsvc.errors import ExtractError
from feedsvc.rules.parser import HTML5_PARSERS

#: Elements removed with everything inside them: code, ads, embeds, form controls.
JUNK_TAGS = (
    "script", "style", "noscript", "iframe", "frame", "frameset", "object", "embed", "applet",
    "ins", "template", "svg", "canvas", "link", "meta", "input", "button", "select", "textarea",
    "map", "area", "audio", "video", "source", "track", "dialog",
)
#: lxml.html's own parser finds each element's Python class with a Python callback, on every
#: access; this one maps every element to HtmlElement in C (about a quarter faster overall).
#: Parsers are safe to share between threads.
HTML_PARSER = lxml.etree.HTMLParser()
HTML_PARSER.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(element=HtmlElement))
#: A form holding this much text wraps the page (old ASP.NET sites): keep its content.
_PAGE_FORM_TEXT = 500
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def parse_document(
    html: str, url: str, replacements: Sequence[tuple[str, str]] = (), parser: str | None = None
) -> HtmlElement:
    """The page as an lxml tree, after the rules' ``replace_string`` edits of the raw text.

    ``parser``: a rule file's ``parser`` value; an HTML5 one builds the tree as browsers do.
    """
    for find, replace in replacements:
        html = html.replace(find, replace)
    html = _XML_DECLARATION.sub("", html.removeprefix("\ufeff"), count=1)
    if not html.strip():
        raise ExtractError(url, "empty page")
    if parser is not None and parser.strip().lower() in HTML5_PARSERS:
        html = _html5_markup(html)
    try:
        return lxml.html.document_fromstring(html, parser=HTML_PARSER)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractError(url, f"cannot parse the page: {exc}") from exc


def _html5_markup(html: str) -> str:
    """``html`` rebuilt by the HTML5 tree-building algorithm, as well-formed markup libxml2 keeps as is."""
    import html5lib  # here, not with the module: few rule files ask for it (~10 MB resident)

    with warnings.catch_warnings():  # "coercing non-XML name" notes about odd attribute names
        warnings.simplefilter("ignore")
        tree = html5lib.parse(html, treebuilder="lxml", namespaceHTMLElements=False)
    root = tree.getroot() if isinstance(tree, lxml.etree._ElementTree) else tree
    markup: str = lxml.etree.tostring(root, encoding="unicode", method="html")
    return markup


def parse_fragment(html: str) -> HtmlElement:
    """An HTML fragment (several elements, or text) inside one ``<div>``."""
    html = _XML_DECLARATION.sub("", html.removeprefix("\ufeff"), count=1)
    try:
        return lxml.html.fragment_fromstring(html, create_parent="div", parser=HTML_PARSER)
    except (lxml.etree.ParserError, ValueError):
        body = lxml.html.document_fromstring(f"<html><body><div>{html}</div></body></html>", parser=HTML_PARSER).body
        div = body[0] if len(body) else body
        return div


def drop_junk(root: HtmlElement) -> None:
    """Remove comments, scripts, styles, embeds, ads and form controls (in place)."""
    lxml.etree.strip_elements(root, lxml.etree.Comment, lxml.etree.ProcessingInstruction, *JUNK_TAGS, with_tail=False)
    for form in list(root.iter("form")):
        if len(form.text_content()) < _PAGE_FORM_TEXT:
            form.drop_tree()
        else:
            form.drop_tag()


def rescue_noscript_images(root: HtmlElement) -> None:
    """Keep the real picture of a lazy-loaded image from its ``<noscript>`` fallback (in place).

    Lazy-loading pages print ``<img src="placeholder.gif" data-src=...>`` and, right after it or
    inside the same ``<figure>``/``<picture>``, ``<noscript><img src="real.jpg"></noscript>``. Such a
    noscript (images only, no text, no link) takes the placeholder's place; any other noscript
    (tracking pixels in links, "enable JavaScript" notes) goes with the junk.
    """
    for noscript in list(root.iter("noscript")):
        if next(noscript.iter("img"), None) is None or next(noscript.iter("a"), None) is not None:
            continue
        if noscript.text_content().strip():
            continue
        before = noscript.getprevious()
        parent = noscript.getparent()
        beside_image = before is not None and (
            before.tag == "img" or (next(before.iter("img"), None) is not None and not before.text_content().strip())
        )
        if beside_image and before is not None:
            before.drop_tree()  # the placeholder (its tail text stays)
        elif parent is None or parent.tag not in ("figure", "picture"):
            continue
        noscript.drop_tag()


def squash(text: str) -> str:
    """``text`` with every run of whitespace made one space, trimmed."""
    return " ".join(text.split())


def element_text(node: object) -> str:
    """The text of an XPath result: an element's text content or a string value."""
    if isinstance(node, HtmlElement):
        return squash(node.text_content())
    if isinstance(node, lxml.etree._Element):
        return squash("".join(node.itertext()))
    return squash(str(node))
