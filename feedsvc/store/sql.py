"""SqlStore: the Store contract on SQLAlchemy async Core, for SQLite and PostgreSQL.

Every public method is one transaction and turns database errors into
StoreError. Writes go through ``_writing``: on SQLite one writer at a time (an
asyncio.Lock, as datasette does) inside ``BEGIN IMMEDIATE``; on PostgreSQL the
story row is locked (``SELECT ... FOR UPDATE``) and feed rows are bumped in key
order, so replicas never deadlock and never double-count.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Row, Select, Table, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from feedsvc.errors import StoreError
from feedsvc.models import Article, SaveResult, Story, Validators
from feedsvc.store import alternates as alternates_sql
from feedsvc.store import identity as identity_sql
from feedsvc.store import leases as lease_sql
from feedsvc.store import migrations
from feedsvc.store import rawpages as raw_sql
from feedsvc.store import positions, rechecks, rendered, retention
from feedsvc.store.base import FeedState, Identity, KeyState, Lease, Recheck, RenderedDocument, Retention, SectionRun
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
_WRITE_STATEMENT = re.compile(r"\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


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
        # Statements sent, by (verb, table written): ("SELECT", ""), ("INSERT", "stories")...
        # Exported on /metrics, so that work done (or not done) can be counted from outside.
        self.statements: Counter[tuple[str, str]] = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", self._count_statement)
        if write_engine.sync_engine.pool is not engine.sync_engine.pool:  # not derived from engine
            event.listen(write_engine.sync_engine, "before_cursor_execute", self._count_statement)

    def __repr__(self) -> str:
        return f"<SqlStore {self.name}>"

    def _count_statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        write = _WRITE_STATEMENT.match(statement)
        if write is not None:
            self.statements[(write.group(1).split()[0].upper(), write.group(2).lower())] += 1
        else:
            self.statements[(statement.lstrip()[:6].split(" ")[0].upper(), "")] += 1

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

    async def key_states(self, keys: Iterable[str]) -> dict[str, KeyState]:
        """Keys that lead to a stored story (own key or alias) or to a tombstone."""
        with self._errors("looking up story keys"):
            async with self._engine.connect() as conn:
                return await identity_sql.key_states(conn, keys)

    async def add_alias(self, key: str, existing_key: str, now: datetime) -> bool:
        """Let ``key`` lead to the story ``existing_key`` leads to; True if that is new."""
        with self._errors(f"adding the alias {key}"):
            async with self._writing() as conn:
                state = (await identity_sql.key_states(conn, [existing_key])).get(existing_key)
                if state is None or not state.live:
                    return False
                return await identity_sql.add_alias(conn, key, state.story_id, as_utc(now))

    async def add_to_section(self, key: str, section_key: str, now: datetime) -> bool:
        site = site_of(section_key)
        with self._errors(f"adding {key} to {section_key}"):
            async with self._writing() as conn:
                row = await self._lock_story(conn, key)
                if row is None:
                    aliased = await identity_sql.story_of_alias(conn, key)
                    row = None if aliased is None else await self._lock_story(conn, aliased, by_id=True)
                if row is None:
                    raise StoreError(f"{self.name}: no stored story has the key {key!r}")
                # The page's companion stories are listed with it (identity.py).
                rows = [row, *[await self._lock_story(conn, c, by_id=True) for c in await identity_sql.companions_of(conn, {key, row.key})]]
                added = False
                for each in (r for r in rows if r is not None):
                    joined, new_in_site = await self._add_membership(
                        conn, each.id, section_key, each.published, now
                    )
                    added = added or (joined and each is row)
                    if joined:
                        bumps = {section_key: 1, site: int(new_in_site), ALL_FEED: 0}
                        # The entry's categories change in every feed it is in, not only the new one.
                        for member_of in await self._sections_of(conn, [each.id]):
                            bumps.setdefault(member_of.section_key, 0)
                            bumps.setdefault(member_of.site_id, 0)
                        await self._bump(conn, bumps, now)
        return added

    async def save_article(
        self,
        article: Article,
        site_id: str,
        section_key: str,
        now: datetime,
        *,
        identity: Identity | None = None,
        aliases: Sequence[str] = (),
    ) -> SaveResult:
        site = site_of(section_key)
        digest = content_hash(article.title, article.body_html)
        now = as_utc(now)
        with self._errors(f"saving {article.key}"):
            async with self._writing() as conn:
                row = await self._lock_story(conn, article.key)
                placed = identity_sql.NEW_STORY
                if row is None:  # a new key: an alias, a copy, a removed story or a new story (identity.py)
                    placed = await identity_sql.place(conn, article.key, site_id, identity)
                if placed.removed:
                    await retention.bury(conn, [article.key, *aliases], placed.story_id or "", now)
                    return SaveResult(story_id=placed.story_id or "", created=False, changed=False, removed=True)
                created = changed = False
                if placed.merge and placed.story_id is not None:
                    row = await self._lock_story(conn, placed.story_id, by_id=True)
                    if row is not None and placed.relink:
                        await identity_sql.relink(conn, row.id, row.key, article.key, article.url, site_id, identity, now)
                        changed = True
                        await self._update_story(conn, row, article, digest, now, identity)
                    elif row is not None:
                        await identity_sql.add_alias(conn, article.key, row.id, now)
                elif row is None:
                    # A rival replica may insert the same key meanwhile: then ours does
                    # nothing and the re-read finds theirs.
                    created = await self._insert_story(conn, article, site_id, digest, now, placed.published)
                    row = await self._lock_story(conn, article.key)
                    if created and row is not None:
                        await identity_sql.on_created(conn, row.id, article.key, article.url, identity, placed, now)
                else:
                    changed = await self._update_story(conn, row, article, digest, now, identity)
                if row is None:
                    raise StoreError(f"{self.name}: story {article.key!r} vanished while saving")
                for alias in aliases:
                    await identity_sql.add_alias(conn, alias, row.id, now)
                alternate = created and placed.primary_id is not None
                added, new_in_site = await self._add_membership(
                    conn, row.id, section_key, row.published, now
                )
                bumps: dict[str, int] = {}
                if added:
                    bumps = {section_key: 1, site: int(new_in_site), ALL_FEED: int(created and not alternate)}
                if changed or created or alternate or added:
                    # A new copy or a new link changes the "also published at" of every copy;
                    # a new section changes the entry's categories in every feed it is in.
                    members = await alternates_sql.group_members(conn, row.id) if alternate or placed.relink else [row.id]
                    for member_of in await self._sections_of(conn, members):
                        bumps.setdefault(member_of.section_key, 0)
                        bumps.setdefault(member_of.site_id, 0)
                    bumps.setdefault(ALL_FEED, 0)
                await self._bump(conn, bumps, now)
        return SaveResult(
            story_id=row.id,
            created=created,
            changed=created or changed,
            merged=placed.merge,
            alternate_of=placed.primary_id if alternate else None,
        )

    async def _lock_story(self, conn: AsyncConnection, key: str, *, by_id: bool = False) -> AnyRow | None:
        query = (
            select(
                stories.c.id, stories.c.key, stories.c.published, stories.c.content_hash, stories.c.title,
                stories.c.content_html,
            )
            .where((stories.c.id if by_id else stories.c.key) == key)
            .with_for_update()
        )
        return (await conn.execute(query)).first()

    async def _insert_story(
        self,
        conn: AsyncConnection,
        article: Article,
        site_id: str,
        digest: str,
        now: datetime,
        published: datetime | None = None,
    ) -> bool:
        """Insert a new story (``published``: its group's, for a copy); False when a rival stored the key first."""
        published = published or first_published(article, now)
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
        self,
        conn: AsyncConnection,
        row: AnyRow,
        article: Article,
        digest: str,
        now: datetime,
        identity: Identity | None = None,
    ) -> bool:
        """Replace the content when it changed (a correction); True if replaced.

        The content hash sees whitespace only; ``identity`` also tells a cosmetic change
        (typography, an ad label, a counter) from a correction.
        """
        if row.content_hash == digest:
            return False
        if identity is not None and not identity.revises(row.title, row.content_html):
            return False
        await conn.execute(
            stories.update()
            .where(stories.c.id == row.id)
            .values(content_hash=digest, updated=max(now, row.published), **_content_of(article))
        )
        if identity is not None and identity.bands:
            await identity_sql.index(conn, row.id, identity)
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
        shown = await alternates_sql.shown_in(conn, story_id, (section_key, site, ALL_FEED))
        await positions.number_entry(conn, story_id, shown)
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
                copies = await alternates_sql.alternate_links(conn, [row.id for row in rows])
        return [_story(row, sections.get(row.id, []), copies.get(row.id, ())) for row in rows]

    async def last_position(self, feed_key: str) -> int:
        with self._errors(f"reading the archive position of feed {feed_key!r}"):
            async with self._engine.connect() as conn:
                return await positions.last_position(conn, feed_key)

    async def stories_at(self, feed_key: str, first: int, last: int) -> list[Story]:
        if last < first:
            return []
        with self._errors(f"reading positions {first}-{last} of feed {feed_key!r}"):
            async with self._engine.connect() as conn:
                rows = list(await conn.execute(positions.stories_at(feed_key, first, last)))
                sections: dict[str, list[str]] = {}
                for member in await self._sections_of(conn, [row.id for row in rows]):
                    sections.setdefault(member.story_id, []).append(member.section_key)
                copies = await alternates_sql.alternate_links(conn, [row.id for row in rows])
        return [_story(row, sections.get(row.id, []), copies.get(row.id, ())) for row in rows]

    async def record_run(self, run: SectionRun) -> None:
        values = {
            "started": run.started,
            "finished": run.finished,
            "ok": run.ok,
            "error": run.error,
            "new_stories": run.new_stories,
            "changed_stories": run.changed_stories,
            "page_fetched": run.page_fetched,
        }
        stmt = self._insert(section_runs).values(section_key=run.section_key, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[section_runs.c.section_key], set_=values)
        with self._errors(f"recording the run of {run.section_key}"):
            async with self._writing() as conn:
                await conn.execute(stmt)

    async def save_rendered(self, documents: Sequence[RenderedDocument], now: datetime) -> None:
        with self._errors(f"keeping {len(documents)} rendered feed documents"):
            async with self._writing() as conn:
                await rendered.save(conn, documents, now)

    async def rendered_documents(self) -> list[RenderedDocument]:
        with self._errors("reading the rendered feeds"):
            async with self._engine.connect() as conn:
                return await rendered.load(conn)

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
                        page_fetched=row.page_fetched,
                    )
                    for row in rows
                }

    # ------------------------------------------------------------ re-checks and retention (rechecks.py, retention.py)

    async def claim_rechecks(
        self, section_key: str, now: datetime, due_before: datetime, seen_after: datetime, limit: int
    ) -> list[Recheck]:
        """Stories of the section whose pages are due for a re-check; each is marked checked ``now``."""
        with self._errors(f"claiming re-checks of {section_key}"):
            async with self._writing() as conn:
                return await rechecks.claim(conn, section_key, as_utc(now), as_utc(due_before), as_utc(seen_after), limit)

    async def expire(self, section_key: str, now: datetime, keep: Retention) -> int:
        """Apply retention to the section and by age; the number of stories removed (tombstoned)."""
        now = as_utc(now)
        with self._errors(f"applying retention to {section_key}"):
            async with self._writing() as conn:
                removed, counts = await retention.expire(conn, section_key, site_of(section_key), now, keep)
                await self._bump(conn, counts, now)
        return removed

    # ------------------------------------------------------------ section leases (see leases.py)

    async def acquire_lease(self, section_key: str, holder: str, now: datetime, ttl: float) -> bool:
        with self._errors(f"taking the lease of {section_key}"):
            async with self._writing() as conn:
                return await lease_sql.acquire(conn, section_key, holder, now, ttl)

    async def release_lease(self, section_key: str, holder: str) -> None:
        with self._errors(f"releasing the lease of {section_key}"):
            async with self._writing() as conn:
                await lease_sql.release(conn, section_key, holder)

    async def leases(self) -> dict[str, Lease]:
        with self._errors("reading section leases"):
            async with self._engine.connect() as conn:
                return await lease_sql.current(conn)

    # ------------------------------------------------------------ stored pages (see rawpages.py)

    async def save_raw_pages(
        self,
        key: str,
        site_id: str,
        url: str,
        pages: Sequence[tuple[str, str]],
        rule_file: str,
        rule_digest: str,
        teaser: str,
        now: datetime,
    ) -> None:
        with self._errors(f"saving the pages of {key}"):
            async with self._writing() as conn:
                await raw_sql.save(conn, key, site_id, url, pages, (rule_file, rule_digest), teaser, as_utc(now))

    async def raw_page_versions(self) -> list[raw_sql.VersionGroup]:
        with self._errors("reading the rule versions of stored pages"):
            async with self._engine.connect() as conn:
                return await raw_sql.version_groups(conn)

    async def raw_page_keys(self, group: raw_sql.VersionGroup) -> list[str]:
        with self._errors("listing stored pages"):
            async with self._engine.connect() as conn:
                return await raw_sql.keys_with_version(conn, group)

    async def raw_pages(self, key: str) -> raw_sql.StoredPages | None:
        with self._errors(f"reading the pages of {key}"):
            async with self._engine.connect() as conn:
                return await raw_sql.load(conn, key)

    async def mark_reextracted(self, key: str, rule_file: str, rule_digest: str, now: datetime) -> None:
        with self._errors(f"marking {key} re-extracted"):
            async with self._writing() as conn:
                await raw_sql.mark_extracted(conn, key, (rule_file, rule_digest), as_utc(now))


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
    if feed_key == ALL_FEED:  # one copy of each story: its group's primary (identity.py)
        return select(stories).where(alternates_sql.not_alternate(stories.c.id)).order_by(*newest_first).limit(limit)
    members = select(story_sections.c.story_id, story_sections.c.published)
    if "/" in feed_key:
        members = members.where(story_sections.c.section_key == feed_key)
    else:
        members = members.where(story_sections.c.site_id == feed_key).distinct()
    members = members.where(~alternates_sql.hidden_in(feed_key, story_sections.c.story_id))
    page = (
        members.order_by(story_sections.c.published.desc(), story_sections.c.story_id.desc())
        .limit(limit)
        .subquery()
    )
    return select(stories).join(page, page.c.story_id == stories.c.id).order_by(*newest_first)


def _story(row: AnyRow, sections: list[str], alternates: tuple[str, ...] = ()) -> Story:
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
        alternates=alternates,
    )
