"""Clearing a page without rules before its story is looked for (automatic extraction only).

What readability-lxml gets wrong on news pages (DESIGN.md) is mostly what it
is given: navigation, related-story lists and comment threads compete with the
story for the "most text" prize, and embedded posts are thrown away because
their class names look like widgets. So, in order:

* hidden elements go (``hidden``, ``aria-hidden``, ``display: none``);
* embedded posts (tweets, Instagram, Mastodon, TikTok quotes) become plain
  quotes, so they keep their text;
* page landmarks that are never the story go: ``<nav>``, ``<footer>``,
  ``<aside>`` and a ``<header>`` holding no headline;
* widgets named by class/id words (:mod:`feedsvc.boilerplate`);
* teaser lists: an element most of whose children are teaser cards (a linked
  headline with, at most, a short text) is a list of other stories.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from feedsvc.boilerplate import prune_boilerplate

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_EMBED_CLASS = re.compile(r"twitter|tweet|instagram|tiktok|mastodon|bluesky|threads|embed", re.IGNORECASE)
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CARD_MAX_TEXT = 600
_HIDDEN_STORY = 1000
_CARD_MIN_LINK = 12  # characters of the headline link of a card
_MIN_CARDS = 3
_CARD_SHARE = 0.6  # of the list's children with text


def clear_page(root: HtmlElement) -> None:
    """Remove from the page what is never the story (in place); see the module docstring."""
    drop_hidden(root)
    unwrap_embedded_posts(root)
    drop_landmarks(root)
    prune_boilerplate(root)
    drop_teaser_lists(root)


def drop_hidden(root: HtmlElement) -> None:
    doomed = [
        element
        for element in root.iter()
        if isinstance(element.tag, str)
        and (
            element.get("hidden") is not None
            or (element.get("aria-hidden") or "").lower() == "true"
            or _HIDDEN_STYLE.search(element.get("style") or "")
        )
        and element.tag not in ("html", "body")
    ]
    for element in doomed:
        # a long text kept hidden is the rest of the story behind a "read more" button: it stays
        if element.getparent() is not None and len(element.text_content()) < _HIDDEN_STORY:
            element.drop_tree()


def unwrap_embedded_posts(root: HtmlElement) -> None:
    """Embedded posts keep their text as a plain quote (their class names look like widgets)."""
    for quote in root.iter("blockquote"):
        names = f"{quote.get('class') or ''} {quote.get('id') or ''}"
        if _EMBED_CLASS.search(names):
            for attribute in ("class", "id"):
                quote.attrib.pop(attribute, None)


def drop_landmarks(root: HtmlElement) -> None:
    doomed = [element for element in root.iter("nav", "footer", "aside")]
    doomed += [header for header in root.iter("header") if header.find(".//h1") is None]
    for element in doomed:
        if element.getparent() is not None and not any(a in doomed for a in element.iterancestors()):
            element.drop_tree()


def drop_teaser_lists(root: HtmlElement) -> int:
    """Remove lists of other stories' teasers; returns how many lists went."""
    doomed: list[HtmlElement] = []
    for element in root.iter("div", "section", "ul", "ol", "td", "article"):
        if any(d is element or any(a is d for a in element.iterancestors()) for d in doomed):
            continue
        if _is_teaser_list(element):
            doomed.append(element)
    for element in doomed:
        element.drop_tree()
    return len(doomed)


def _is_teaser_list(element: HtmlElement) -> bool:
    children = [c for c in element if isinstance(c.tag, str) and c.text_content().strip()]
    if len(children) < _MIN_CARDS:
        return False
    cards = sum(1 for child in children if _is_card(child))
    return cards >= _MIN_CARDS and cards >= _CARD_SHARE * len(children)


def _is_card(element: HtmlElement) -> bool:
    """A teaser: a short element led by a linked headline."""
    text = " ".join(element.text_content().split())
    if not text or len(text) > _CARD_MAX_TEXT or element.tag in _HEADINGS or element.tag == "p":
        return False
    for link in element.iter("a"):
        words = " ".join(link.text_content().split())
        if len(words) < _CARD_MIN_LINK:
            continue
        in_heading = bool(link.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")) or any(
            a.tag in _HEADINGS for a in link.iterancestors()
        )
        return in_heading or text.startswith(words)
    return False
