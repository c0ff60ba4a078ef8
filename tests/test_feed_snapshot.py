"""Rendered feeds kept in the store: a restarted service serves every feed at once,
with the ETag it had, before it renders anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedsvc.feedcache import FeedCache
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings, SiteConfig
from feedsvc.render import FORMATS
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECTIONS = ("spacewar/nukewars", "spacewar/missiles")


def settings() -> Settings:
    site = SiteConfig(
        id="spacewar", title="SpaceWar", url="https://www.spacewar.example/", rules=None,
        sections=tuple(
            SectionConfig("spacewar", key.partition("/")[2], key, f"https://www.spacewar.example/{key}.html", 1800.0)
            for key in SECTIONS
        ),
    )
    return Settings(storage="sqlite:///unused.db", listen_host="127.0.0.1", listen_port=0,
                    public_url="http://feeds.example.test/", fetch=FetchSettings(), sites=(site,), rules_dirs=())


def article(n: int) -> Article:
    url = f"https://www.spacewar.example/reports/Story_{n}_999.html"
    return Article(key=url, url=url, title=f"Story {n}", body_html=f"<p>Paragraph of story {n}.</p>" * 5,
                   author="Staff Writers", published=NOW - timedelta(hours=n), summary=f"Story {n}.")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'feedsvc.db'}")
    await opened.migrate()
    for n in range(6):
        await opened.save_article(article(n), "spacewar", SECTIONS[n % 2], NOW)
    yield opened
    await opened.close()


def served(cache: FeedCache) -> dict[tuple[str, str], tuple[str, bytes, bytes | None]]:
    documents = {}
    for key in cache.infos:
        for fmt in FORMATS:
            feed = cache.get(key, fmt)
            assert feed is not None, (key, fmt)
            documents[(key, fmt)] = (feed.etag, feed.gzip_body, feed.br_body)
    return documents


async def test_a_restarted_cache_serves_every_feed_as_it_was_without_rendering(store: SqlStore) -> None:
    before = FeedCache(settings())
    await before.refresh(store)
    after = FeedCache(settings())

    restored = await after.restore(store)

    assert restored == len(after.infos)
    assert served(after) == served(before)
    assert sum(after.renders.values()) == 0
    assert not after.filled  # ready only once a refresh pass has checked the versions
    assert after.status("spacewar/nukewars") == before.status("spacewar/nukewars")
    before.close()
    after.close()


async def test_the_first_pass_after_a_restore_renders_only_what_changed_meanwhile(store: SqlStore) -> None:
    before = FeedCache(settings())
    await before.refresh(store)
    await store.save_article(article(10), "spacewar", "spacewar/missiles", NOW)  # while "down"
    after = FeedCache(settings())
    await after.restore(store)
    old = served(after)

    rendered = await after.refresh(store)

    assert sorted(rendered) == ["all", "spacewar", "spacewar/missiles"]
    assert sum(after.renders.values()) == len(rendered) * len(FORMATS)
    assert after.filled
    new = served(after)
    assert new[("spacewar/nukewars", "atom")] == old[("spacewar/nukewars", "atom")]
    assert new[("spacewar/missiles", "atom")][0] != old[("spacewar/missiles", "atom")][0]
    before.close()
    after.close()


async def test_nothing_kept_means_nothing_restored(tmp_path: Path) -> None:
    opened = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    await opened.migrate()
    cache = FeedCache(settings())
    try:
        assert await cache.restore(opened) == 0
        assert cache.get("all", "atom") is None
    finally:
        cache.close()
        await opened.close()


async def test_a_store_that_keeps_nothing_is_left_alone() -> None:
    class Bare:
        async def feed_states(self) -> dict[str, object]:
            raise AssertionError("not asked")

    cache = FeedCache(settings())
    try:
        assert await cache.restore(Bare()) == 0  # type: ignore[arg-type]
    finally:
        cache.close()
