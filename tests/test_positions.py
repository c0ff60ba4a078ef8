"""Archive positions in the store (RFC 5005 pages are built on them), on SQLite and PostgreSQL.

Every story that joins a feed takes the feed's next position in the transaction
that adds it: positions follow arrival, are dense per feed, never change, and
stay so with several writers (replicas) at once. Migration 4 numbers the
stories of a database that had none.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from feedsvc.models import Article
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore
from feedsvc.store.story_rules import story_id_for
from test_store import Backend, backend, store  # noqa: F401  (fixtures: both backends)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def article(n: int, published: datetime | None = None) -> Article:
    url = f"https://www.spacewar.com/reports/Story_{n}_999.html"
    return Article(
        key=url,
        url=url,
        title=f"Story {n}",
        body_html=f"<p>Text of story {n}, unlike any other: {n * 7919}.</p>",
        published=published or NOW - timedelta(days=n),
    )


async def _ids_at(store: SqlStore, feed: str, first: int, last: int) -> list[str]:
    return [story.id for story in await store.stories_at(feed, first, last)]


async def test_positions_follow_arrival_per_feed(store: SqlStore) -> None:  # noqa: F811
    # 1 -> nukewars, 2 -> missiles, 3 -> nukewars, then 1 also joins missiles.
    await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
    await store.save_article(article(2), "spacewar", "spacewar/missiles", NOW + timedelta(minutes=1))
    await store.save_article(article(3), "terradaily", "terradaily/climate", NOW + timedelta(minutes=2))
    await store.add_to_section(article(1).key, "spacewar/missiles", NOW + timedelta(minutes=3))
    ids = {n: story_id_for(article(n).key) for n in (1, 2, 3)}

    expected = {
        "all": [ids[3], ids[2], ids[1]],  # newest position first; story 1 counted once
        "spacewar": [ids[2], ids[1]],
        "spacewar/nukewars": [ids[1]],
        "spacewar/missiles": [ids[1], ids[2]],  # story 1 arrived there after story 2
        "terradaily": [ids[3]],
        "terradaily/climate": [ids[3]],
    }
    for feed, wanted in expected.items():
        assert await store.last_position(feed) == len(wanted), feed
        assert await _ids_at(store, feed, 1, 100) == wanted, feed
    assert await _ids_at(store, "all", 2, 2) == [ids[2]]
    assert await store.last_position("nosuch") == 0
    assert await store.stories_at("all", 3, 2) == []


async def test_a_correction_keeps_every_position(store: SqlStore) -> None:  # noqa: F811
    for n in (1, 2):
        await store.save_article(article(n), "spacewar", "spacewar/nukewars", NOW + timedelta(minutes=n))
    before = await _ids_at(store, "spacewar/nukewars", 1, 10)
    corrected = Article(**{**article(1).__dict__, "body_html": "<p>Corrected.</p>"})
    result = await store.save_article(corrected, "spacewar", "spacewar/nukewars", NOW + timedelta(hours=1))
    assert result.changed
    assert await _ids_at(store, "spacewar/nukewars", 1, 10) == before
    assert await store.last_position("all") == 2


async def test_concurrent_writers_get_dense_unique_positions(backend: Backend) -> None:  # noqa: F811
    """Two stores over one database (two replicas): positions stay 1..n without gaps or twins."""
    first, second = open_store(backend.url), open_store(backend.url)
    await first.migrate()
    try:
        sections = ["spacewar/nukewars", "spacewar/missiles"]
        saves = [
            (first if n % 2 else second).save_article(article(n), "spacewar", sections[n % 2], NOW + timedelta(seconds=n))
            for n in range(1, 21)
        ]
        await asyncio.gather(*saves)
        for feed, count in (("all", 20), ("spacewar", 20), ("spacewar/nukewars", 10), ("spacewar/missiles", 10)):
            assert await first.last_position(feed) == count, feed
            stories = await first.stories_at(feed, 1, count)
            assert len({story.id for story in stories}) == count, feed
            rows = await backend.sql(f"SELECT position FROM feed_entries WHERE feed_key = '{feed}' ORDER BY position")
            assert [row[0] for row in rows] == list(range(1, count + 1)), feed
    finally:
        await first.close()
        await second.close()


async def test_migration_numbers_the_stories_of_an_older_database(backend: Backend) -> None:  # noqa: F811
    store = open_store(backend.url)
    await store.migrate()
    try:
        for n in range(1, 6):
            section = "spacewar/nukewars" if n != 3 else "spacewar/missiles"
            await store.save_article(article(n), "spacewar", section, NOW + timedelta(minutes=n))
        await store.add_to_section(article(1).key, "spacewar/missiles", NOW + timedelta(hours=1))
        feeds = ["all", "spacewar", "spacewar/nukewars", "spacewar/missiles"]
        numbered = {feed: await _ids_at(store, feed, 1, 100) for feed in feeds}
    finally:
        await store.close()

    # The same data in a database from before migration 4.
    await backend.sql("DROP TABLE feed_entries", "DROP TABLE feed_sequences", "DELETE FROM schema_migrations WHERE version = 4")
    again = open_store(backend.url)
    try:
        await again.migrate()
        for feed in feeds:
            assert await _ids_at(again, feed, 1, 100) == numbered[feed], feed
            assert await again.last_position(feed) == len(numbered[feed]), feed
        await again.save_article(article(9), "spacewar", "spacewar/nukewars", NOW + timedelta(days=1))
        assert await again.last_position("all") == 6  # numbering goes on after the backfill
    finally:
        await again.close()
