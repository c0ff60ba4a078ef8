"""The pure rules of a stored story: its id, its content hash, its published time.

No database here: these decide *what* is stored; sql.py decides *how*.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, time

import lxml.html

from feedsvc.errors import StoreError
from feedsvc.models import Article
from feedsvc.store.schema import as_utc

# uuid5 namespace of story ids: never change it, or every story id changes.
STORY_NAMESPACE = uuid.UUID("1a208de9-0770-4a84-aade-4e44b3bccaf1")
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def story_id_for(key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, key)}"


def content_hash(title: str, body_html: str) -> str:
    """sha256 of the title and the body's text, whitespace-normalised."""
    # Text nodes are joined with spaces, so a line break between two paragraphs
    # counts as no change at all (text_content() would glue them together).
    text = ""
    body = _XML_INCOMPATIBLE.sub(" ", body_html)
    if body.strip():
        root = lxml.html.fragment_fromstring(body, create_parent="div")
        text = " ".join(root.itertext())
    normalised = " ".join(title.split()) + "\n" + " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()


def first_published(article: Article, first_seen: datetime) -> datetime:
    """When a new story counts as published (see Store.save_article)."""
    if article.published is not None:
        return as_utc(article.published)
    if article.published_day is not None:
        if first_seen.date() == article.published_day:
            return first_seen
        return datetime.combine(article.published_day, time(12, 0), tzinfo=UTC)
    return first_seen


def site_of(section_key: str) -> str:
    site, slash, section = section_key.partition("/")
    if not (site and slash and section):
        raise StoreError(f"a section key looks like 'site/section', not {section_key!r}")
    return site
