"""Stories -> Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes.

Pure functions: no I/O, no clock. Every date in the output comes from the
stories (an empty feed is dated ``EMPTY_FEED_UPDATED``), so rendering the same
stories twice gives the same bytes and the same ETag, across restarts too.

feedgen pitfalls handled here:

- feedgen takes the *last* feed link as the RSS channel ``<link>``: the self
  link is added first, the alternate (HTML page) last.
- ``FeedEntry.description()`` overwrites the Atom content: the full text goes
  through ``content(type="html")`` (Atom ``content``, RSS ``content:encoded``)
  and the teaser through ``summary()`` (Atom ``summary``, RSS ``description``).
- ``add_entry()`` prepends by default: entries are appended to keep the order.
- RSS ``<author>`` needs an e-mail address: the author goes to ``dc:creator``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lxml.html
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.models import Story

#: Bump when the markup changes, so every ETag changes with it.
RENDER_VERSION = "1"
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
GENERATOR = "feedsvc"
SUMMARY_CHARS = 300

FORMATS = ("atom", "rss", "json")
CONTENT_TYPES: Mapping[str, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# Characters XML 1.0 forbids (tab, LF and CR are allowed), plus lone surrogates.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_BLOCKS = ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption")


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself.

    ``key`` is ``"all"``, a site id or ``"site/section"``; ``self_url_base`` is
    the feed URL without its extension (``{public_url}/feeds/{key}``);
    ``section_titles`` maps section keys to titles for category labels.
    """

    key: str
    title: str
    subtitle: str
    html_url: str
    self_url_base: str
    section_titles: Mapping[str, str] = field(default_factory=dict, hash=False)

    def self_url(self, fmt: str) -> str:
        return f"{self.self_url_base}.{fmt}"


def clean_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry."""
    return _XML_INVALID.sub("", value)


def render(fmt: str, info: FeedInfo, stories: Sequence[Story]) -> bytes:
    """Render ``stories`` in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "atom":
        return render_atom(info, stories)
    if fmt == "rss":
        return render_rss(info, stories)
    if fmt == "json":
        return render_json(info, stories)
    raise ValueError(f"unknown feed format {fmt!r}")


def render_atom(info: FeedInfo, stories: Sequence[Story]) -> bytes:
    data: bytes = _generator(info, stories).atom_str(pretty=False, encoding="UTF-8")
    return data


def render_rss(info: FeedInfo, stories: Sequence[Story]) -> bytes:
    data: bytes = _generator(info, stories).rss_str(pretty=False, encoding="UTF-8")
    return data


def render_json(info: FeedInfo, stories: Sequence[Story]) -> bytes:
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": clean_text(info.title),
        "home_page_url": info.html_url,
        "feed_url": info.self_url("json"),
        "description": clean_text(info.subtitle),
        "authors": [{"name": clean_text(info.title)}],
        "items": [_json_item(info, story) for story in stories],
    }
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def feed_etag(info: FeedInfo, stories: Sequence[Story]) -> str:
    """A weak ETag over the feed metadata and every rendered field of every entry.

    Weak because one feed is served in several content codings (gzip, br,
    identity) under the same tag.
    """
    digest = hashlib.blake2b(digest_size=16)

    def put(*parts: object) -> None:
        for part in parts:
            digest.update(str(part).encode("utf-8", "surrogatepass"))
            digest.update(b"\x1f")
        digest.update(b"\x1e")

    put(RENDER_VERSION, info.key, info.title, info.subtitle, info.html_url, info.self_url_base)
    put(*sorted(info.section_titles.items()))
    for s in stories:
        content = hashlib.blake2b(s.content_html.encode("utf-8", "surrogatepass"), digest_size=16)
        put(s.id, _utc(s.updated).isoformat(), content.hexdigest())
        put(s.url, s.title, s.summary, s.author, _utc(s.published).isoformat())
        put(s.site_id, s.place, s.agency, s.lead_image, *s.sections)
    return f'W/"{digest.hexdigest()}"'


def feed_updated(stories: Sequence[Story]) -> datetime:
    """The newest entry ``updated``, or ``EMPTY_FEED_UPDATED`` for an empty feed."""
    return max((_utc(s.updated) for s in stories), default=EMPTY_FEED_UPDATED)


def summary_text(story: Story) -> str:
    """The teaser, or the first ``SUMMARY_CHARS`` characters of the text."""
    summary = _SPACES.sub(" ", clean_text(story.summary)).strip()
    if summary:
        return summary
    text = _SPACES.sub(" ", _html_text(story.content_html)).strip()
    if len(text) <= SUMMARY_CHARS:
        return text
    cut = text[:SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "\u2026"


# ---------------------------------------------------------------- internals


def _generator(info: FeedInfo, stories: Sequence[Story]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(info.self_url("atom"))
    fg.title(clean_text(info.title))
    fg.subtitle(clean_text(info.subtitle or info.title))  # also the RSS description
    fg.author({"name": clean_text(info.title)})
    fg.generator(GENERATOR)
    # Self link first: feedgen makes the last link the RSS channel <link>.
    fg.link(href=info.self_url("atom"), rel="self", type="application/atom+xml")
    fg.link(href=info.html_url, rel="alternate", type="text/html")
    fg.updated(feed_updated(stories))
    for story in stories:
        _add_entry(fg, info, story)
    return fg


def _add_entry(fg: FeedGenerator, info: FeedInfo, story: Story) -> None:
    fe = fg.add_entry(order="append")
    fe.id(story.id)  # also the RSS guid, isPermaLink="false"
    fe.title(_plain_title(story.title) or story.url)
    fe.link(href=story.url, rel="alternate", type="text/html")
    fe.published(_utc(story.published))
    fe.updated(_utc(story.updated))
    if story.author:
        author = clean_text(story.author).strip()
        if author:
            fe.author({"name": author})
            fe.dc.dc_creator(author)
    summary = summary_text(story)
    if summary:
        fe.summary(summary)
    content = clean_text(story.content_html)
    if content.strip():
        fe.content(content, type="html")
    for key in story.sections:
        label = info.section_titles.get(key)
        if label:
            fe.category(term=clean_text(key), label=clean_text(label))
        else:
            fe.category(term=clean_text(key))


def _json_item(info: FeedInfo, story: Story) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": story.id,
        "url": story.url,
        "title": _plain_title(story.title) or story.url,
    }
    content = clean_text(story.content_html)
    summary = summary_text(story)
    if content.strip():
        item["content_html"] = content
    else:
        item["content_text"] = summary
    if summary:
        item["summary"] = summary
    if story.lead_image:
        item["image"] = clean_text(story.lead_image)
    item["date_published"] = _utc(story.published).isoformat()
    item["date_modified"] = _utc(story.updated).isoformat()
    if story.author and clean_text(story.author).strip():
        item["authors"] = [{"name": clean_text(story.author).strip()}]
    tags = [clean_text(info.section_titles.get(key) or key) for key in story.sections]
    if tags:
        item["tags"] = tags
    extension: dict[str, Any] = {"site": story.site_id, "sections": list(story.sections)}
    if story.place:
        extension["place"] = clean_text(story.place)
    if story.agency:
        extension["agency"] = clean_text(story.agency)
    item["_feedsvc"] = extension
    return item


def _plain_title(title: str) -> str:
    return _SPACES.sub(" ", clean_text(title)).strip()


def _html_text(html: str) -> str:
    html = clean_text(html)
    if not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for element in root.iter(*_BLOCKS):
        element.tail = " " + (element.tail or "")  # keep words of two paragraphs apart
    text: str = root.text_content()
    return text


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
