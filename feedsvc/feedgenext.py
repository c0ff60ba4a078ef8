"""What feedgen 1.0 cannot write, as feedgen extensions, and image media types.

- ``DocumentLinks`` (feed level): the ``atom:link`` elements besides self that
  feedgen leaves out of RSS (hub, RFC 5005 current and prev-archive), the
  ``fh:archive`` marker of archive pages, and the namespaces they need.
- ``EntryImage`` (entry level): the lead image (Atom ``link rel="enclosure"``
  with its type; RSS ``media:content``) and the RSS ``dcterms:modified``.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005 fh:archive
DCTERMS_NS = "http://purl.org/dc/terms/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
#: Image types by file extension (``mimetypes`` does not know every one on every system).
IMAGE_TYPES: Mapping[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


def image_type(url: str) -> str | None:
    """The media type of an http(s) image URL by its file extension; None when unknown."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path.lower()
    dot = path.rfind(".")
    if dot < path.rfind("/"):
        return None
    suffix = path[dot:] if dot >= 0 else ""
    known = IMAGE_TYPES.get(suffix)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path)
    return guessed if guessed and guessed.startswith("image/") else None


class DocumentLinks(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """Feed links feedgen leaves out of RSS, and RFC 5005's ``fh:archive`` marker."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []  # atom:link attributes, RSS only
        self.archive = False
        self.rss = False

    def extend_ns(self) -> dict[str, str]:
        namespaces = {"dcterms": DCTERMS_NS, "media": MEDIA_NS} if self.rss else {}
        if self.archive:
            namespaces["fh"] = HISTORY_NS
        return namespaces

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if channel is None:
            return feed
        anchor = channel.find(f"{{{ATOM_NS}}}link")  # the self link
        position = list(channel).index(anchor) + 1 if anchor is not None else len(channel)
        extra = [etree.Element(f"{{{ATOM_NS}}}link", attrib=link) for link in self.links]
        if self.archive:
            extra.append(etree.Element(f"{{{HISTORY_NS}}}archive"))
        for offset, element in enumerate(extra):
            channel.insert(position + offset, element)
        return feed


class EntryImage(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    """The lead image as an enclosure.

    Written here, not with ``FeedEntry.link(rel="enclosure")``: feedgen 1.0 drops the
    ``rel`` and ``type`` of Atom entry links, which would turn the image into a second
    alternate link.
    """

    def __init__(self) -> None:
        self.image: tuple[str, str] | None = None  # (URL, media type)
        self.modified: datetime | None = None  # RSS has no "updated": dcterms:modified

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.image is not None:
            url, mime = self.image
            etree.SubElement(entry, "link", rel="enclosure", type=mime, href=url)
        return entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        if self.image is not None:
            url, mime = self.image
            etree.SubElement(item, f"{{{MEDIA_NS}}}content", url=url, type=mime, medium="image")
        if self.modified is not None:
            etree.SubElement(item, f"{{{DCTERMS_NS}}}modified").text = self.modified.isoformat()
        return item
