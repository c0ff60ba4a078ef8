"""The tables of the store, one definition for SQLite and PostgreSQL.

Datetimes are always timezone-aware UTC on the Python side. PostgreSQL keeps
them as ``timestamptz``; SQLite keeps them as fixed-width ISO-8601 UTC text
(``2019-04-25T12:00:00.000000Z``), which sorts in time order.

Two deliberate denormalisations keep feed reads cheap at a million stories:
``story_sections.published`` (a story's ``published`` never changes after
insert) lets a section or site feed be read straight off one index, and
``feeds.stories`` keeps each feed's story count so ``feed_states`` never
counts rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes: ``timestamptz`` on PostgreSQL, sortable text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = as_utc(value)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return as_utc(datetime.fromisoformat(value))
        if isinstance(value, datetime):
            return as_utc(value)
        raise TypeError(f"cannot read a datetime from {value!r}")


metadata = MetaData()

stories = Table(
    "stories",
    metadata,
    Column("id", Text, primary_key=True),  # "urn:uuid:<uuid5 of key>"
    Column("key", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("site_id", Text, nullable=False),  # the site it was first seen on
    Column("title", Text, nullable=False),
    Column("author", Text),
    Column("summary", Text, nullable=False),
    Column("content_html", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("place", Text),
    Column("agency", Text),
    Column("lead_image", Text),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
)
Index("ix_stories_published", stories.c.published.desc(), stories.c.id.desc())
# Retention by age (migration 3 creates it on stores made before it existed).
stories_first_seen = Index("ix_stories_first_seen", stories.c.first_seen)

story_sections = Table(
    "story_sections",
    metadata,
    Column("story_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("section_key", Text, nullable=False),  # "site/section"
    Column("site_id", Text, nullable=False),  # the part of section_key before "/"
    Column("published", UTCDateTime, nullable=False),  # copy of stories.published
    Column("added_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("story_id", "section_key", name="pk_story_sections"),
)
Index(
    "ix_story_sections_section",
    story_sections.c.section_key,
    story_sections.c.published.desc(),
    story_sections.c.story_id.desc(),
)
Index(
    "ix_story_sections_site",
    story_sections.c.site_id,
    story_sections.c.published.desc(),
    story_sections.c.story_id.desc(),
)

feeds = Table(
    "feeds",
    metadata,
    Column("key", Text, primary_key=True),  # "all", a site id or a section key
    Column("version", BigInteger, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("stories", BigInteger, nullable=False),
)

http_validators = Table(
    "http_validators",
    metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("checked_at", UTCDateTime, nullable=False),
)

section_runs = Table(
    "section_runs",
    metadata,
    Column("section_key", Text, primary_key=True),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("new_stories", Integer, nullable=False),
    Column("changed_stories", Integer, nullable=False),
    Column("page_fetched", UTCDateTime),  # migration 2: replicas space section page fetches by it
)

# One row per section being refreshed: who holds its turn and until when (migration 2).
section_leases = Table(
    "section_leases",
    metadata,
    Column("section_key", Text, primary_key=True),
    Column("holder", Text, nullable=False),  # "host:pid:random" of the replica
    Column("expires_at", UTCDateTime, nullable=False),
)

# RFC 5005 archive positions (migration 4, see positions.py): each story that joins a
# feed ("all", a site, a section) takes that feed's next position, in the same transaction.
feed_sequences = Table(
    "feed_sequences",
    metadata,
    Column("feed_key", Text, primary_key=True),
    Column("last_position", BigInteger, nullable=False),
)

feed_entries = Table(
    "feed_entries",
    metadata,
    Column("feed_key", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("story_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("feed_key", "position", name="pk_feed_entries"),
    UniqueConstraint("feed_key", "story_id", name="uq_feed_entries_story"),
)

# Story identity (migration 3, see identity.py): other keys of a story, copies of one
# story on several pages, the near-duplicate index, re-checks and tombstones.
story_aliases = Table(
    "story_aliases",
    metadata,
    Column("key", Text, primary_key=True),  # another canonical key leading to the story
    Column("story_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)
Index("ix_story_aliases_story", story_aliases.c.story_id)

story_alternates = Table(
    "story_alternates",
    metadata,
    Column("story_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("primary_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)
Index("ix_story_alternates_primary", story_alternates.c.primary_id, story_alternates.c.added_at)

story_fingerprints = Table(
    "story_fingerprints",
    metadata,
    # A compact number for the band rows (tens of them per story).
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("story_id", Text, nullable=False, unique=True),  # no foreign key: a tombstone keeps its fingerprint
    Column("sketch", LargeBinary, nullable=False),  # opaque to the store (dedupe.py reads it)
    Column("bands", LargeBinary, nullable=False),  # its band keys (int64 LE), to take it out of story_bands
    Column("live", Boolean, nullable=False),  # False once the story is tombstoned
)

story_bands = Table(
    "story_bands",
    metadata,
    Column("band", BigInteger, nullable=False),  # LSH band key (dedupe.py)
    Column("seq", BigInteger, nullable=False),  # story_fingerprints.seq
    PrimaryKeyConstraint("band", "seq", name="pk_story_bands"),
    sqlite_with_rowid=False,  # one B-tree: the primary key is the table
)

story_checks = Table(
    "story_checks",
    metadata,
    Column("story_id", Text, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("url", Text, nullable=False),  # the page to re-check for corrections
    Column("checked_at", UTCDateTime, nullable=False),
)
Index("ix_story_checks_due", story_checks.c.checked_at)

tombstones = Table(
    "tombstones",
    metadata,
    Column("key", Text, primary_key=True),  # a key never taken in again
    Column("story_id", Text, nullable=False),
    Column("removed_at", UTCDateTime, nullable=False),
)

# The fetched pages of each stored article (migration 5, see rawpages.py), kept to re-extract the
# story without fetching it again when the rules that extracted it change.
raw_pages = Table(
    "raw_pages",
    metadata,
    Column("story_key", Text, primary_key=True),
    Column("site_id", Text, nullable=False),
    Column("host", Text, nullable=False),  # the page's host: which rule file applies may depend on it
    Column("url", Text, nullable=False),  # the story's link
    Column("pages", LargeBinary, nullable=False),  # zlib of JSON [[page URL, HTML], ...] (multi-page articles)
    Column("teaser", Text, nullable=False),  # the listing's teaser, preferred as summary
    Column("rule_file", Text, nullable=False),  # rule name that extracted it, "" for automatic extraction
    Column("rule_digest", Text, nullable=False),  # digest of that file's text (and global.txt's)
    Column("stored_at", UTCDateTime, nullable=False),
    Column("extracted_at", UTCDateTime, nullable=False),
)
Index("ix_raw_pages_version", raw_pages.c.site_id, raw_pages.c.host, raw_pages.c.rule_file, raw_pages.c.rule_digest)

# The last rendered bodies of every feed (migration 6, see rendered.py): a restarted service
# serves them at once, instead of rendering every feed before it can answer.
rendered_feeds = Table(
    "rendered_feeds",
    metadata,
    Column("feed_key", Text, nullable=False),
    Column("format", Text, nullable=False),  # atom, rss, json
    Column("version", BigInteger, nullable=False),  # feeds.version the body was rendered from
    Column("etag", Text, nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", Integer, nullable=False),  # bytes of the uncompressed body
    Column("gzip_body", LargeBinary, nullable=False),
    Column("br_body", LargeBinary),
    Column("entries", Integer, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("rendered_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("feed_key", "format", name="pk_rendered_feeds"),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)
