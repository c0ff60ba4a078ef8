"""Datelines and bylines: the wire-copy lines under a news headline.

A dateline names the place, the agency and the day of a story::

    Vladivostok, Russia (AFP) April 25, 2019     -> place, agency, day
    Washington DC (SPX) Apr 25, 2019             -> abbreviated month
    April 25, 2019                               -> day only

A companion story (or a story printed without a separate dateline line) opens
its first paragraph with one, followed by a dash::

    Washington (AFP) April 24, 2019 - US Secretary of State ...

Rule files may give their own regular expressions (``dateline_pattern``,
``companion_pattern``) with the named groups ``place``, ``agency`` and
``date``; they are tried before the built-in patterns below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from feedsvc.models import Dateline

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
#: "April 25, 2019", "Apr. 25 2019", "25 April 2019"
DATE = rf"(?:{MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{MONTH},?\s+\d{{4}})"
_AGENCY = r"\(\s*(?P<agency>[^()\n]{1,40}?)\s*\)"
#: A place: capitalised words, commas and the usual lower-case particles ("Rio de Janeiro").
_WORD = r"(?:[A-ZÀ-Þ][\w.'’\-]*|de|da|do|dos|das|del|della|di|du|des|la|le|les|al|el|von|van|der|upon|on|of)"
_PLACE = rf"(?P<place>(?!By[:\s]|BY[:\s])[A-ZÀ-Þ][\w.'’\-]*(?:(?:,\s*|\s+){_WORD}){{0,7}})"
_DASH = r"(?:-{1,2}|–|—)"

_LINE = re.compile(rf"\s*(?:(?:{_PLACE}\s*)?{_AGENCY}\s*)?(?P<date>{DATE})\s*")
_OPENING = re.compile(rf"\s*{_PLACE}\s*{_AGENCY}\s*(?P<date>{DATE})\s*{_DASH}\s+(?=\S)", re.DOTALL)
_IN_TEXT = re.compile(rf"(?<![\w(]){_PLACE}\s*{_AGENCY}\s*(?P<date>{DATE})")
_DATE_FIRST = re.compile(rf"[\s|·•:,]*(?P<date>{DATE})")
_MAX_DATELINE = 160
_AFTER = re.compile(rf"^\s*(?:{_DASH}\s*)?")
_DAY_PARTS = re.compile(
    rf"(?P<month>{MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})\s+(?P<month2>{MONTH}),?\s+(?P<year2>\d{{4}})"
)
_BYLINE = re.compile(r"\s*by[:\s]\s*(?P<author>[^\n]{2,80}?)\s*", re.IGNORECASE)
_NOT_A_NAME = re.compile(r"\d|[.!?]$|\b(the|a|an|this|that|its|their)\s", re.IGNORECASE)
_MAX_AUTHOR_WORDS = 8
_STAFF_WORDS = {"writers", "writer", "reporters", "reporter", "correspondent", "correspondents"}


def parse_day(text: str) -> date | None:
    """The first "Month D, YYYY" (or "D Month YYYY") day in ``text``."""
    match = _DAY_PARTS.search(text)
    if match is None:
        return None
    month = (match.group("month") or match.group("month2"))[:3].lower()
    day = int(match.group("day") or match.group("day2"))
    year = int(match.group("year") or match.group("year2"))
    try:
        return date(year, _MONTHS[month], day)
    except ValueError:
        return None


def parse_dateline(line: str, patterns: Sequence[str] = ()) -> Dateline | None:
    """``line`` read as a dateline, when the whole line is one; otherwise None."""
    if len(line) > _MAX_DATELINE:
        return None
    text = _squash(line)
    for pattern in patterns:
        match = _compiled(pattern).fullmatch(text)
        if match is not None and (dateline := _from_match(match)) is not None:
            return dateline
    match = _LINE.fullmatch(text)
    return _from_match(match) if match is not None else None


def split_opening_dateline(text: str, patterns: Sequence[str] = ()) -> tuple[Dateline, str] | None:
    """``(dateline, rest)`` when ``text`` opens with ``Place (Agency) Date - ``; otherwise None.

    Rule patterns, like the built-in one, must include the dash after the date.
    """
    head = text[: _MAX_DATELINE + 8]
    if " -" not in head and "–" not in head and "—" not in head:
        return None  # cheap test first: most paragraphs have no spaced dash near their start
    for pattern in patterns:
        match = _compiled(pattern).match(text)
        if match is not None and (dateline := _from_match(match)) is not None:
            rest = _AFTER.sub("", text[match.end():], count=1)
            if rest:
                return dateline, rest
    match = _OPENING.match(text)
    if match is None or (dateline := _from_match(match)) is None:
        return None
    return dateline, text[match.end():]


def find_dateline(text: str, patterns: Sequence[str] = ()) -> tuple[Dateline, str] | None:
    """The first dateline in running ``text`` and the text after it (a leading dash dropped).

    A ``Place (Agency) Date`` dateline may stand anywhere; a bare date only at
    the start, so a date mentioned in a teaser is not taken for a dateline.
    """
    for pattern in patterns:
        match = _compiled(pattern).search(text)
        if match is not None and (dateline := _from_match(match)) is not None:
            return dateline, _rest(text, match.end())
    for regex in (_IN_TEXT, _DATE_FIRST):
        found = regex.search(text) if regex is _IN_TEXT else regex.match(text)
        if found is not None and (dateline := _from_match(found)) is not None:
            return dateline, _rest(text, found.end())
    return None


def parse_byline(line: str) -> str | None:
    """The author of a ``By Maria PANINA`` line (``by Staff Writers`` gives "Staff Writers")."""
    match = _BYLINE.fullmatch(_squash(line))
    if match is None:
        return None
    author = match.group("author").strip(" ,;")
    if not author or _NOT_A_NAME.search(author) or len(author.split()) > _MAX_AUTHOR_WORDS:
        return None
    return author


def split_byline_dateline(line: str, patterns: Sequence[str] = ()) -> tuple[str, Dateline] | None:
    """``by Staff Writers Washington DC (SPX) Apr 25, 2019`` on one line: (author, dateline).

    Where the name ends and the place begins is a guess: a name ending in a
    staff word (``Staff Writers``) wins, then a two-word name.
    """
    words = _squash(line).split(" ")
    if len(words) < 4 or words[0].lower() not in ("by", "by:"):
        return None
    found: list[tuple[str, Dateline]] = []
    for cut in range(2, min(len(words) - 1, _MAX_AUTHOR_WORDS + 2)):
        author = parse_byline(" ".join(words[:cut]))
        dateline = parse_dateline(" ".join(words[cut:]), patterns)
        if author is not None and dateline is not None and dateline.place is not None:
            found.append((author, dateline))
    for author, dateline in found:
        if author.split()[-1].lower() in _STAFF_WORDS:
            return author, dateline
    for author, dateline in found:
        if len(author.split()) == 2:
            return author, dateline
    return None


# ------------------------------------------------------------------ internals


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _from_match(match: re.Match[str]) -> Dateline | None:
    groups = match.groupdict()
    day = parse_day(groups["date"]) if groups.get("date") else None
    place = _clean_part(groups.get("place"))
    agency = _clean_part(groups.get("agency"))
    if day is None and place is None and agency is None:
        return None
    return Dateline(place=place, agency=agency, day=day)


def _clean_part(value: str | None) -> str | None:
    if value is None:
        return None
    value = _squash(value).strip(" ,")
    return value or None


def _rest(text: str, end: int) -> str:
    return _AFTER.sub("", text[end:], count=1).strip()


def _squash(text: str) -> str:
    return " ".join(text.split())
