"""Rendered feeds kept in the store: what a restarted service serves before it renders anything.

Rendering every feed takes seconds per hundred feeds (feedgen, gzip, brotli);
reading back the bodies rendered last time takes a fraction of that. The
feed cache saves each feed's documents after it renders them (one row per
feed and format, replaced) and loads them all at start; its first refresh
pass then re-renders only the feeds whose version moved meanwhile. With
several replicas on one PostgreSQL, the rows are simply the newest rendering
any replica made.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.base import RenderedDocument
from feedsvc.store.schema import as_utc, metadata, rendered_feeds


def create_rendered_feeds(conn: Connection) -> None:
    """Migration 6."""
    metadata.create_all(conn, tables=[rendered_feeds])


async def save(conn: AsyncConnection, documents: Sequence[RenderedDocument], now: datetime) -> None:
    if not documents:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "feed_key": d.feed_key, "format": d.format, "version": d.version, "etag": d.etag,
            "last_modified": d.last_modified, "content_type": d.content_type, "size": d.size,
            "gzip_body": d.gzip_body, "br_body": d.br_body, "entries": d.entries,
            "last_position": d.last_position, "rendered_at": as_utc(now),
        }
        for d in sorted(documents, key=lambda d: (d.feed_key, d.format))  # rows in key order: no deadlocks
    ]
    stmt = insert(rendered_feeds).values(rows)
    replaced = {c.name: stmt.excluded[c.name] for c in rendered_feeds.columns if c.name not in ("feed_key", "format")}
    await conn.execute(stmt.on_conflict_do_update(index_elements=["feed_key", "format"], set_=replaced))


async def load(conn: AsyncConnection) -> list[RenderedDocument]:
    rows = await conn.execute(select(rendered_feeds).order_by(rendered_feeds.c.feed_key, rendered_feeds.c.format))
    return [
        RenderedDocument(
            feed_key=row.feed_key, format=row.format, version=int(row.version), etag=row.etag,
            last_modified=row.last_modified, content_type=row.content_type, size=int(row.size),
            gzip_body=bytes(row.gzip_body), br_body=bytes(row.br_body) if row.br_body is not None else None,
            entries=int(row.entries), last_position=int(row.last_position),
        )
        for row in rows
    ]
