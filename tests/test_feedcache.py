"""feedcache: feeds are rendered when their stories change, never per request."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import brotli
import feedparser
import pytest

from feedsvc.errors import StoreError
from feedsvc.feedcache import FeedCache, feed_infos
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings, SiteConfig
from feedsvc.render import FORMATS
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_settings(feed_size: int = 50) -> Settings:
    def site(site_id: str, title: str, sections: list[tuple[str, str]]) -> SiteConfig:
        return SiteConfig(
            id=site_id,
            title=title,
            url=f"https://www.{site_id}.example/",
            rules=None,
            sections=tuple(
                SectionConfig(site_id, sid, stitle, f"https://www.{site_id}.example/{sid}.html", 1800.0)
                for sid, stitle in sections
            ),
        )

    return Settings(
        storage="sqlite:///unused.db",
        listen_host="127.0.0.1",
        listen_port=0,
        public_url="http://feeds.example.test/",
        fetch=FetchSettings(),
        sites=(
            site("spacewar", "SpaceWar", [("nukewars", "Nuclear Wars"), ("missiles", "Missiles")]),
            site("terradaily", "TerraDaily", [("climate", "Climate")]),
        ),
        rules_dirs=(),
        feed_size=feed_size,
    )


ALL_KEYS = {"all", "spacewar", "spacewar/nukewars", "spacewar/missiles", "terradaily", "terradaily/climate"}


def article(n: int, published: datetime = NOW, body: str | None = None) -> Article:
    url = f"https://www.spacewar.example/reports/Story_{n}_999.html"
    return Article(
        key=url,
        url=url,
        title=f"Story {n}",
        body_html=body or f"<p>Full text of story {n}.</p>",
        author="Maria PANINA",
        published=published,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'feeds.db'}")
    await s.migrate()
    yield s
    await s.close()


@pytest.fixture
async def cache() -> AsyncIterator[FeedCache]:
    c = FeedCache(make_settings())
    yield c
    c.close()


def test_every_configured_feed_is_in_the_catalog_with_self_urls() -> None:
    infos = feed_infos(make_settings())
    assert set(infos) == ALL_KEYS
    assert infos["spacewar/nukewars"].self_url("atom") == (
        "http://feeds.example.test/feeds/spacewar/nukewars.atom"
    )
    assert infos["all"].html_url == "http://feeds.example.test/"
    assert infos["terradaily"].html_url == "https://www.terradaily.example/"


async def test_first_refresh_renders_every_feed_even_empty(store: SqlStore, cache: FeedCache) -> None:
    assert not cache.filled
    await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)

    assert set(await cache.refresh(store)) == ALL_KEYS
    assert cache.filled
    for key in ALL_KEYS:
        for fmt in FORMATS:
            assert cache.get(key, fmt) is not None, (key, fmt)
    assert cache.renders == {fmt: len(ALL_KEYS) for fmt in FORMATS}
    empty = feedparser.parse(cache.get("terradaily/climate", "atom").identity_body())  # type: ignore[union-attr]
    assert empty.bozo == 0 and empty.entries == []
    assert cache.get("nosuch", "atom") is None


async def test_refresh_renders_only_the_feeds_that_changed(store: SqlStore, cache: FeedCache) -> None:
    await cache.refresh(store)
    untouched = {key: cache.get(key, "atom") for key in ALL_KEYS}
    assert await cache.refresh(store) == []
    assert cache.renders == {fmt: len(ALL_KEYS) for fmt in FORMATS}

    await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
    changed = await cache.refresh(store)

    assert sorted(changed) == ["all", "spacewar", "spacewar/nukewars"]
    assert cache.renders == {fmt: len(ALL_KEYS) + 3 for fmt in FORMATS}
    for key in ALL_KEYS - set(changed):
        assert cache.get(key, "atom") is untouched[key]
    for key in changed:
        assert cache.get(key, "atom").etag != untouched[key].etag  # type: ignore[union-attr]
        status = cache.status(key)
        assert status is not None and status.stored_stories == 1 and status.entries == 1


async def test_a_version_bump_outside_the_feed_window_costs_no_render(store: SqlStore) -> None:
    cache = FeedCache(make_settings(), feed_size=1)
    try:
        await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
        await cache.refresh(store)
        renders = dict(cache.renders)
        older = article(2, published=NOW - timedelta(days=3))
        await store.save_article(older, "spacewar", "spacewar/nukewars", NOW)

        assert await cache.refresh(store) == []
        assert cache.renders == renders
        status = cache.status("spacewar/nukewars")
        assert status is not None and status.stored_stories == 2 and status.entries == 1
        assert await cache.refresh(store) == []  # the new version was recorded
    finally:
        cache.close()


async def test_bodies_are_compressed_renders_of_the_stories(store: SqlStore, cache: FeedCache) -> None:
    await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
    await cache.refresh(store)

    atom = cache.get("spacewar/nukewars", "atom")
    assert atom is not None
    plain = gzip.decompress(atom.gzip_body)
    assert plain == atom.identity_body() and len(plain) == atom.size
    assert atom.br_body is not None and brotli.decompress(atom.br_body) == plain
    assert atom.content_type == "application/atom+xml; charset=utf-8"
    assert atom.last_modified == NOW
    assert feedparser.parse(plain).entries[0].content[0].value == "<p>Full text of story 1.</p>"

    as_json = cache.get("spacewar/nukewars", "json")
    assert as_json is not None and as_json.br_body is None  # brotli only for Atom by default
    assert json.loads(as_json.identity_body())["items"][0]["title"] == "Story 1"
    assert as_json.etag == atom.etag


async def test_refresh_fails_with_store_error_and_cache_stays_unfilled(tmp_path: Path) -> None:
    unmigrated = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    cache = FeedCache(make_settings())
    try:
        with pytest.raises(StoreError):
            await cache.refresh(unmigrated)
        assert not cache.filled
    finally:
        cache.close()
        await unmigrated.close()


async def test_refresher_picks_up_new_stories(store: SqlStore, cache: FeedCache) -> None:
    task = asyncio.create_task(cache.run_refresher(store, interval=0.02))
    try:
        await store.save_article(article(7), "spacewar", "spacewar/missiles", NOW)
        for _ in range(200):
            feed = cache.get("spacewar/missiles", "json")
            if feed is not None and json.loads(feed.identity_body())["items"]:
                break
            await asyncio.sleep(0.02)
        assert feed is not None
        assert [i["title"] for i in json.loads(feed.identity_body())["items"]] == ["Story 7"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
