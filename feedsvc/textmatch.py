"""Comparing page text loosely: case, spacing, curly quotes and dashes do not matter.

Also the two small text products of extraction: a URL slug for a companion
story's key and a summary cut at a word boundary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

_FOLD = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "″": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "\xa0": " ",
})
#: Characters that stand for several typographic variants when matching phrases.
_LOOSE = {"'": "['‘’‚′`´]", '"': '["“”„″]', "-": "[-–—‐‑]"}
_SLUG_DROP = re.compile(r"[^a-z0-9]+")
SUMMARY_CHARS = 300
_MIN_PARTIAL_TITLE = 15  # a shorter block is not taken for a truncated headline


@lru_cache(maxsize=4096)  # the same lines are compared with several hints and patterns per page
def fold(text: str) -> str:
    """``text`` for loose comparison: typographic marks plain, case folded, spacing single."""
    return " ".join(text.translate(_FOLD).casefold().split())


def starts_with_any(text: str, phrases: Sequence[str]) -> bool:
    """True when ``text`` starts (loosely, as :func:`fold` compares) with one of ``phrases``."""
    if not phrases:
        return False
    pattern = _phrase_pattern(tuple(phrases))
    return pattern is not None and pattern.match(text) is not None


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression matching a text that starts with any of ``phrases``, loosely."""
    alternatives = []
    for phrase in phrases:
        words = fold(phrase).split(" ")
        if words != [""]:
            loose = ("".join(_LOOSE.get(char, re.escape(char)) for char in word) for word in words)
            alternatives.append(r"\s+".join(loose))
    if not alternatives:
        return None
    return re.compile(r"[\s.;:|\-–—]*(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def same_title(text: str, title: str) -> bool:
    """True when a block's ``text`` is the headline ``title``, or one is the other with a short
    addition (a site name after it, a section label before it)."""
    return same_folded_title(fold(text), fold(title))


def same_folded_title(a: str, b: str) -> bool:
    """:func:`same_title` of two already folded texts."""
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) < _MIN_PARTIAL_TITLE or len(shorter) < 0.6 * len(longer):
        return False
    return longer.startswith(shorter) or longer.endswith(shorter)


def slugify(text: str, limit: int = 80) -> str:
    """``Pompeo expects N.Korea diplomacy`` -> ``pompeo-expects-n-korea-diplomacy``."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_DROP.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug or "story"


def summary_of(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The start of ``text`` (one paragraph), at most about ``limit`` characters, cut between words."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:-") + " …"
