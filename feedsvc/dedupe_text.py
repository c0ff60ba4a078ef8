"""The words of a story as dedupe sees them: paragraphs, normalised tokens, cosmetic blocks.

Two copies of one wire story differ in ways that say nothing about the story:
typography (curly or straight quotes, dashes), how the text is split into
paragraphs, subheads, a dateline printed before the first paragraph, an
"Advertisement" label or a view counter left in the body. Everything here maps
those differences away, so that what remains is the wording of the story.

Pure functions, no I/O (part of the dedupe stage).
"""

from __future__ import annotations

import re
import unicodedata

import lxml.html
from lxml import etree

#: Elements that end a paragraph of text.
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
     "figcaption", "figure", "table", "tr", "td", "th", "pre", "dd", "dt", "section", "article"}
)
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2026": "...",
    }
)
#: A dateline opening a paragraph: ``Washington (AFP) April 24, 2019 - ``.
_DATELINE = re.compile(
    r"^[^\W\d][^()\n]{0,80}?\((?:[A-Za-z][A-Za-z .&/-]{0,30})\)\s+"
    r"(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+[A-Z][a-z]{2,8}\.?\s+\d{4})\s*(?:-+|:)\s*"
)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*$")
#: Whole paragraphs that are page furniture, not story (compared after normalisation).
AD_LABELS = frozenset(
    {"advertisement", "advertisements", "advert", "ad", "ads", "sponsored", "sponsored content",
     "story continues below", "story continues below advertisement", "continue reading below",
     "continue reading", "scroll to continue with content", "article continues below"}
)
COUNTER_WORDS = 6  # a counter line ("Viewed 1,234 times", "12 comments") has at most this many words
SUBHEAD_WORDS = 4  # shorter paragraphs (subheads, labels) are left out of the wording


def paragraphs(html: str) -> list[str]:
    """The text of ``html`` as paragraphs, typography normalised, whitespace collapsed."""
    html = _XML_INCOMPATIBLE.sub(" ", html)
    if not html.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return [normalise(html)] if normalise(html) else []
    for junk in root.iter("script", "style", "noscript"):
        junk.text = ""
    chunks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = normalise(" ".join(current))
        if text:
            chunks.append(text)
        current.clear()

    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _BLOCKS:
                flush()
            if element.text and tag not in ("script", "style", "noscript"):
                current.append(element.text)
        else:
            if tag in _BLOCKS:
                flush()
            if element.tail and element is not root:
                current.append(element.tail)
    flush()
    return chunks


def normalise(text: str) -> str:
    """NFKC, straight quotes, plain dashes, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).split())


def strip_dateline(paragraph: str) -> str:
    """``paragraph`` without a leading ``Place (Agency) Month D, YYYY -``."""
    return _DATELINE.sub("", paragraph, count=1)


def words(text: str) -> list[str]:
    """Case-folded word tokens (``Russia's`` stays one token)."""
    return _WORD.findall(text.casefold())


def story_words(html: str) -> list[str]:
    """The wording of a story: its tokens in order, without dateline, subheads and furniture."""
    found: list[str] = []
    for index, paragraph in enumerate(paragraphs(html)):
        if index == 0:
            paragraph = strip_dateline(paragraph)
        if is_cosmetic(paragraph):
            continue
        tokens = words(paragraph)
        if len(tokens) > SUBHEAD_WORDS:
            found.extend(tokens)
    return found


def is_cosmetic(paragraph: str) -> bool:
    """True for an ad label or a counter line: a change to one is no correction."""
    plain = " ".join(words(paragraph))
    if plain in AD_LABELS:
        return True
    tokens = plain.split()
    return (
        0 < len(tokens) <= COUNTER_WORDS
        and any(ch.isdigit() for ch in plain)
        and not _SENTENCE_END.search(paragraph.strip())
    )


def significant_text(title: str, html: str) -> str:
    """What a correction must change: the title's words and the non-cosmetic paragraphs.

    Typography, whitespace and paragraph breaks are normalised away; letters, digits and
    punctuation inside the story count.
    """
    kept = [paragraph for paragraph in paragraphs(html) if not is_cosmetic(paragraph)]
    return " ".join(words(title)) + "\n" + " ".join(kept)
