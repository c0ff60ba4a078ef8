"""Copies of one story in feeds: groups of a primary and its alternates (migration 3, see identity.py).

A group is the copy stored first (the *primary*) and the copies found later (its
*alternates*, in the order they came). Every feed shows one copy of a group, the
earliest one it holds: ``all`` the primary; a site or section feed the first copy
listed there, so a section keeps its own site's copy. Each entry lists the links of
the group's other copies ("Also published at ...").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.schema import stories, story_alternates, story_sections

ALL_FEED = "all"
_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


async def group_members(conn: AsyncConnection, story_id: str) -> list[str]:
    """Every copy of the story's group, primary first, then alternates in the order they came."""
    primary = await conn.scalar(select(story_alternates.c.primary_id).where(story_alternates.c.story_id == story_id))
    primary = str(primary) if primary is not None else story_id
    alternates = await conn.scalars(
        select(story_alternates.c.story_id)
        .where(story_alternates.c.primary_id == primary)
        .order_by(story_alternates.c.added_at, story_alternates.c.story_id)
    )
    return [primary, *(str(member) for member in alternates)]


async def shown_in(conn: AsyncConnection, story_id: str, feed_keys: Iterable[str]) -> list[str]:
    """Those of ``feed_keys`` in which the story is its group's copy (see ``hidden_in``)."""
    wanted = list(feed_keys)
    members = await group_members(conn, story_id)
    if len(members) < 2 or members[0] == story_id:
        return wanted
    earlier = members[: members.index(story_id)] if story_id in members else members
    held = {ALL_FEED}
    for row in await conn.execute(
        select(story_sections.c.section_key, story_sections.c.site_id).where(story_sections.c.story_id.in_(earlier))
    ):
        held.update((row.section_key, row.site_id))
    return [key for key in wanted if key not in held]


def not_alternate(story_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: the story is the primary of its group (``all`` shows only those)."""
    return ~exists().where(story_alternates.c.story_id == story_id)


def hidden_in(feed_key: str, story_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: an earlier copy of the story's group is in the site or section feed ``feed_key``."""
    mine = story_alternates.alias("mine")
    earlier = story_alternates.alias("earlier")
    held_by_primary = story_sections.alias("held_by_primary")
    held_by_earlier = story_sections.alias("held_by_earlier")

    def in_feed(member: Any) -> ColumnElement[bool]:
        column = member.c.section_key if "/" in feed_key else member.c.site_id
        condition: ColumnElement[bool] = column == feed_key
        return condition

    primary_there = exists(
        select(1)
        .select_from(mine.join(held_by_primary, held_by_primary.c.story_id == mine.c.primary_id))
        .where(mine.c.story_id == story_id, in_feed(held_by_primary))
    )
    came_first = or_(
        earlier.c.added_at < mine.c.added_at,
        and_(earlier.c.added_at == mine.c.added_at, earlier.c.story_id < mine.c.story_id),
    )
    earlier_there = exists(
        select(1)
        .select_from(
            mine.join(earlier, and_(earlier.c.primary_id == mine.c.primary_id, came_first)).join(
                held_by_earlier, held_by_earlier.c.story_id == earlier.c.story_id
            )
        )
        .where(mine.c.story_id == story_id, in_feed(held_by_earlier))
    )
    return or_(primary_there, earlier_there)


async def alternate_links(conn: AsyncConnection, story_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each story with copies: the links of its group's other copies, primary first."""
    ids = list(dict.fromkeys(story_ids))
    primary_of: dict[str, str] = {}
    for chunk in _chunks(ids):
        query = select(story_alternates.c.story_id, story_alternates.c.primary_id).where(
            or_(story_alternates.c.story_id.in_(chunk), story_alternates.c.primary_id.in_(chunk))
        )
        for row in await conn.execute(query):
            primary_of[row.story_id] = row.primary_id
    if not primary_of:
        return {}
    primaries = sorted({primary_of.get(story_id, story_id) for story_id in ids})
    groups: dict[str, list[str]] = {primary: [primary] for primary in primaries}
    for chunk in _chunks(primaries):
        query = (
            select(story_alternates.c.story_id, story_alternates.c.primary_id)
            .where(story_alternates.c.primary_id.in_(chunk))
            .order_by(story_alternates.c.added_at, story_alternates.c.story_id)
        )
        for row in await conn.execute(query):
            groups[row.primary_id].append(row.story_id)
    members = sorted({member for group in groups.values() for member in group})
    urls: dict[str, str] = {}
    for chunk in _chunks(members):
        for row in await conn.execute(select(stories.c.id, stories.c.url).where(stories.c.id.in_(chunk))):
            urls[row.id] = row.url
    links: dict[str, tuple[str, ...]] = {}
    for story_id in ids:
        group = groups.get(primary_of.get(story_id, story_id), [])
        others = tuple(urls[m] for m in group if m != story_id and m in urls)
        if others:
            links[story_id] = others
    return links
