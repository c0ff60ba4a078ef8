"""Apply the standard ftr-site-config directives of a :class:`SiteRules` to a parsed page.

* ``title``/``author``/``date``/``body`` (and ``dateline``): alternatives in
  file order, the first XPath that matches wins. An XPath may select
  elements, attributes, text nodes or compute a string.
* ``strip``, ``strip_id_or_class``, ``strip_image_src``, ``strip_attr``,
  ``src_lazy_load_attr``, ``wrap_in``: edits of the tree before the body is read.
* ``native_ad_clue``: a match marks the page as an advertisement.
* ``single_page_link``/``next_page_link``: the first link whose
  ``if_page_contains`` condition (if any) matches.

A site file and ``global.txt`` combine with :func:`merge_rules`: the site's
alternatives first, then the global ones; the site decides the yes/no flags.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence

import lxml.etree
from lxml.html import HtmlElement

from feedsvc.htmldoc import element_text
from feedsvc.linkfix import absolute_url
from feedsvc.rules.model import LinkRule, SiteRules

log = logging.getLogger(__name__)

_EMPTY_RULES = SiteRules(source="")
_TUPLE_FIELDS = tuple(
    f.name for f in dataclasses.fields(SiteRules) if isinstance(getattr(_EMPTY_RULES, f.name), tuple) and f.name != "tests"
)


def merge_rules(site: SiteRules | None, global_rules: SiteRules | None) -> SiteRules | None:
    """One rule set from a site's rules and the global rules (either may be missing)."""
    if site is None or global_rules is None:
        return site or global_rules
    merged = {name: getattr(site, name) + getattr(global_rules, name) for name in _TUPLE_FIELDS}
    return dataclasses.replace(site, **merged)


@functools.lru_cache(maxsize=4096)
def compiled(xpath: str) -> lxml.etree.XPath:
    """``xpath`` compiled once per process (rule files repeat the same few expressions on every page)."""
    return lxml.etree.XPath(xpath)


def evaluate(root: HtmlElement, xpath: str) -> list[object]:
    """The XPath's result as a list (empty for no match, false, NaN or an error)."""
    try:
        result = compiled(xpath)(root)
    except (lxml.etree.XPathError, ValueError) as exc:
        log.debug("XPath %r failed: %s", xpath, exc)
        return []
    if isinstance(result, list):
        return [item for item in result if not isinstance(item, str) or item.strip()]
    if isinstance(result, bool):
        return [result] if result else []
    if isinstance(result, float):
        return [] if result != result or result == 0 else [result]  # NaN or zero: no match
    return [result] if str(result).strip() else []


def first_match(root: HtmlElement, xpaths: Sequence[str]) -> list[object]:
    """The result of the first XPath in ``xpaths`` that matches anything."""
    for xpath in xpaths:
        found = evaluate(root, xpath)
        if found:
            return found
    return []


def first_texts(root: HtmlElement, xpaths: Sequence[str]) -> list[str]:
    """The non-empty texts of the first matching XPath (several for repeated authors)."""
    for xpath in xpaths:
        texts = [text for text in (element_text(item) for item in evaluate(root, xpath)) if text]
        if texts:
            return list(dict.fromkeys(texts))
    return []


def body_elements(root: HtmlElement, rules: SiteRules) -> list[HtmlElement]:
    """The elements of the first ``body`` XPath that selects elements, outermost only."""
    for xpath in rules.body:
        elements = [item for item in evaluate(root, xpath) if isinstance(item, HtmlElement)]
        if elements:
            return [e for e in elements if not any(other is not e and _contains(other, e) for other in elements)]
    return []


def is_native_ad(root: HtmlElement, rules: SiteRules) -> bool:
    return any(evaluate(root, xpath) for xpath in rules.native_ad_clue)


def find_link(root: HtmlElement, links: Sequence[LinkRule], base_url: str) -> str | None:
    """The absolute URL of the first link rule that matches (and whose condition holds)."""
    for rule in links:
        if rule.if_page_contains and not evaluate(root, rule.if_page_contains):
            continue
        for item in evaluate(root, rule.xpath):
            href = item.get("href") if isinstance(item, HtmlElement) else str(item)
            if href and href.strip() and not href.strip().startswith(("#", "javascript:")):
                return absolute_url(href, base_url)
    return None


def apply_edits(root: HtmlElement, rules: SiteRules) -> None:
    """Apply strip, strip_id_or_class, strip_image_src, strip_attr, src_lazy_load_attr, wrap_in (in place)."""
    for xpath in rules.strip:
        _drop(evaluate(root, xpath))
    if rules.strip_id_or_class:
        words = [word for word in rules.strip_id_or_class if word]
        named = root.xpath("//*[@class or @id]")
        _drop([e for e in named if any(w in (e.get("class") or "") or w in (e.get("id") or "") for w in words)])
    if rules.strip_image_src:
        words = [word for word in rules.strip_image_src if word]
        _drop([img for img in root.iter("img") if any(word in (img.get("src") or "") for word in words)])
    for xpath in rules.strip_attr:
        for item in evaluate(root, xpath):
            if isinstance(item, lxml.etree._ElementUnicodeResult) and item.is_attribute:
                parent = item.getparent()
                if parent is not None and item.attrname is not None:
                    parent.attrib.pop(item.attrname, None)
    if rules.src_lazy_load_attr:
        for img in root.iter("img"):
            real = img.get(rules.src_lazy_load_attr)
            if real and real.strip():
                img.set("src", real.strip())
    for tag, xpath in rules.wrap_in:
        for item in evaluate(root, xpath):
            if isinstance(item, HtmlElement) and item.getparent() is not None:
                _wrap(item, tag)


def _drop(items: list[object]) -> None:
    for item in items:
        if isinstance(item, HtmlElement) and item.getparent() is not None:
            item.drop_tree()
        elif isinstance(item, lxml.etree._ElementUnicodeResult) and item.is_attribute:
            parent = item.getparent()
            if parent is not None and item.attrname is not None:
                parent.attrib.pop(item.attrname, None)


def _wrap(element: HtmlElement, tag: str) -> None:
    wrapper = element.makeelement(tag, {})
    element.addprevious(wrapper)
    wrapper.tail = element.tail
    element.tail = None
    wrapper.append(element)


def _contains(outer: HtmlElement, inner: HtmlElement) -> bool:
    return any(ancestor is outer for ancestor in inner.iterancestors())

