"""Section leases: which replica refreshes a section now, and until when.

A lease is one row of ``section_leases``. Taking it is one atomic statement
that both SQLite (3.35+) and PostgreSQL run the same way::

    INSERT INTO section_leases (section_key, holder, expires_at) VALUES (:key, :me, :now + ttl)
    ON CONFLICT (section_key) DO UPDATE
        SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE section_leases.expires_at < :now OR section_leases.holder = :me
    RETURNING holder

A row comes back only when the insert or the update happened: no row, or an
expired one, or our own (a renewal). While another holder's lease is unexpired
the update's WHERE is false and nothing is returned. On PostgreSQL the
conflicting row is locked for the statement, so two replicas racing for an
expired lease cannot both win; on SQLite the write transaction serialises them.

Times are the replicas' own clocks (UTC): replicas must agree to well within
the lease time, as NTP-synchronised hosts do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store.base import Lease
from feedsvc.store.schema import as_utc, section_leases


async def acquire(
    conn: AsyncConnection, section_key: str, holder: str, now: datetime, ttl: float
) -> bool:
    """Take or renew the lease until ``now + ttl``; True when ``holder`` holds it now."""
    if ttl <= 0:
        raise ValueError(f"a lease needs a positive time, got {ttl!r}")
    now = as_utc(now)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(section_leases).values(
        section_key=section_key, holder=holder, expires_at=now + timedelta(seconds=ttl)
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[section_leases.c.section_key],
        set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
        where=or_(section_leases.c.expires_at < now, section_leases.c.holder == holder),
    ).returning(section_leases.c.holder)
    won = (await conn.execute(upsert)).first()
    return won is not None


async def release(conn: AsyncConnection, section_key: str, holder: str) -> None:
    """Drop the lease if ``holder`` still has it (a lease taken over is left alone)."""
    await conn.execute(
        delete(section_leases).where(
            section_leases.c.section_key == section_key, section_leases.c.holder == holder
        )
    )


async def current(conn: AsyncConnection) -> dict[str, Lease]:
    """Every lease row by section key, expired ones included."""
    rows = await conn.execute(select(section_leases).order_by(section_leases.c.section_key))
    return {
        row.section_key: Lease(row.section_key, row.holder, as_utc(row.expires_at)) for row in rows
    }
