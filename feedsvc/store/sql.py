"""SqlStore: the Store contract on SQLAlchemy async Core, for SQLite and PostgreSQL.

Every public method is one transaction and turns database errors into
StoreError. Writes go through ``_writing``: on SQLite one writer at a time (an
asyncio.Lock, as datasette does) inside ``BEGIN IMMEDIATE``; on PostgreSQL the
story row is locked (``SELECT ... FOR UPDATE``) and feed rows are bumped in key
order, so replicas never deadlock and never double-count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Row, Select, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedsvc.errors import StoreError
from feedsvc.models import Article, SaveResult, Story, Validators
from feedsvc.store import migrations
from feedsvc.store.base import FeedState, SectionRun
from feedsvc.store.schema import (
    as_utc,
    feeds,
    http_validators,
    section_runs,
    stories,
    story_sections,
)
from feedsvc.store.story_rules import content_hash, first_published, site_of, story_id_for

AnyRow = Row[Unpack[tuple[Any, ...]]]

ALL_FEED = "all"
KEYS_PER_QUERY = 500


def _chunks(items: Sequence[str], size: int = KEYS_PER_QUERY) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlStore:
    """The store on one SQLAlchemy async engine (built by ``open_store``)."""

    def __init__(
        self, engine: AsyncEngine, write_engine: AsyncEngine, *, single_writer: bool, name: str
    ) -> None:
        self._engine = engine
        self._write_engine = write_engine
        self._writer_lock = asyncio.Lock() if single_writer else None
        self.name = name

    def __repr__(self) -> str:
        return f"<SqlStore {self.name}>"

    # ------------------------------------------------------------ plumbing

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise StoreError(f"{self.name}: {action} failed: {exc.orig}") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"{self.name}: {action} failed: {exc}") from exc

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        lock: AbstractAsyncContextManager[Any] = self._writer_lock or nullcontext()
        async with lock, self._write_engine.begin() as conn:
            yield conn

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # ------------------------------------------------------------ lifecycle

    async def migrate(self) -> None:
        with self._errors("migrating"):
            await migrations.migrate(self._writing)

    async def close(self) -> None:
        with self._errors("closing"):
            await self._engine.dispose()

    async def ping(self) -> None:
        with self._errors("ping"):
            async with self._engine.connect() as conn:
                try:
                    await migrations.check_current(conn)
                except StoreError as exc:
                    raise StoreError(f"{self.name}: {exc}") from exc

    # ------------------------------------------------------------ fetch state

    async def get_validators(self, url: str) -> Validators | None:
        query = select(http_validators.c.etag, http_validators.c.last_modified).where(
            http_validators.c.url == url
        )
        with self._errors(f"reading validators of {url}"):
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        return None if row is None else Validators(etag=row.etag, last_modified=row.last_modified)

    async def put_validators(self, url: str, validators: Validators, now: datetime) -> None:
        values = {
            "etag": validators.etag,
            "last_modified": validators.last_modified,
            "checked_at": now,
        }
        stmt = self._insert(http_validators).values(url=url, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[http_validators.c.url], set_=values)
        with self._errors(f"saving validators of {url}"):
            async with self._writing() as conn:
                await conn.execute(stmt)

    # ------------------------------------------------------------ scrape path

    async def known_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        found: set[str] = set()
        with self._errors("looking up story keys"):
            async with self._engine.connect() as conn:
                for chunk in _chunks(wanted):
                    rows = await conn.execute(select(stories.c.key).where(stories.c.key.in_(chunk)))
                    found.update(row.key for row in rows)
        return found

    async def add_to_section(self, key: str, section_key: str, now: datetime) -> bool:
        site = site_of(section_key)
        with self._errors(f"adding {key} to {section_key}"):
            async with self._writing() as conn:
                row = await self._lock_story(conn, key)
                if row is None:
                    raise StoreError(f"{self.name}: no stored story has the key {key!r}")
                added, new_in_site = await self._add_membership(
                    conn, row.id, section_key, row.published, now
                )
                if added:
                    await self._bump(
                        conn, {section_key: 1, site: int(new_in_site), ALL_FEED: 0}, now
                    )
        return added

    async def save_article(
        self, article: Article, site_id: str, section_key: str, now: datetime
    ) -> SaveResult:
        site = site_of(section_key)
        digest = content_hash(article.title, article.body_html)
        now = as_utc(now)
        with self._errors(f"saving {article.key}"):
            async with self._writing() as conn:
                row = await self._lock_story(conn, article.key)
                created = False
                if row is None:
                    # A rival replica may insert the same key meanwhile: then ours does
                    # nothing and the re-read finds theirs.
                    created = await self._insert_story(conn, article, site_id, digest, now)
                    row = await self._lock_story(conn, article.key)
                if row is None:
                    raise StoreError(f"{self.name}: story {article.key!r} vanished while saving")
                changed = created or await self._update_story(conn, row, article, digest, now)
                added, new_in_site = await self._add_membership(
                    conn, row.id, section_key, row.published, now
                )
                bumps: dict[str, int] = {}
                if added:
                    bumps = {section_key: 1, site: int(new_in_site), ALL_FEED: int(created)}
                if changed:
                    for member_of in await self._sections_of(conn, [row.id]):
                        bumps.setdefault(member_of.section_key, 0)
                        bumps.setdefault(member_of.site_id, 0)
                    bumps.setdefault(ALL_FEED, 0)
                await self._bump(conn, bumps, now)
        return SaveResult(story_id=row.id, created=created, changed=changed)

    async def _lock_story(self, conn: AsyncConnection, key: str) -> AnyRow | None:
        query = (
            select(stories.c.id, stories.c.published, stories.c.content_hash)
            .where(stories.c.key == key)
            .with_for_update()
        )
        return (await conn.execute(query)).first()

    async def _insert_story(
        self, conn: AsyncConnection, article: Article, site_id: str, digest: str, now: datetime
    ) -> bool:
        """Insert a new story; False when a rival stored the key first."""
        published = first_published(article, now)
        stmt = (
            self._insert(stories)
            .values(
                id=story_id_for(article.key),
                key=article.key,
                site_id=site_id,
                content_hash=digest,
                published=published,
                updated=max(now, published),
                first_seen=now,
                **_content_of(article),
            )
            .on_conflict_do_nothing()
            .returning(stories.c.id)
        )
        return (await conn.execute(stmt)).first() is not None

    async def _update_story(
        self, conn: AsyncConnection, row: AnyRow, article: Article, digest: str, now: datetime
    ) -> bool:
        """Replace the content when its hash differs (a correction); True if replaced."""
        if row.content_hash == digest:
            return False
        await conn.execute(
            stories.update()
            .where(stories.c.id == row.id)
            .values(content_hash=digest, updated=max(now, row.published), **_content_of(article))
        )
        return True

    async def _add_membership(
        self,
        conn: AsyncConnection,
        story_id: str,
        section_key: str,
        published: datetime,
        now: datetime,
    ) -> tuple[bool, bool]:
        """Add the story to the section; (newly in the section, newly in its site)."""
        site = site_of(section_key)
        stmt = (
            self._insert(story_sections)
            .values(
                story_id=story_id,
                section_key=section_key,
                site_id=site,
                published=published,
                added_at=now,
            )
            .on_conflict_do_nothing()
            .returning(story_sections.c.story_id)
        )
        if (await conn.execute(stmt)).first() is None:
            return False, False
        elsewhere_in_site = await conn.scalar(
            select(story_sections.c.section_key)
            .where(
                story_sections.c.story_id == story_id,
                story_sections.c.site_id == site,
                story_sections.c.section_key != section_key,
            )
            .limit(1)
        )
        return True, elsewhere_in_site is None

    async def _bump(
        self, conn: AsyncConnection, new_stories: dict[str, int], now: datetime
    ) -> None:
        """Version + 1 (and story count + n) for each feed key; rows in key order."""
        if not new_stories:
            return
        stmt = self._insert(feeds).values(
            [
                {"key": key, "version": 1, "changed_at": now, "stories": new_stories[key]}
                for key in sorted(new_stories)
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[feeds.c.key],
            set_={
                "version": feeds.c.version + 1,
                "changed_at": stmt.excluded.changed_at,
                "stories": feeds.c.stories + stmt.excluded.stories,
            },
        )
        await conn.execute(stmt)

    async def _sections_of(self, conn: AsyncConnection, story_ids: Sequence[str]) -> list[AnyRow]:
        found: list[AnyRow] = []
        for chunk in _chunks(story_ids):
            query = (
                select(
                    story_sections.c.story_id,
                    story_sections.c.section_key,
                    story_sections.c.site_id,
                )
                .where(story_sections.c.story_id.in_(chunk))
                .order_by(story_sections.c.story_id, story_sections.c.section_key)
            )
            found.extend(await conn.execute(query))
        return found

    # ------------------------------------------------------------ read path

    async def feed_states(self) -> dict[str, FeedState]:
        with self._errors("reading feed states"):
            async with self._engine.connect() as conn:
                rows = await conn.execute(select(feeds))
                return {
                    row.key: FeedState(
                        key=row.key,
                        version=int(row.version),
                        changed_at=row.changed_at,
                        stories=int(row.stories),
                    )
                    for row in rows
                }

    async def stories_for(self, feed_key: str, limit: int) -> list[Story]:
        if limit <= 0:
            return []
        with self._errors(f"reading the stories of feed {feed_key!r}"):
            async with self._engine.connect() as conn:
                rows = list(await conn.execute(_feed_query(feed_key, limit)))
                sections: dict[str, list[str]] = {}
                for member in await self._sections_of(conn, [row.id for row in rows]):
                    sections.setdefault(member.story_id, []).append(member.section_key)
        return [_story(row, sections.get(row.id, [])) for row in rows]

    async def record_run(self, run: SectionRun) -> None:
        values = {
            "started": run.started,
            "finished": run.finished,
            "ok": run.ok,
            "error": run.error,
            "new_stories": run.new_stories,
            "changed_stories": run.changed_stories,
        }
        stmt = self._insert(section_runs).values(section_key=run.section_key, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[section_runs.c.section_key], set_=values)
        with self._errors(f"recording the run of {run.section_key}"):
            async with self._writing() as conn:
                await conn.execute(stmt)

    async def last_runs(self) -> dict[str, SectionRun]:
        with self._errors("reading section runs"):
            async with self._engine.connect() as conn:
                rows = await conn.execute(select(section_runs))
                return {
                    row.section_key: SectionRun(
                        section_key=row.section_key,
                        started=row.started,
                        finished=row.finished,
                        ok=bool(row.ok),
                        error=row.error,
                        new_stories=row.new_stories,
                        changed_stories=row.changed_stories,
                    )
                    for row in rows
                }


def _content_of(article: Article) -> dict[str, Any]:
    """The columns a correction replaces."""
    return {
        "url": article.url,
        "title": article.title,
        "author": article.author,
        "summary": article.summary,
        "content_html": article.body_html,
        "place": article.place,
        "agency": article.agency,
        "lead_image": article.lead_image,
    }


def _feed_query(feed_key: str, limit: int) -> Select[Any]:
    """Stories of "all", a site or a section, newest first, each once."""
    newest_first = (stories.c.published.desc(), stories.c.id.desc())
    if feed_key == ALL_FEED:
        return select(stories).order_by(*newest_first).limit(limit)
    members = select(story_sections.c.story_id, story_sections.c.published)
    if "/" in feed_key:
        members = members.where(story_sections.c.section_key == feed_key)
    else:
        members = members.where(story_sections.c.site_id == feed_key).distinct()
    page = (
        members.order_by(story_sections.c.published.desc(), story_sections.c.story_id.desc())
        .limit(limit)
        .subquery()
    )
    return select(stories).join(page, page.c.story_id == stories.c.id).order_by(*newest_first)


def _story(row: AnyRow, sections: list[str]) -> Story:
    return Story(
        id=row.id,
        key=row.key,
        url=row.url,
        site_id=row.site_id,
        title=row.title,
        content_html=row.content_html,
        summary=row.summary,
        author=row.author,
        published=row.published,
        updated=row.updated,
        first_seen=row.first_seen,
        place=row.place,
        agency=row.agency,
        lead_image=row.lead_image,
        sections=tuple(sections),
    )
