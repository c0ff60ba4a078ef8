"""Stories -> Atom 1.0, RSS 2.0 and JSON Feed 1.1 bytes.

Pure functions: no I/O, no clock. Every date in the output comes from the
stories (an empty feed is dated ``EMPTY_FEED_UPDATED``), so rendering the same
stories twice gives the same bytes and the same ETag, across restarts too.

What every document carries (W3C Feed Validation Service rules, RFC 4287,
RSS 2.0, JSON Feed 1.1, RFC 5005, WebSub):

- a self link to the document's own URL in its own format (``atom:link
  rel="self"`` in RSS too), the WebSub hub when one is configured, and the
  RFC 5005 links: ``prev-archive`` from the current feed to the newest archive
  page; ``current``, ``prev-archive`` and ``fh:archive`` in archive pages (JSON
  Feed: ``next_url`` to the next older page). No ``next-archive``: the newest
  page's would change when the next page closes, and pages never change;
- per entry: the story id (RSS ``guid isPermaLink="false"``), link, plain-text
  title, author (the byline, else the agency, else the site; RSS
  ``dc:creator``: RSS ``<author>`` must be an e-mail address), published and
  updated from the store (RSS: ``pubDate`` and ``dcterms:modified``; not
  ``dc:date``, which validators flag beside ``pubDate``), teaser and full
  text, and the lead image with its type (from the file extension): Atom
  ``link rel="enclosure"``, JSON Feed ``image``, RSS ``media:content``
  (Media RSS). Not an RSS ``<enclosure>``: it requires a positive ``length``
  (the W3C validator rejects ``length="0"``) and image sizes are not known.

feedgen pitfalls handled here:

- feedgen takes the *last* feed link as the RSS channel ``<link>``: the self
  link is added first, the alternate (HTML page) last.
- feedgen writes only the self ``atom:link`` into RSS: the other feed links go
  in through ``DocumentLinks`` (a feedgen extension, feedgenext.py).
- ``FeedEntry.description()`` overwrites the Atom content: the full text goes
  through ``content(type="html")`` (Atom ``content``, RSS ``content:encoded``)
  and the teaser through ``summary()`` (Atom ``summary``, RSS ``description``).
- ``add_entry()`` prepends by default: entries are appended to keep the order.
- feedgen drops the ``rel`` and ``type`` of Atom *entry* links, which would make
  an image a second alternate link: the image goes in through ``EntryImage``.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from feedsvc.feedgenext import DocumentLinks, EntryImage, image_type
from feedsvc.models import Story

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

#: Bump when the markup changes, so every ETag changes with it.
RENDER_VERSION = "2"
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
GENERATOR = "feedsvc"
SUMMARY_CHARS = 300

FORMATS = ("atom", "rss", "json")
MEDIA_TYPES: Mapping[str, str] = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}
CONTENT_TYPES: Mapping[str, str] = {fmt: f"{mime}; charset=utf-8" for fmt, mime in MEDIA_TYPES.items()}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# Characters XML 1.0 forbids (tab, LF and CR are allowed), plus lone surrogates.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_BLOCKS = ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption")


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself.

    ``key`` is ``"all"``, a site id or ``"site/section"``; ``self_url_base`` is
    the feed URL without its extension (``{public_url}/feeds/{key}``);
    ``section_titles`` maps section keys to titles for category labels,
    ``site_titles`` site ids to names (the credit of a story without byline or
    agency); ``hub_url`` is the WebSub hub the feed advertises, if any.
    """

    key: str
    title: str
    subtitle: str
    html_url: str
    self_url_base: str
    section_titles: Mapping[str, str] = field(default_factory=dict, hash=False)
    hub_url: str | None = None
    site_titles: Mapping[str, str] = field(default_factory=dict, hash=False)

    def self_url(self, fmt: str) -> str:
        return f"{self.self_url_base}.{fmt}"

    def archive_url(self, page: int, fmt: str) -> str:
        return f"{self.self_url_base}/archive/{page}.{fmt}"


@dataclass(frozen=True)
class FeedPage:
    """Where a document sits in its feed's RFC 5005 archive.

    ``archive`` is None for the current (subscription) document, else the
    archive page number (1 = oldest). ``prev_archive`` is the next older page.
    """

    archive: int | None = None
    prev_archive: int | None = None

    def url(self, info: FeedInfo, fmt: str) -> str:
        """The document's own URL (its self link)."""
        return info.self_url(fmt) if self.archive is None else info.archive_url(self.archive, fmt)


CURRENT = FeedPage()


def clean_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry."""
    return _XML_INVALID.sub("", value)


def render(fmt: str, info: FeedInfo, stories: Sequence[Story], page: FeedPage = CURRENT) -> bytes:
    """Render ``stories`` in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "atom":
        return render_atom(info, stories, page)
    if fmt == "rss":
        return render_rss(info, stories, page)
    if fmt == "json":
        return render_json(info, stories, page)
    raise ValueError(f"unknown feed format {fmt!r}")


def render_atom(info: FeedInfo, stories: Sequence[Story], page: FeedPage = CURRENT) -> bytes:
    data: bytes = _generator("atom", info, stories, page).atom_str(pretty=False, encoding="UTF-8")
    return data


def render_rss(info: FeedInfo, stories: Sequence[Story], page: FeedPage = CURRENT) -> bytes:
    data: bytes = _generator("rss", info, stories, page).rss_str(pretty=False, encoding="UTF-8")
    return data


def render_json(info: FeedInfo, stories: Sequence[Story], page: FeedPage = CURRENT) -> bytes:
    publisher = {"name": clean_text(info.title)}
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": clean_text(info.title),
        "home_page_url": info.html_url,
        "feed_url": info.self_url("json"),  # the feed's identity, archive pages included
        "description": clean_text(info.subtitle or info.title),
        "authors": [publisher],
        "author": publisher,  # JSON Feed 1.0 readers
    }
    if page.prev_archive is not None:
        feed["next_url"] = info.archive_url(page.prev_archive, "json")  # older items
    if info.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": info.hub_url}]
    feed["items"] = [_json_item(info, story) for story in stories]
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def feed_etag(info: FeedInfo, stories: Sequence[Story], page: FeedPage = CURRENT) -> str:
    """A weak ETag over the feed metadata, its links and every rendered field of every entry.

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
    put(info.hub_url, page.archive, page.prev_archive)
    put(*sorted(info.section_titles.items()))
    put(*sorted(info.site_titles.items()))
    for s in stories:
        content = hashlib.blake2b(s.content_html.encode("utf-8", "surrogatepass"), digest_size=16)
        put(s.id, _utc(s.updated).isoformat(), content.hexdigest())
        put(s.url, s.title, s.summary, s.author, _utc(s.published).isoformat())
        put(s.site_id, s.place, s.agency, s.lead_image, *s.sections)
        put(*s.alternates)
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


def story_author(info: FeedInfo, story: Story) -> str:
    """Who the entry credits: the byline, else the agency (a wire story), else the site."""
    for name in (story.author, story.agency, info.site_titles.get(story.site_id), info.title):
        text = _SPACES.sub(" ", clean_text(name or "")).strip()
        if text:
            return text
    return GENERATOR


def plain_title(story: Story) -> str:
    """The title as plain text on one line (no control characters, no markup), else the URL."""
    title = _SPACES.sub(" ", _TAG.sub(" ", clean_text(story.title))).strip()
    return title or story.url


# ---------------------------------------------------------------- internals


def _feed_links(fmt: str, info: FeedInfo, page: FeedPage) -> list[dict[str, str]]:
    """Self first, then hub and RFC 5005 links (the HTML alternate goes last, separately)."""
    mime = MEDIA_TYPES[fmt]
    links = [{"href": page.url(info, fmt), "rel": "self", "type": mime}]
    if info.hub_url:
        links.append({"href": info.hub_url, "rel": "hub"})
    if page.archive is not None:
        links.append({"href": info.self_url(fmt), "rel": "current", "type": mime})
    if page.prev_archive is not None:
        links.append({"href": info.archive_url(page.prev_archive, fmt), "rel": "prev-archive", "type": mime})
    return links


def _generator(fmt: str, info: FeedInfo, stories: Sequence[Story], page: FeedPage) -> FeedGenerator:
    from feedgen.feed import FeedGenerator  # here: feeds are rendered in CPU workers only

    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("feedsvc_links", DocumentLinks, EntryImage, atom=True, rss=True)
    fg.id(info.self_url("atom"))  # one id for the feed and all its archive pages
    fg.title(clean_text(info.title))
    fg.subtitle(clean_text(info.subtitle or info.title))  # also the RSS description
    fg.author({"name": clean_text(info.title)})
    fg.generator(GENERATOR)
    links = _feed_links(fmt, info, page)
    extension: DocumentLinks = fg.feedsvc_links
    extension.archive = page.archive is not None
    extension.rss = fmt == "rss"
    if fmt == "atom":
        for link in links:
            fg.link(**link)
    else:
        fg.link(**links[0])  # feedgen writes the self atom:link itself
        extension.links = links[1:]
    # Last: feedgen makes the last link the RSS channel <link>.
    fg.link(href=info.html_url, rel="alternate", type="text/html")
    fg.updated(feed_updated(stories))  # also the RSS lastBuildDate (feedgen's default is now)
    for story in stories:
        _add_entry(fg, info, story)
    return fg


def _add_entry(fg: FeedGenerator, info: FeedInfo, story: Story) -> None:
    fe = fg.add_entry(order="append")
    fe.id(story.id)  # also the RSS guid, isPermaLink="false"
    fe.title(plain_title(story))
    fe.link(href=story.url, rel="alternate", type="text/html")
    if story.lead_image and (mime := image_type(story.lead_image)):
        fe.feedsvc_links.image = (clean_text(story.lead_image), mime)
    fe.published(_utc(story.published))
    fe.updated(_utc(story.updated))
    author = story_author(info, story)
    fe.author({"name": author})
    fe.dc.dc_creator(author)
    fe.feedsvc_links.modified = _utc(story.updated)
    summary = summary_text(story)
    if summary:
        fe.summary(summary)
    content = entry_content(story)
    if content.strip():
        fe.content(content, type="html")
    for key in story.sections:
        label = info.section_titles.get(key)
        if label:
            fe.category(term=clean_text(key), label=clean_text(label))
        else:
            fe.category(term=clean_text(key))


def entry_content(story: Story) -> str:
    """The entry's HTML: the story, then the other pages that published it (its copies)."""
    content = clean_text(story.content_html)
    if story.alternates and content.strip():
        links = ", ".join(
            f'<a href="{html.escape(url)}">{html.escape(urlsplit(url).netloc or url)}</a>' for url in story.alternates
        )
        content += f'\n<p class="also-published">Also published at {links}.</p>'
    return content


def _json_item(info: FeedInfo, story: Story) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": story.id,
        "url": story.url,
        "title": plain_title(story),
    }
    content = entry_content(story)
    summary = summary_text(story)
    if content.strip():
        item["content_html"] = content
    else:
        item["content_text"] = summary
    if summary:
        item["summary"] = summary
    if story.lead_image and image_type(story.lead_image):
        item["image"] = clean_text(story.lead_image)
    item["date_published"] = _utc(story.published).isoformat()
    item["date_modified"] = _utc(story.updated).isoformat()
    author = {"name": story_author(info, story)}
    item["authors"] = [author]
    item["author"] = author  # JSON Feed 1.0 readers
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
    """A stored time as written in feeds: UTC (a naive one is taken as UTC), whole seconds
    (RSS dates have no fractions: all three formats say the same instant)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC, microsecond=0)
    return moment.astimezone(UTC).replace(microsecond=0)
