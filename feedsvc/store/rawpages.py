"""Stored article pages: what re-extraction reads instead of fetching the page again.

One row per stored article (the main story of a page; its companion stories
come from the same page): the fetched pages (several for a multi-page
article) as zlib-compressed JSON, the listing's teaser, and the version of the
rules that extracted them (rule name and digest, see ``RuleBook.version_of``).
When a rule file changes, the rows whose version differs from the current one
are re-extracted; :func:`version_groups` lists versions in use cheaply (one
grouped read of an index), :func:`keys_with_version` the stories of one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.errors import StoreError
from feedsvc.store.schema import metadata, raw_pages, stories, story_sections

_LEVEL = 6


@dataclass(frozen=True)
class VersionGroup:
    """Stored pages of one site and host extracted by one rule version."""

    site_id: str
    host: str
    rule_file: str
    rule_digest: str
    count: int


@dataclass(frozen=True)
class StoredPages:
    """A stored article's pages and what re-extracting it needs from the store."""

    key: str
    site_id: str
    url: str  # the story's link
    pages: tuple[tuple[str, str], ...]  # (page URL, HTML) in order
    teaser: str
    rule_file: str
    rule_digest: str
    section_key: str  # one section the story belongs to


def create_raw_pages(conn: Connection) -> None:
    """Migration 5."""
    metadata.create_all(conn, tables=[raw_pages])


def pack(pages: Sequence[tuple[str, str]]) -> bytes:
    return zlib.compress(json.dumps([list(page) for page in pages], ensure_ascii=False).encode("utf-8"), _LEVEL)


def unpack(blob: bytes) -> tuple[tuple[str, str], ...]:
    try:
        pages = json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, ValueError) as exc:
        raise StoreError(f"a stored page is unreadable: {exc}") from exc
    return tuple((str(url), str(html)) for url, html in pages)


async def save(
    conn: AsyncConnection,
    key: str,
    site_id: str,
    url: str,
    pages: Sequence[tuple[str, str]],
    version: tuple[str, str],
    teaser: str,
    now: datetime,
) -> None:
    values: dict[str, Any] = {
        "site_id": site_id,
        "host": (urlsplit(url).hostname or "").lower(),
        "url": url,
        "pages": pack(pages),
        "teaser": teaser,
        "rule_file": version[0],
        "rule_digest": version[1],
        "stored_at": now,
        "extracted_at": now,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(raw_pages).values(story_key=key, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[raw_pages.c.story_key], set_=values))


async def version_groups(conn: AsyncConnection) -> list[VersionGroup]:
    columns = (raw_pages.c.site_id, raw_pages.c.host, raw_pages.c.rule_file, raw_pages.c.rule_digest)
    rows = await conn.execute(select(*columns, func.count()).group_by(*columns).order_by(*columns))
    return [VersionGroup(row[0], row[1], row[2], row[3], int(row[4])) for row in rows]


async def keys_with_version(conn: AsyncConnection, group: VersionGroup) -> list[str]:
    query = (
        select(raw_pages.c.story_key)
        .where(
            raw_pages.c.site_id == group.site_id,
            raw_pages.c.host == group.host,
            raw_pages.c.rule_file == group.rule_file,
            raw_pages.c.rule_digest == group.rule_digest,
        )
        .order_by(raw_pages.c.story_key)
    )
    return [row.story_key for row in await conn.execute(query)]


async def load(conn: AsyncConnection, key: str) -> StoredPages | None:
    """The stored pages of ``key``; None when either the pages or the story itself is gone."""
    section = (
        select(func.min(story_sections.c.section_key))
        .where(story_sections.c.story_id == stories.c.id)
        .scalar_subquery()
    )
    query = (
        select(raw_pages, section.label("section_key"))
        .join(stories, stories.c.key == raw_pages.c.story_key)
        .where(raw_pages.c.story_key == key)
    )
    row = (await conn.execute(query)).first()
    if row is None or row.section_key is None:
        return None
    return StoredPages(
        key=row.story_key,
        site_id=row.site_id,
        url=row.url,
        pages=unpack(row.pages),
        teaser=row.teaser,
        rule_file=row.rule_file,
        rule_digest=row.rule_digest,
        section_key=row.section_key,
    )


async def mark_extracted(conn: AsyncConnection, key: str, version: tuple[str, str], now: datetime) -> None:
    await conn.execute(
        raw_pages.update()
        .where(raw_pages.c.story_key == key)
        .values(rule_file=version[0], rule_digest=version[1], extracted_at=now)
    )
