"""Schema migrations: one ordered list of steps, the same runner for both backends.

Each step is a function of a synchronous SQLAlchemy ``Connection`` (run through
``AsyncConnection.run_sync``) and is applied in its own transaction together
with its row in ``schema_migrations``, so a step is either applied and recorded
or not at all. On PostgreSQL every migration transaction first takes a
transaction-scoped advisory lock, so replicas that start together apply each
step once; on SQLite the write transaction itself (``BEGIN IMMEDIATE``) is the lock.

To change the schema, append a step; never edit a released one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateColumn

from feedsvc.errors import StoreError
from feedsvc.store.identity import create_identity_tables
from feedsvc.store.positions import create_and_backfill
from feedsvc.store.rawpages import create_raw_pages
from feedsvc.store.rendered import create_rendered_feeds
from feedsvc.store.schema import (
    feeds,
    http_validators,
    metadata,
    schema_migrations,
    section_leases,
    section_runs,
    stories,
    story_sections,
)

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key shared by every feedsvc replica ("feedsvc" in ASCII).
ADVISORY_LOCK_KEY = 0x66656564737663


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_schema(conn: Connection) -> None:
    metadata.create_all(
        conn, tables=[stories, story_sections, feeds, http_validators, section_runs]
    )


def _section_turns(conn: Connection) -> None:
    metadata.create_all(conn, tables=[section_leases])
    # section_runs.page_fetched; step 1 on a new database already made it (from the metadata).
    if "page_fetched" not in {column["name"] for column in inspect(conn).get_columns(section_runs.name)}:
        column = CreateColumn(section_runs.c.page_fetched).compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE {section_runs.name} ADD COLUMN {column}"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "create stories, story_sections, feeds, http_validators, section_runs", _create_schema
    ),
    Migration(2, "create section_leases, add section_runs.page_fetched (replicas take turns)", _section_turns),
    Migration(3, "create story identity tables (aliases, alternates, dedupe index, checks, tombstones)", create_identity_tables),
    Migration(4, "create feed_sequences, feed_entries (RFC 5005 archive positions)", create_and_backfill),
    Migration(5, "create raw_pages (stored article pages, re-extracted when their rules change)", create_raw_pages),
    Migration(6, "create rendered_feeds (the last rendered bodies, served at once after a restart)", create_rendered_feeds),
)
LATEST_VERSION = MIGRATIONS[-1].version

WriteTransaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


async def migrate(begin_write: WriteTransaction) -> list[int]:
    """Apply every missing step; return the versions applied now (empty when current)."""
    async with begin_write() as conn:
        await _lock(conn)
        await conn.run_sync(lambda sync: schema_migrations.create(sync, checkfirst=True))
    applied_now: list[int] = []
    for step in MIGRATIONS:
        async with begin_write() as conn:
            await _lock(conn)
            if await _is_applied(conn, step.version):
                continue
            await conn.run_sync(step.apply)
            await conn.execute(
                insert(schema_migrations).values(
                    version=step.version,
                    description=step.description,
                    applied_at=datetime.now(UTC),
                )
            )
        log.info("applied migration %d: %s", step.version, step.description)
        applied_now.append(step.version)
    return applied_now


async def current_version(conn: AsyncConnection) -> int | None:
    """The newest applied migration, or None when the store was never migrated."""
    if not await conn.run_sync(lambda sync: inspect(sync).has_table(schema_migrations.name)):
        return None
    version = await conn.scalar(select(func.max(schema_migrations.c.version)))
    return int(version) if version is not None else None


async def check_current(conn: AsyncConnection) -> None:
    """Raise StoreError unless the newest migration is applied."""
    version = await current_version(conn)
    if version is None:
        raise StoreError("the store is not migrated (no schema_migrations table): run migrate")
    if version < LATEST_VERSION:
        raise StoreError(
            f"the store schema is at version {version}, this feedsvc needs {LATEST_VERSION}:"
            " run migrate"
        )


async def _is_applied(conn: AsyncConnection, version: int) -> bool:
    found = await conn.scalar(
        select(schema_migrations.c.version).where(schema_migrations.c.version == version)
    )
    return found is not None


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
