"""Archive positions: the order stories joined each feed, for RFC 5005 archive pages.

When a story joins a feed (a section, and through it its site and "all"), it
takes that feed's next position in the transaction that adds it::

    INSERT INTO feed_sequences (feed_key, last_position) VALUES (:key, 1)
    ON CONFLICT (feed_key) DO UPDATE SET last_position = feed_sequences.last_position + 1
    RETURNING last_position

On PostgreSQL that statement locks the feed's sequence row until commit, so
positions are handed out in commit order across replicas (a reader never sees
position n + 1 before n); on SQLite the single writer does the same. Sequence
rows are taken in key order, before any ``feeds`` row, so writers never
deadlock. A position, once given, never changes: archive pages are fixed by
positions, not by offsets from the newest story.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.schema import feed_entries, feed_sequences, metadata, stories, story_sections

ALL_FEED = "all"
_BATCH = 1000


async def number_entry(conn: AsyncConnection, story_id: str, feed_keys: Iterable[str]) -> dict[str, int]:
    """Give ``story_id`` the next position of each feed in ``feed_keys`` it has none in yet.

    Returns the positions given now, by feed key.
    """
    wanted = set(feed_keys)
    held = set(
        await conn.scalars(
            select(feed_entries.c.feed_key).where(
                feed_entries.c.story_id == story_id, feed_entries.c.feed_key.in_(sorted(wanted))
            )
        )
    )
    given: dict[str, int] = {}
    for key in sorted(wanted - held):
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(feed_sequences).values(feed_key=key, last_position=1)
        bump = stmt.on_conflict_do_update(
            index_elements=[feed_sequences.c.feed_key],
            set_={"last_position": feed_sequences.c.last_position + 1},
        ).returning(feed_sequences.c.last_position)
        position = int((await conn.execute(bump)).scalar_one())
        await conn.execute(
            feed_entries.insert().values(feed_key=key, position=position, story_id=story_id)
        )
        given[key] = position
    return given


async def last_position(conn: AsyncConnection, feed_key: str) -> int:
    """The newest position given in the feed (0 when none)."""
    value = await conn.scalar(
        select(feed_sequences.c.last_position).where(feed_sequences.c.feed_key == feed_key)
    )
    return int(value) if value is not None else 0


def stories_at(feed_key: str, first: int, last: int) -> Select[Any]:
    """Stories at positions ``first..last`` of the feed, newest position first."""
    return (
        select(stories)
        .join(feed_entries, feed_entries.c.story_id == stories.c.id)
        .where(feed_entries.c.feed_key == feed_key, feed_entries.c.position.between(first, last))
        .order_by(feed_entries.c.position.desc())
    )


def create_and_backfill(conn: Connection) -> None:
    """Migration step: create the tables and number the stories already stored.

    Memberships are replayed in the order they were added (``added_at``, then
    story id), each giving positions as ``number_entry`` would have.
    """
    metadata.create_all(conn, tables=[feed_sequences, feed_entries])
    counters: dict[str, int] = {}
    numbered: set[tuple[str, str]] = set()
    batch: list[dict[str, Any]] = []
    rows = conn.execute(
        select(story_sections.c.story_id, story_sections.c.section_key, story_sections.c.site_id)
        .order_by(story_sections.c.added_at, story_sections.c.story_id, story_sections.c.section_key)
    ).all()
    for row in rows:
        for key in sorted((row.section_key, row.site_id, ALL_FEED)):
            if (key, row.story_id) in numbered:
                continue
            numbered.add((key, row.story_id))
            counters[key] = counters.get(key, 0) + 1
            batch.append({"feed_key": key, "position": counters[key], "story_id": row.story_id})
        if len(batch) >= _BATCH:
            conn.execute(feed_entries.insert(), batch)
            batch = []
    if batch:
        conn.execute(feed_entries.insert(), batch)
    if counters:
        conn.execute(
            feed_sequences.insert(),
            [{"feed_key": key, "last_position": value} for key, value in sorted(counters.items())],
        )
