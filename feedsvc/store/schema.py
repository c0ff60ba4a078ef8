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
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
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
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)
