"""Synthetic stores, written straight into SQLite or PostgreSQL.

The schema comes from the store itself (``open_store(url).migrate()``), then
the rows the store would have written are bulk-inserted in big transactions:
``stories``, ``story_sections``, ``feeds`` and, when the schema has them, the
archive positions (``feed_sequences``, ``feed_entries``). SQLite: the sqlite3
module's ``executemany`` in one transaction; PostgreSQL: asyncpg's binary COPY.
Saving a million stories one ``save_article`` at a time (about 10 ms each)
would take hours; the bulk path writes the same rows.

Story keys are ``{base_url}/reports/{site}_{section}_{n}_999.html``, so an
origin can list them on section pages and a scrape finds them known.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url

from feedsvc.store import schema
from feedsvc.store.open import open_store
from feedsvc.store.story_rules import content_hash, story_id_for



def _this_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)
CHUNK = 20_000
_SQLITE = sqlite_dialect.dialect()


@dataclass(frozen=True)
class Layout:
    """What to generate: sites x sections x stories, bodies of about ``body_bytes``."""

    sites: tuple[str, ...]
    sections_per_site: int
    stories_per_section: int
    body_bytes: int
    base_urls: Mapping[str, str] = field(default_factory=dict)  # site -> base URL of its host
    body_variants: int = 0  # 0: every body different; N: N bodies shared round-robin (fast to build)
    real_hash_newest: int = 50  # the newest N stories of each section get the store's real content hash (others a cheap one)
    # The newest story's time; the others 30 s apart before it. Recent, so that the service's
    # retention (by age) keeps what a benchmark serves.
    newest: datetime = field(default_factory=_this_minute)

    def section_keys(self) -> list[str]:
        return [f"{site}/s{j:03d}" for site in self.sites for j in range(self.sections_per_site)]

    @property
    def total(self) -> int:
        return len(self.sites) * self.sections_per_site * self.stories_per_section

    def key(self, section_key: str, n: int) -> str:
        site, _, section = section_key.partition("/")
        base = self.base_urls.get(site, f"http://{site}.bench.test").rstrip("/")
        return f"{base}/reports/{site}_{section}_{n:05d}_999.html"


@dataclass(frozen=True)
class BuiltStore:
    stories: int
    seconds: float
    measured_keys: tuple[str, ...]  # keys whose stored content hash is the real one (re-saving them changes nothing)


class TextMaker:
    """Paragraphs of words drawn from a vocabulary as often as they occur in it."""

    def __init__(self, words: Sequence[str], seed: int = 1) -> None:
        self._words = list(words) or ["lorem", "ipsum", "dolor", "sit", "amet"]
        self._rng = random.Random(seed)

    def body(self, size: int) -> str:
        parts: list[str] = []
        length = 0
        while length < size:
            sentence = " ".join(self._rng.choices(self._words, k=self._rng.randint(40, 90)))
            paragraph = f"<p>{sentence[:1].upper()}{sentence[1:]}.</p>"
            parts.append(paragraph)
            length += len(paragraph)
        return "".join(parts)

    def words(self, count: int) -> str:
        return " ".join(self._rng.choices(self._words, k=count))


async def build_store(url: str, layout: Layout, words: Sequence[str], *, seed: int = 1,
                      progress: Callable[[str], None] | None = None) -> BuiltStore:
    """Create the schema through the store, then bulk-insert ``layout``'s stories."""
    store = open_store(url)
    await store.migrate()
    await store.close()
    started = time.perf_counter()
    rows = _Rows(layout, TextMaker(words, seed))
    if make_url(url).get_backend_name() == "sqlite":
        _insert_sqlite(url, rows, progress)
    else:
        await _insert_postgres(url, rows, progress)
    return BuiltStore(layout.total, time.perf_counter() - started, tuple(rows.measured))


class _Rows:
    """The rows of every table, generated lazily in insertion order (oldest story first)."""

    def __init__(self, layout: Layout, text: TextMaker) -> None:
        self.layout = layout
        self.text = text
        self.measured: list[str] = []
        self.counts: dict[str, int] = {}
        self._variants = [text.body(layout.body_bytes) for _ in range(layout.body_variants)]

    def stories(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(story row, membership row), oldest first; each story in one section."""
        layout = self.layout
        sections = layout.section_keys()
        total = layout.total
        index = 0
        for n in range(layout.stories_per_section - 1, -1, -1):
            for section_key in sections:
                index += 1
                site = section_key.partition("/")[0]
                key = layout.key(section_key, n)
                published = layout.newest - timedelta(seconds=(total - index) * 30)
                title = f"Story {n} of {section_key}: {self.text.words(6)}"
                body = self._variants[index % len(self._variants)] if self._variants else self.text.body(layout.body_bytes)
                if n < layout.real_hash_newest:
                    digest = content_hash(title, body)
                    self.measured.append(key)
                else:
                    digest = hashlib.sha256((title + body).encode()).hexdigest()
                story_id = story_id_for(key)
                yield (
                    {
                        "id": story_id, "key": key, "url": key, "site_id": site, "title": title,
                        "author": "Staff Writers", "summary": body[3:300], "content_html": body,
                        "content_hash": digest, "place": "Paris", "agency": "AFP", "lead_image": None,
                        "published": published, "updated": published, "first_seen": published,
                    },
                    {"story_id": story_id, "section_key": section_key, "site_id": site,
                     "published": published, "added_at": published},
                )
                for feed in (section_key, site, "all"):
                    self.counts[feed] = self.counts.get(feed, 0) + 1

    def feeds(self) -> list[dict[str, Any]]:
        return [{"key": k, "version": 1, "changed_at": self.layout.newest, "stories": v} for k, v in sorted(self.counts.items())]

    def sequences(self) -> list[dict[str, Any]]:
        return [{"feed_key": k, "last_position": v} for k, v in sorted(self.counts.items())]


def _tables() -> dict[str, Table | None]:
    return {name: getattr(schema, name, None) for name in ("stories", "story_sections", "feeds", "feed_sequences", "feed_entries")}


def _columns(table: Table, row: Mapping[str, Any]) -> list[str]:
    """The columns to insert: the row's, plus any NOT NULL column that needs a value we cannot guess (error)."""
    names = []
    for column in table.columns:
        if column.name in row:
            names.append(column.name)
        elif not column.nullable and column.server_default is None and column.default is None:
            raise RuntimeError(f"the bench does not know how to fill {table.name}.{column.name}: update bench/synthetic.py")
    return names


def _bind(table: Table, names: list[str], dialect: Any) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    processors = [table.c[name].type.bind_processor(dialect) for name in names]

    def bind(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(p(row[n]) if p else row[n] for n, p in zip(names, processors, strict=True))

    return bind


def _positions(story_id: str, membership: Mapping[str, Any], positions: dict[str, int]) -> list[dict[str, Any]]:
    entries = []
    for feed in sorted((membership["section_key"], membership["site_id"], "all")):
        positions[feed] = positions.get(feed, 0) + 1
        entries.append({"feed_key": feed, "position": positions[feed], "story_id": story_id})
    return entries


def _insert_sqlite(url: str, rows: _Rows, progress: Callable[[str], None] | None) -> None:
    tables = _tables()
    path = make_url(url).database or ""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # A throwaway build: no journal, and secondary indexes made once at the end (sorted),
        # not kept up to date row by row.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -500000")
        names = [t.name for t in tables.values() if t is not None]
        indexes = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(names))})", names).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("BEGIN")
        stories, members = tables["stories"], tables["story_sections"]
        entries_table = tables["feed_entries"]
        assert stories is not None and members is not None
        binders: dict[str, tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]]]] = {}
        batches: dict[str, list[tuple[Any, ...]]] = {"stories": [], "story_sections": [], "feed_entries": []}
        positions: dict[str, int] = {}

        def add(table: Table, row: Mapping[str, Any]) -> None:
            if table.name not in binders:
                names = _columns(table, row)
                sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                binders[table.name] = (sql, _bind(table, names, _SQLITE))
            batches[table.name].append(binders[table.name][1](row))

        def flush() -> None:
            for name, batch in batches.items():
                if batch:
                    conn.executemany(binders[name][0], batch)
                    batch.clear()

        for count, (story, member) in enumerate(rows.stories(), 1):
            add(stories, story)
            add(members, member)
            if entries_table is not None:
                for entry in _positions(story["id"], member, positions):
                    add(entries_table, entry)
            if count % CHUNK == 0:
                flush()
                if progress and count % (CHUNK * 10) == 0:
                    progress(f"{count:,} stories")
        flush()
        feeds_table = tables["feeds"]
        assert feeds_table is not None
        conn.execute("DELETE FROM feeds")
        for table, data in ((feeds_table, rows.feeds()), (tables["feed_sequences"], rows.sequences())):
            if table is None or not data:
                continue
            names = _columns(table, data[0])
            bind = _bind(table, names, _SQLITE)
            conn.execute(f"DELETE FROM {table.name}")
            conn.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             [bind(r) for r in data])
        conn.execute("COMMIT")
        if progress:
            progress(f"indexing {len(indexes)} indexes")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


async def _insert_postgres(url: str, rows: _Rows, progress: Callable[[str], None] | None) -> None:
    import asyncpg

    tables = _tables()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        # Secondary indexes (not those of constraints) are dropped and made again after the load.
        names = [t.name for t in tables.values() if t is not None]
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY($1) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)", names)
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        stories, members, entries_table = tables["stories"], tables["story_sections"], tables["feed_entries"]
        assert stories is not None and members is not None
        batches: dict[str, list[tuple[Any, ...]]] = {"stories": [], "story_sections": [], "feed_entries": []}
        columns: dict[str, list[str]] = {}
        positions: dict[str, int] = {}

        def add(table: Table, row: Mapping[str, Any]) -> None:
            if table.name not in columns:
                columns[table.name] = _columns(table, row)
            batches[table.name].append(tuple(row[n] for n in columns[table.name]))

        async def flush() -> None:
            for name, batch in batches.items():
                if batch:
                    await conn.copy_records_to_table(name, records=batch, columns=columns[name])
                    batch.clear()

        async with conn.transaction():
            for count, (story, member) in enumerate(rows.stories(), 1):
                add(stories, story)
                add(members, member)
                if entries_table is not None:
                    for entry in _positions(story["id"], member, positions):
                        add(entries_table, entry)
                if count % CHUNK == 0:
                    await flush()
                    if progress and count % (CHUNK * 10) == 0:
                        progress(f"{count:,} stories")
            await flush()
            for table, data in ((tables["feeds"], rows.feeds()), (tables["feed_sequences"], rows.sequences())):
                if table is None or not data:
                    continue
                names = _columns(table, data[0])
                await conn.execute(f"DELETE FROM {table.name}")
                await conn.copy_records_to_table(table.name, records=[tuple(r[n] for n in names) for r in data], columns=names)
        if progress:
            progress(f"indexing {len(indexes)} indexes")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
