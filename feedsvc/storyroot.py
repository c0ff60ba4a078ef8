"""Where the story is on a page without rules, from what the page says about itself.

Two signals are stronger than any text-density score, and are tried before readability:

* the JSON-LD ``articleBody``: the page's own copy of the story's text. The
  story's container is the smallest element holding the blocks whose text the
  ``articleBody`` contains (most JSON-LD bodies are plain text, so the markup,
  pictures and links come from the page);
* the container's name: ``itemprop="articleBody"`` (schema.org microdata) and
  the class names the common publishing systems give the story's body
  (WordPress ``entry-content``, Drupal ``field--name-body``, Ghost
  ``gh-content``, ``article-body``, ``story-body``...), when it holds the
  page's main text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml.html import HtmlElement

from feedsvc.blocks import Block, linearise
from feedsvc.textmatch import fold

#: Class names (whole class tokens) of story bodies in common publishing systems.
BODY_CLASSES = frozenset({
    "entry-content", "post-content", "article-body", "article-content", "article__body", "article__content",
    "article-body-content", "story-body", "story-content", "story-text", "post-body", "post-text", "gh-content",
    "field--name-body", "c-entry-content", "article-text", "articlebody", "article_body", "entry-body",
    "td-post-content", "single-post-content", "post-entry", "entry", "body-text", "content-body", "body-copy",
    "article-body-commercial-selector", "rich-text", "richtext", "markup", "post__content", "blog-post-body",
    "amp-wp-article-content", "entry__content", "content__article-body", "article-main", "story__body",
})
BODY_IDS = frozenset({"article-body", "articlebody", "story-body", "storybody", "article-content", "content-body", "story"})
_TEXT_TAGS = ("p", "li", "blockquote", "h2", "h3", "h4", "pre", "td", "div", "span", "dd")
_MIN_BLOCK = 40
_MIN_BODY = 300
_COVERAGE = 0.6  # of the JSON-LD text found on the page
_MIN_CLASS_TEXT = 400
_CLASS_SHARE = 0.5  # of the page's paragraph text the named container must hold
_LINKED = 0.5
_GOOD_BLOCK = 50  # characters of a sentence-long paragraph
_GOOD_ITEM = 30  # ... of a list item or quote
_GOOD_LINKS = 0.33
_OTHER_WEIGHT = 2
_SCORED_SHARE = 0.6  # of the page's good text the scored root must hold
_RELEVANT_SHARE = 0.3
_TEASER_LINK = 0.8
_HEADING = 100
_ENDING = re.compile(r"(?:es|s|ed|ing)$")
_WORDS = re.compile(r"[^\W\d_]+")
_STOPWORDS = frozenset({
    "that", "this", "with", "from", "have", "will", "after", "their", "they", "been", "were", "what", "when",
    "more", "than", "into", "over", "about", "says", "said", "your", "which", "would", "could", "there",
})


def json_ld_root(document: HtmlElement, body_text: str | None) -> HtmlElement | None:
    """The smallest element holding the page's blocks that the JSON-LD ``articleBody`` contains."""
    if not body_text:
        return None
    whole = fold(body_text)
    if len(whole) < _MIN_BODY:
        return None
    body = document.find("body")
    matched: list[HtmlElement] = []
    found = 0
    for element in (body if body is not None else document).iter(*_TEXT_TAGS):
        text = fold(element.text_content())
        if len(text) < _MIN_BLOCK or len(text) > len(whole) + 200 or text[:120] not in whole or text[-120:] not in whole:
            continue
        if any(any(a is m for a in element.iterancestors()) for m in matched[-3:]):
            continue  # inside a block already matched
        matched.append(element)
        found += len(text)
    if not matched or found < _COVERAGE * len(whole):
        return None
    return _common_ancestor(matched)


def named_root(document: HtmlElement) -> HtmlElement | None:
    """The element named as the story's body (microdata or a publishing system's class) holding most text."""
    candidates: list[tuple[int, HtmlElement]] = []
    for element in document.xpath("//*[@itemprop='articleBody' or @class or @id or @name='articleBody']"):
        classes = set((element.get("class") or "").lower().split())
        named = (
            element.get("itemprop") == "articleBody"
            or element.get("name") == "articleBody"
            or bool(classes & BODY_CLASSES)
            or (element.get("id") or "").lower() in BODY_IDS
        )
        if named:
            candidates.append((paragraph_text(element), element))
    if not candidates:
        return None
    size, best = max(candidates, key=lambda item: item[0])
    if size < _MIN_CLASS_TEXT:
        return None
    body = document.find("body")
    page = paragraph_text(body if body is not None else document)
    return best if size >= _CLASS_SHARE * page else None


def paragraph_text(element: HtmlElement) -> int:
    """Characters of text in paragraphs that are not mostly links."""
    total = 0
    for paragraph in element.iter("p", "pre", "li", "blockquote"):
        text = " ".join(paragraph.text_content().split())
        if not text:
            continue
        linked = sum(len(" ".join(a.text_content().split())) for a in paragraph.iter("a"))
        if linked < _LINKED * len(text):
            total += len(text)
    if total == 0:  # no paragraph markup (text in <br> runs or spans): all text not in links
        whole = len(" ".join(element.text_content().split()))
        in_links = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
        total = max(0, whole - in_links)
    return total


def _common_ancestor(elements: Sequence[HtmlElement]) -> HtmlElement:
    first = elements[0]
    chain = [first, *first.iterancestors()]
    index = 0
    for element in elements[1:]:
        ancestors = {id(a) for a in (element, *element.iterancestors())}
        while id(chain[index]) not in ancestors:
            index += 1
    return chain[index]


def scored_root(document: HtmlElement, about: Sequence[str] = ()) -> HtmlElement | None:
    """The element whose text is most story-like: most paragraph text, least of anything else.

    Every displayed paragraph (:func:`feedsvc.blocks.linearise`, so ``<br><br>`` runs count as
    paragraphs, which readability does not see) is *good* when it is sentence-long and not mostly
    links, *other* otherwise (headlines, link lists, bylines, buttons). When ``about`` (the page's
    title and description) names the story, good paragraphs sharing none of its words count for
    nothing: prose in a sidebar ("About us", an editor's picks box) does not pull the choice up to
    the whole page. The root is the element maximising good − 2 × other characters, provided it
    holds most of the page's good text (else the page is too unlike a story page for this measure,
    and None is returned).
    """
    body = document.find("body")
    start = body if body is not None else document
    blocks = [block for block in linearise(start) if block.text]
    vocabulary = {word for text in about for word in _stems(text)}
    kinds: list[tuple[int, int]] = []  # (good chars, other chars) per block
    relevant = total_good = 0
    for block in blocks:
        length = len(block.text)
        shortest = _GOOD_ITEM if block.kind in ("li", "blockquote") else _GOOD_BLOCK
        if block.kind.startswith("h"):  # short, unlinked: a headline or subhead, at home in a story's container
            kinds.append((0, 0) if length <= _HEADING and not block.lines[0].link_chars else (0, length))
        elif length >= shortest and block.link_density < _GOOD_LINKS and not _is_teaser(block):
            related = not vocabulary or bool(vocabulary & _stems(block.text))
            relevant += length if related else 0
            total_good += length
            kinds.append((length if related else -1, 0))
        else:
            kinds.append((0, length))
    if not total_good:
        return None
    weigh_all = relevant < _RELEVANT_SHARE * total_good  # the title says too little: every paragraph counts
    scores: dict[int, float] = {}
    goods: dict[int, int] = {}
    elements: dict[int, HtmlElement] = {}
    for block, (good, other) in zip(blocks, kinds):
        value = float(len(block.text)) if good == -1 and weigh_all else float(max(good, 0)) - _OTHER_WEIGHT * other
        plain = len(block.text) if good != 0 else 0
        for element in block.path:
            key = id(element)
            elements[key] = element
            scores[key] = scores.get(key, 0.0) + value
            goods[key] = goods.get(key, 0) + plain
            if element is start:
                break
    best_key = max(elements, key=lambda k: scores[k])
    counted = relevant if not weigh_all else total_good
    if scores[best_key] <= 0 or goods[best_key] < _SCORED_SHARE * counted:
        return None
    return elements[best_key]


def _stems(text: str) -> set[str]:
    """Crude stems of the content words of ``text``: lower case, a plural or -ed/-ing ending off, five letters."""
    stems = set()
    for word in _WORDS.findall(text.lower()):
        if len(word) < 4 or word in _STOPWORDS:
            continue
        stems.add(_ENDING.sub("", word)[:5] if len(word) > 5 else word.removesuffix("s"))
    return stems


def _is_teaser(block: Block) -> bool:
    """A linked headline line with a text under it: another story's teaser."""
    first = block.lines[0]
    return len(block.lines) > 1 and bool(first.text) and first.link_chars >= _TEASER_LINK * len(first.text)
