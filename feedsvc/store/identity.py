"""Story identity in the store: aliases, copies of one story, the near-duplicate index (migration 3).

A story is one row of ``stories`` under its *own key*, the canonical URL of the page
whose content it holds. Other keys may lead to the same row (``story_aliases``): the
final URL of a redirect, a companion story that is the story's standalone page
elsewhere (and the other way round).

Copies of one wire story on other pages (another site, or the same site re-posting
it) are rows of their own: each is an *alternate* of the group's *primary*, the copy
seen first (``story_alternates``; how feeds show them: alternates.py).

The near-duplicate index is ``story_bands`` (LSH band key -> story, a primary-key
index) plus one opaque sketch per story (``story_fingerprints``). A lookup reads the
rows of a story's few dozen band keys and lets the caller's judge compare the
candidates' sketches, so its cost does not grow with the number of stories. On
PostgreSQL the band keys are locked first (transaction-scoped advisory locks taken
in key order), so two replicas storing two copies at once are serialised and the
second finds the first.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    Row,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from feedsvc.store import alternates
from feedsvc.store.base import Identity, KeyState
from feedsvc.store.schema import (
    metadata,
    stories,
    stories_first_seen,
    story_aliases,
    story_alternates,
    story_bands,
    story_checks,
    story_fingerprints,
    tombstones,
)

AnyRow = Row[Unpack[tuple[Any, ...]]]

ALL_FEED = "all"
CANDIDATES = 16  # stories sharing the most band keys that are judged, at most
_CHUNK = 500
IDENTITY_TABLES = (story_aliases, story_alternates, story_fingerprints, story_bands, story_checks, tombstones)
_LOCK_BANDS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(:keys) AS t(k) ORDER BY k) AS sorted"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))


def create_identity_tables(conn: Connection) -> None:
    """Migration step 3: the identity tables; stories already stored become due for re-checks."""
    metadata.create_all(conn, tables=list(IDENTITY_TABLES))
    stories_first_seen.create(conn, checkfirst=True)
    conn.execute(
        insert(story_checks).from_select(
            ["story_id", "url", "checked_at"],
            select(stories.c.id, stories.c.url, stories.c.first_seen).where(~stories.c.key.contains("#")),
        )
    )


def is_companion_key(key: str) -> bool:
    """Companion stories live under ``<page key>#<slug>``; canonical page keys have no fragment."""
    return "#" in key


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _insert(conn: AsyncConnection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


# ------------------------------------------------------------------ keys


async def key_states(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, KeyState]:
    """Every key that leads somewhere: to a live story (own key or alias) or to a tombstone."""
    wanted = sorted(set(keys))
    found: dict[str, KeyState] = {}
    for chunk in _chunks(wanted):
        for row in await conn.execute(select(tombstones.c.key, tombstones.c.story_id).where(tombstones.c.key.in_(chunk))):
            found[row.key] = KeyState(row.story_id, live=False)
        for row in await conn.execute(
            select(story_aliases.c.key, story_aliases.c.story_id).where(story_aliases.c.key.in_(chunk))
        ):
            found[row.key] = KeyState(row.story_id, live=True)
        for row in await conn.execute(select(stories.c.key, stories.c.id).where(stories.c.key.in_(chunk))):
            found[row.key] = KeyState(row.id, live=True)
    return found


async def story_of_alias(conn: AsyncConnection, key: str) -> str | None:
    found = await conn.scalar(select(story_aliases.c.story_id).where(story_aliases.c.key == key))
    return None if found is None else str(found)


async def add_alias(conn: AsyncConnection, key: str, story_id: str, now: datetime) -> bool:
    """Let ``key`` lead to the story; False when it already leads somewhere (or is a story's own key)."""
    if await conn.scalar(select(stories.c.id).where(stories.c.key == key)) is not None:
        return False
    stmt = (
        _insert(conn, story_aliases)
        .values(key=key, story_id=story_id, added_at=now)
        .on_conflict_do_nothing()
        .returning(story_aliases.c.key)
    )
    return (await conn.execute(stmt)).first() is not None


async def companions_of(conn: AsyncConnection, page_keys: Iterable[str]) -> list[str]:
    """The stories of the companions split out of the pages ``page_keys`` (keys ``<page key>#<slug>``)."""
    found: list[str] = []
    for page in sorted(set(page_keys)):
        # A key range, not LIKE: it uses the unique indexes on both dialects ("$" follows "#").
        low, high = page + "#", page + "$"
        found += await conn.scalars(select(stories.c.id).where(stories.c.key >= low, stories.c.key < high))
        found += await conn.scalars(
            select(story_aliases.c.story_id).where(story_aliases.c.key >= low, story_aliases.c.key < high)
        )
    return sorted(set(found))


# ------------------------------------------------------------------ placing a new story


@dataclass(frozen=True)
class Placement:
    """Where a story under a key the store does not hold yet goes."""

    story_id: str | None = None  # the stored story it is one with (merge) or a copy of a removed one
    merge: bool = False  # no row of its own: its key becomes an alias of ``story_id``
    relink: bool = False  # ... and, being a standalone page, it becomes that story's page
    removed: bool = False  # a key or copy of a removed story: not taken in
    primary_id: str | None = None  # a row of its own, an alternate of this primary
    published: datetime | None = None  # the group's published time (for an alternate)


NEW_STORY = Placement()


async def place(conn: AsyncConnection, key: str, site_id: str, identity: Identity | None) -> Placement:
    """Decide, inside the write transaction, what a story under a new key is."""
    aliased = await story_of_alias(conn, key)
    if aliased is not None:
        return Placement(story_id=aliased, merge=True)
    buried = await conn.scalar(select(tombstones.c.story_id).where(tombstones.c.key == key))
    if buried is not None:
        return Placement(story_id=str(buried), removed=True)
    if identity is None or not identity.bands:
        return NEW_STORY
    found = await _find_copy(conn, identity)
    if found is None:
        return NEW_STORY
    story_id, live = found
    if not live:
        return Placement(story_id=story_id, removed=True)
    copy = (
        await conn.execute(
            select(stories.c.id, stories.c.key, stories.c.published, story_alternates.c.primary_id)
            .outerjoin(story_alternates, story_alternates.c.story_id == stories.c.id)
            .where(stories.c.id == story_id)
        )
    ).first()
    if copy is None:
        return NEW_STORY
    if is_companion_key(key):
        return Placement(story_id=await _member_on_site(conn, copy, site_id), merge=True)
    if is_companion_key(copy.key):
        return Placement(story_id=copy.id, merge=True, relink=True)
    if copy.primary_id is None:
        return Placement(primary_id=copy.id, published=copy.published)
    published = await conn.scalar(select(stories.c.published).where(stories.c.id == copy.primary_id))
    return Placement(primary_id=copy.primary_id, published=published)


async def _find_copy(conn: AsyncConnection, identity: Identity) -> tuple[str, bool] | None:
    """The stored story the judge finds closest to ``identity`` (id, live), if any."""
    bands = sorted(set(identity.bands))
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK_BANDS, {"keys": bands})
    hits = func.count().label("hits")
    candidates = [
        row.seq
        for row in await conn.execute(
            select(story_bands.c.seq, hits)
            .where(story_bands.c.band.in_(bands))
            .group_by(story_bands.c.seq)
            .order_by(hits.desc(), story_bands.c.seq)
            .limit(CANDIDATES)
        )
    ]
    if not candidates:
        return None
    best: tuple[float, str, bool] | None = None
    sketches = select(story_fingerprints).where(story_fingerprints.c.seq.in_(candidates))
    for row in await conn.execute(sketches):
        score = identity.judge(bytes(row.sketch))
        if score is not None and (best is None or (score, row.story_id) > best[:2]):
            best = (score, row.story_id, bool(row.live))
    return None if best is None else (best[1], best[2])


async def _member_on_site(conn: AsyncConnection, copy: AnyRow, site_id: str) -> str:
    """The earliest copy of the group on ``site_id``, else ``copy`` itself."""
    primary = copy.primary_id or copy.id
    for member in await alternates.group_members(conn, primary):
        if await conn.scalar(select(stories.c.site_id).where(stories.c.id == member)) == site_id:
            return member
    return str(copy.id)


async def on_created(
    conn: AsyncConnection, story_id: str, key: str, url: str, identity: Identity | None, placement: Placement, now: datetime
) -> None:
    """Record what a new row is: an alternate, an indexed sketch, a page to re-check."""
    if placement.primary_id is not None:
        await conn.execute(
            _insert(conn, story_alternates)
            .values(story_id=story_id, primary_id=placement.primary_id, added_at=now)
            .on_conflict_do_nothing()
        )
    if identity is not None and identity.bands:
        await index(conn, story_id, identity)
    if not is_companion_key(key):
        await note_page(conn, story_id, url, now)


async def relink(
    conn: AsyncConnection,
    story_id: str,
    old_key: str,
    new_key: str,
    url: str,
    site_id: str,
    identity: Identity | None,
    now: datetime,
) -> None:
    """The companion story ``old_key`` is the standalone page ``new_key``: the page becomes its home.

    The row keeps its id and published time; its own key, link and site become the
    page's, the companion's key an alias; the page is re-checked from now on.
    """
    await conn.execute(update(stories).where(stories.c.id == story_id).values(key=new_key, url=url, site_id=site_id))
    await add_alias(conn, old_key, story_id, now)
    if identity is not None and identity.bands:
        await index(conn, story_id, identity)
    await note_page(conn, story_id, url, now)


async def index(conn: AsyncConnection, story_id: str, identity: Identity) -> None:
    """(Re)index the story's sketch under its band keys."""
    bands = sorted(set(identity.bands))
    packed = struct.pack(f"<{len(bands)}q", *bands)
    values = {"sketch": identity.sketch, "bands": packed, "live": True}
    row = (
        await conn.execute(
            select(story_fingerprints.c.seq, story_fingerprints.c.bands).where(story_fingerprints.c.story_id == story_id)
        )
    ).first()
    if row is None:
        stmt = insert(story_fingerprints).values(story_id=story_id, **values).returning(story_fingerprints.c.seq)
        seq = int((await conn.execute(stmt)).scalar_one())
    else:
        seq = int(row.seq)
        old = list(struct.unpack(f"<{len(row.bands) // 8}q", bytes(row.bands)))
        if old:
            await conn.execute(delete(story_bands).where(story_bands.c.band.in_(old), story_bands.c.seq == seq))
        await conn.execute(update(story_fingerprints).where(story_fingerprints.c.seq == seq).values(**values))
    if bands:
        await conn.execute(insert(story_bands), [{"band": band, "seq": seq} for band in bands])


async def note_page(conn: AsyncConnection, story_id: str, url: str, now: datetime) -> None:
    """The page of a story to re-check for corrections, checked ``now``."""
    stmt = _insert(conn, story_checks).values(story_id=story_id, url=url, checked_at=now)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[story_checks.c.story_id], set_={"url": url}))
