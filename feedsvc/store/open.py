"""Turn a storage URL into a ready SqlStore (engine, drivers, SQLite pragmas).

``sqlite:///path`` (relative to the working directory; ``sqlite:////abs/path``)
runs on aiosqlite; ``postgresql://`` and ``postgres://`` run on asyncpg.

Every SQLite connection gets WAL journaling, ``synchronous=NORMAL``, foreign
keys and a busy timeout. SQLAlchemy, not the sqlite3 module, emits BEGIN:
reads use a deferred BEGIN (one snapshot per read), writes ``BEGIN IMMEDIATE``
so a write transaction holds the database write lock from its first statement
and never fails half-way with "database is locked".
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from feedsvc.errors import StoreError
from feedsvc.store.sql import SqlStore

log = logging.getLogger(__name__)

SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite"})
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})
ACCEPTED = "sqlite:///path/to/file.db or postgresql://user:password@host[:port]/database"

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "feedsvc_sqlite_begin"


def open_store(url: str) -> SqlStore:
    """A store for ``url``; nothing is connected until the first call on it."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a storage URL (expected {ACCEPTED})") from exc
    scheme = parsed.drivername
    if scheme in SQLITE_SCHEMES:
        return _open_sqlite(parsed)
    if scheme in POSTGRES_SCHEMES:
        return _open_postgres(parsed)
    raise StoreError(f"unsupported storage URL scheme {scheme!r}: use {ACCEPTED}")


def _open_sqlite(url: URL) -> SqlStore:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise StoreError(f"SQLite storage needs a file, not an in-memory database: use {ACCEPTED}")
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory of the SQLite store {path}: {exc}") from exc
    engine = create_async_engine(url.set(drivername="sqlite+aiosqlite", database=str(path)))
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    log.info("store: SQLite at %s", path)
    return SqlStore(engine, writer, single_writer=True, name=f"SQLite store {path}")


def _open_postgres(url: URL) -> SqlStore:
    engine: AsyncEngine = create_async_engine(
        url.set(drivername="postgresql+asyncpg"), pool_pre_ping=True
    )
    shown = url.render_as_string(hide_password=True)
    log.info("store: PostgreSQL at %s", shown)
    return SqlStore(engine, engine, single_writer=False, name=f"PostgreSQL store {shown}")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _begin_sqlite_transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _enter_wal_mode(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enter_wal_mode(cursor: Any, attempts: int = 100) -> None:
    """Switch a database to WAL. The switch takes an exclusive lock and SQLite does not
    apply the busy timeout to it, so connections opening a new file together retry."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _begin_sqlite_transaction(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
