"""Widgets that live inside article containers, found by their class and id words.

Share bars, related-story lists, newsletter sign-ups, comment threads, ads:
an element whose ``class`` or ``id`` names one of these is removed, unless it
holds a lot of plain text (then the word is more likely an accident of naming,
``class="article has-comments"``, than a widget).
"""

from __future__ import annotations

import re

import lxml.etree
from lxml.html import HtmlElement

#: Whole-token matches (``ad``, ``nav``) and prefixes of tokens (``share`` matches ``sharebar``).
EXACT_WORDS = frozenset({
    "ad", "ads", "adv", "advert", "nav", "menu", "tags", "taglist", "footer", "sidebar", "widget",
    "breadcrumb", "breadcrumbs", "popup", "modal", "cookie", "cookies", "banner", "toolbar",
})
PREFIX_WORDS = (
    "share", "sharing", "social", "related", "recommend", "newsletter", "subscribe", "subscription",
    "comment", "disqus", "promo", "advertis", "sponsor", "outbrain", "taboola", "signup", "paywall",
    "trending", "mostread", "popular", "donat", "followus",
)
_PROTECTED_TAGS = frozenset({"html", "body", "article", "main"})
_LONG_TEXT = 1500
_LOW_LINK_DENSITY = 0.25
_TOKEN = re.compile(r"[^a-z0-9]+")
_NAMED = lxml.etree.XPath(".//*[@class or @id]")  # compiled once: it runs on every page


def is_boilerplate_name(names: str) -> bool:
    """True when a class/id string names a widget (``share-bar``, ``relatedPosts``...)."""
    for token in _TOKEN.split(names.lower()):
        if token in EXACT_WORDS or (len(token) >= 4 and token.startswith(PREFIX_WORDS)):
            return True
    return False


def prune_boilerplate(root: HtmlElement) -> int:
    """Remove widget elements under ``root`` (in place); returns how many went."""
    doomed = []
    for element in _NAMED(root):
        if element.tag in _PROTECTED_TAGS:
            continue
        names = f"{element.get('class') or ''} {element.get('id') or ''}"
        if names.strip() and is_boilerplate_name(names) and not _looks_like_content(element):
            doomed.append(element)
    for element in doomed:
        element.drop_tree()
    return len(doomed)


def link_density(element: HtmlElement) -> float:
    text = len(" ".join(element.text_content().split()))
    if not text:
        return 0.0
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return linked / text


def _looks_like_content(element: HtmlElement) -> bool:
    return len(element.text_content()) > _LONG_TEXT and link_density(element) < _LOW_LINK_DENSITY
