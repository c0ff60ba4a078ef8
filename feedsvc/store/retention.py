"""Retention: stories leave the store and their keys become tombstones.

A section keeps its newest ``Retention.items`` stories: one that falls further back
leaves the section, and a story that has left every section it was in is removed.
A story first seen more than ``Retention.age`` seconds ago is removed whatever its
sections. A primary leaves with its alternates (identity.py).

A removed story's keys (its own and its aliases) become tombstones: a section page
that lists it again does not bring it back. Its sketch stays in the near-duplicate
index, marked dead, so a copy of it published elsewhere is not taken in either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.base import Retention
from feedsvc.store.schema import (
    stories,
    story_aliases,
    story_alternates,
    story_fingerprints,
    story_sections,
    tombstones,
)

ALL_FEED = "all"
_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def expire(
    conn: AsyncConnection, section_key: str, site_id: str, now: datetime, retention: Retention
) -> tuple[int, dict[str, int]]:
    """Apply retention to one section and by age: (stories removed, change of each feed's story count)."""
    counts: dict[str, int] = {}
    overflow = list(
        await conn.scalars(
            select(story_sections.c.story_id)
            .where(story_sections.c.section_key == section_key)
            .order_by(story_sections.c.published.desc(), story_sections.c.story_id.desc())
            .offset(retention.items)
            .limit(retention.batch)
        )
    )
    orphans: list[str] = []
    if overflow:
        await conn.execute(
            delete(story_sections).where(
                story_sections.c.section_key == section_key, story_sections.c.story_id.in_(overflow)
            )
        )
        counts[section_key] = -len(overflow)
        remaining = list(
            await conn.execute(
                select(story_sections.c.story_id, story_sections.c.site_id).where(story_sections.c.story_id.in_(overflow))
            )
        )
        in_site = {row.story_id for row in remaining if row.site_id == site_id}
        counts[site_id] = -sum(story_id not in in_site for story_id in overflow)
        listed = {row.story_id for row in remaining}
        orphans = [story_id for story_id in overflow if story_id not in listed]
    cutoff = now - timedelta(seconds=retention.age)
    aged = list(
        await conn.scalars(
            select(stories.c.id).where(stories.c.first_seen < cutoff).order_by(stories.c.first_seen).limit(retention.batch)
        )
    )
    removed, changes = await remove(conn, [*orphans, *aged], now)
    for key, change in changes.items():
        counts[key] = counts.get(key, 0) + change
    return removed, {key: change for key, change in counts.items() if change}


async def remove(conn: AsyncConnection, story_ids: Iterable[str], now: datetime) -> tuple[int, dict[str, int]]:
    """Remove the stories (and the alternates of those that are primaries), leaving tombstones."""
    ids = set(story_ids)
    if not ids:
        return 0, {}
    for chunk in _chunks(sorted(ids)):
        ids.update(await conn.scalars(select(story_alternates.c.story_id).where(story_alternates.c.primary_id.in_(chunk))))
    ordered = sorted(ids)
    counts: dict[str, int] = {}
    buried: list[dict[str, object]] = []
    for chunk in _chunks(ordered):
        alternates = set(await conn.scalars(select(story_alternates.c.story_id).where(story_alternates.c.story_id.in_(chunk))))
        for row in await conn.execute(select(stories.c.id, stories.c.key).where(stories.c.id.in_(chunk))):
            buried.append({"key": row.key, "story_id": row.id, "removed_at": now})
            if row.id not in alternates:
                counts[ALL_FEED] = counts.get(ALL_FEED, 0) - 1
        for row in await conn.execute(select(story_aliases.c.key, story_aliases.c.story_id).where(story_aliases.c.story_id.in_(chunk))):
            buried.append({"key": row.key, "story_id": row.story_id, "removed_at": now})
        sites: set[tuple[str, str]] = set()
        members = select(story_sections.c.story_id, story_sections.c.section_key, story_sections.c.site_id)
        for member in await conn.execute(members.where(story_sections.c.story_id.in_(chunk))):
            counts[member.section_key] = counts.get(member.section_key, 0) - 1
            sites.add((member.story_id, member.site_id))
        for _, site in sites:
            counts[site] = counts.get(site, 0) - 1
        await conn.execute(update(story_fingerprints).where(story_fingerprints.c.story_id.in_(chunk)).values(live=False))
        await conn.execute(delete(stories).where(stories.c.id.in_(chunk)))
    if buried:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        await conn.execute(insert(tombstones).on_conflict_do_nothing(), buried)
    return len(ordered), counts


async def bury(conn: AsyncConnection, keys: Iterable[str], story_id: str, now: datetime) -> None:
    """Tombstone ``keys`` (found to lead to the removed story ``story_id``)."""
    rows = [{"key": key, "story_id": story_id, "removed_at": now} for key in sorted(set(keys))]
    if rows:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        await conn.execute(insert(tombstones).on_conflict_do_nothing(), rows)
