"""Re-checks: which stored article pages are due to be fetched again for corrections.

Every standalone story has a row in ``story_checks`` (its page and when it was last
checked). A section run claims the stories of that section that are due, oldest
check first and a few at a time; claiming moves ``checked_at`` to now in the same
transaction, so a story listed in several sections (or seen by several replicas)
is checked once per interval.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.base import Recheck
from feedsvc.store.schema import stories, story_checks, story_sections


async def claim(
    conn: AsyncConnection, section_key: str, now: datetime, due_before: datetime, seen_after: datetime, limit: int
) -> list[Recheck]:
    """Up to ``limit`` stories of the section last checked before ``due_before`` and first seen after ``seen_after``."""
    if limit <= 0:
        return []
    query = (
        select(story_checks.c.story_id, story_checks.c.url, stories.c.key)
        .join(stories, stories.c.id == story_checks.c.story_id)
        .join(
            story_sections,
            and_(story_sections.c.story_id == story_checks.c.story_id, story_sections.c.section_key == section_key),
        )
        .where(story_checks.c.checked_at < due_before, stories.c.first_seen >= seen_after)
        .order_by(story_checks.c.checked_at, story_checks.c.story_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=story_checks, skip_locked=True)
    rows = list(await conn.execute(query))
    if rows:
        await conn.execute(
            update(story_checks).where(story_checks.c.story_id.in_([row.story_id for row in rows])).values(checked_at=now)
        )
    return [Recheck(row.story_id, row.key, row.url) for row in rows]
