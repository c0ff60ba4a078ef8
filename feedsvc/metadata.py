"""What a page says about itself: JSON-LD, OpenGraph and meta tags, ``<time>``, ``<html lang>``.

Read from the freshly parsed page, before scripts are removed (JSON-LD lives
in ``<script>``). These values fill the fields site rules and datelines leave
empty. Dates become aware datetimes (UTC when the page names no zone); a
value that is only a day becomes a :class:`datetime.date`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from lxml.html import HtmlElement

from feedsvc.datelines import parse_day
from feedsvc.htmldoc import squash

log = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "blogposting",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "scholarlyarticle",
    "techarticle", "report", "liveblogposting", "socialmediaposting",
})
_TITLE_META = ("og:title", "twitter:title", "dc.title")
_AUTHOR_META = ("author", "article:author", "dc.creator", "byl", "parsely-author", "sailthru.author")
_DATE_META = (
    "article:published_time", "og:published_time", "datepublished", "date", "pubdate", "publishdate",
    "dc.date.issued", "dc.date", "dcterms.created", "parsely-pub-date", "sailthru.date", "publish-date",
)
_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
_SITE_NAME_MAX = 30
_DESCRIPTION_META = ("description", "og:description", "twitter:description")
_BY = re.compile(r"^by[:\s]\s*", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&|\bund\b|\bet\b|\by\b)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class PageMeta:
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    published_day: date | None = None
    image: str | None = None
    description: str | None = None
    body_text: str | None = None  # JSON-LD articleBody, line breaks kept
    language: str | None = None
    base_href: str | None = None
    page_title: str | None = None  # <title>, without a trailing " | Site Name"


def read_metadata(root: HtmlElement, *, skip_json_ld: bool = False) -> PageMeta:
    """Everything the page's markup states about the article (one pass over the tree)."""
    found: dict[str, list[HtmlElement]] = {}
    for element in root.iter("meta", "base", "title", "script", "time"):
        found.setdefault(element.tag, []).append(element)
    scripts = [s for s in found.get("script", []) if (s.get("type") or "").strip().lower() == "application/ld+json"]
    ld = {} if skip_json_ld else _json_ld_article(scripts)
    meta = _meta_values(found.get("meta", []))
    stamp = _first_date(
        [ld.get("datePublished"), ld.get("dateCreated")]
        + [meta.get(name) for name in _DATE_META]
        + [t.get("datetime") for t in found.get("time", []) if t.get("datetime")][:1]
    )
    titles = found.get("title", [])
    bases = found.get("base", [])
    return PageMeta(
        title=_text(ld.get("headline")) or _first(meta, _TITLE_META),
        author=_author(ld.get("author")) or _plain_author(_first(meta, _AUTHOR_META)),
        published=stamp if isinstance(stamp, datetime) else None,
        published_day=stamp if isinstance(stamp, date) and not isinstance(stamp, datetime) else None,
        image=_image(ld.get("image")) or _first(meta, _IMAGE_META),
        description=_first(meta, _DESCRIPTION_META) or _text(ld.get("description")),
        body_text=ld["articleBody"].strip() or None if isinstance(ld.get("articleBody"), str) else None,
        language=_language(root, ld, meta),
        base_href=(bases[0].get("href") or "").strip() or None if bases else None,
        page_title=page_title(titles[0].text_content()) if titles else None,
    )


def page_title(text: str) -> str | None:
    """A ``<title>`` text without a short site name after its last `` | `` / `` - ``."""
    title = squash(text)
    for separator in (" | ", " - ", " – ", " — ", " :: "):
        head, found, tail = title.rpartition(separator)
        if found and len(tail) <= _SITE_NAME_MAX and len(tail.split()) <= 4 and len(head) > len(tail):
            return head.strip() or None
    return title or None


def normalise_authors(values: Sequence[str]) -> str | None:
    """One author string from every source alike: names in order, each once, joined by ", ".

    A leading ``By`` goes; ``A and B``, ``A & B``, ``A, B`` and ``A; B`` are several names; a
    collective byline stays as printed (``Staff Writers``, ``AFP``); web addresses are not names.
    """
    names: dict[str, str] = {}
    for value in values:
        text = _BY.sub("", squash(value))
        if not text or text.startswith(("http://", "https://")):
            continue
        for name in _AUTHOR_SPLIT.split(text):
            name = name.strip(" ,;|·-–—")
            if name and not name.startswith(("http://", "https://")):
                names.setdefault(name.casefold(), name)
    return ", ".join(names.values()) or None


def parse_date_value(value: str) -> datetime | date | None:
    """An ISO 8601, RFC 2822 or ``April 25, 2019`` value; datetimes in UTC."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return parse_day(value)
    if len(value) <= 10 and parsed.hour == parsed.minute == parsed.second == 0 and "T" not in value:
        return parsed.date()
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


# ------------------------------------------------------------------ JSON-LD


def _json_ld_article(scripts: list[HtmlElement]) -> dict[str, Any]:
    for script in scripts:
        raw = (script.text or "").strip().removeprefix("<!--").removesuffix("-->").strip()
        try:
            data = json.loads(raw)
        except ValueError:
            log.debug("unreadable JSON-LD block skipped")
            continue
        for node in _ld_nodes(data):
            types = node.get("@type")
            names = types if isinstance(types, list) else [types]
            if any(isinstance(t, str) and t.lower() in ARTICLE_TYPES for t in names):
                return node
    return {}


def _ld_nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _ld_nodes(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _ld_nodes(data["@graph"])
        if isinstance(data.get("mainEntity"), dict):
            yield data["mainEntity"]


def _author(value: Any) -> str | None:
    if isinstance(value, list):
        return normalise_authors([name for name in (_author(item) for item in value) if name])
    if isinstance(value, dict):
        return _plain_author(_text(value.get("name")))
    return _plain_author(_text(value))


def _plain_author(value: str | None) -> str | None:
    return normalise_authors([value]) if value else None


def _image(value: Any) -> str | None:
    if isinstance(value, list):
        return next((url for url in (_image(item) for item in value) if url), None)
    if isinstance(value, dict):
        return _text(value.get("url") or value.get("contentUrl"))
    return _text(value)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return squash(value) or None
    return None


# ------------------------------------------------------------------ meta tags


def _meta_values(metas: list[HtmlElement]) -> dict[str, str]:
    values: dict[str, str] = {}
    for meta in metas:
        name = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = squash(meta.get("content") or "")
        if name and content and name not in values:
            values[name] = content
        equiv = (meta.get("http-equiv") or "").strip().lower()
        if equiv == "content-language" and content:
            values.setdefault("content-language", content)
    return values


def _first(values: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((values[name] for name in names if values.get(name)), None)


def _first_date(candidates: list[Any]) -> datetime | date | None:
    for candidate in candidates:
        if isinstance(candidate, str) and (parsed := parse_date_value(candidate)) is not None:
            return parsed
    return None


def _language(root: HtmlElement, ld: dict[str, Any], meta: dict[str, str]) -> str | None:
    value = ld.get("inLanguage")
    if isinstance(value, dict):
        value = value.get("name") or value.get("alternateName")
    candidates = [value, root.get("lang"), root.get("xml:lang"), meta.get("content-language"), meta.get("og:locale")]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().replace("_", "-").split(",")[0].strip()
    return None
