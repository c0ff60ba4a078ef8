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


async def test_a_correction_outside_the_current_feed_costs_no_render(store: SqlStore) -> None:
    cache = FeedCache(make_settings(), feed_size=1, archive_page_size=1)
    try:
        older = article(2, published=NOW - timedelta(days=3))
        await store.save_article(older, "spacewar", "spacewar/nukewars", NOW)
        await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
        await cache.refresh(store)
        renders = dict(cache.renders)
        status = cache.status("spacewar/nukewars")
        assert status is not None and status.entries == 1 and status.archive_pages == 2
        page_before = await cache.archive(store, "spacewar/nukewars", 1, "json")
        assert page_before is not None

        corrected = article(2, published=NOW - timedelta(days=3), body="<p>Corrected text.</p>")
        await store.save_article(corrected, "spacewar", "spacewar/nukewars", NOW + timedelta(hours=1))

        assert await cache.refresh(store) == []  # the current feed did not change
        assert cache.renders == renders
        assert await cache.refresh(store) == []  # the new version was recorded
        page_after = await cache.archive(store, "spacewar/nukewars", 1, "json")
        assert page_after is not None and page_after.etag != page_before.etag
        items = json.loads(page_after.identity_body())["items"]
        assert [i["content_html"] for i in items] == ["<p>Corrected text.</p>"]
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


# ---------------------------------------------------------------- RFC 5005 archive pages


def _ids(feed: object) -> list[str]:
    body = feed.identity_body()  # type: ignore[attr-defined]
    return [item["id"] for item in json.loads(body)["items"]]


async def test_archive_pages_are_fixed_by_arrival_and_never_change(store: SqlStore) -> None:
    cache = FeedCache(make_settings(), feed_size=2, archive_page_size=3)
    key = "spacewar/nukewars"
    try:
        # Arrival order 1..7; published dates deliberately out of order.
        for n in range(1, 8):
            published = NOW - timedelta(days=(n * 5) % 7)
            await store.save_article(article(n, published=published), "spacewar", key, NOW + timedelta(minutes=n))
        await cache.refresh(store)
        status = cache.status(key)
        assert status is not None and (status.last_position, status.archive_pages) == (7, 2)
        ids = {n: story_id(n) for n in range(1, 8)}

        page1 = await cache.archive(store, key, 1, "json")
        page2 = await cache.archive(store, key, 2, "json")
        assert page1 is not None and page2 is not None
        assert _ids(page1) == [ids[3], ids[2], ids[1]]  # newest position first
        assert _ids(page2) == [ids[6], ids[5], ids[4]]
        assert await cache.archive(store, key, 3, "json") is None  # the open page is not archived
        assert await cache.archive(store, key, 0, "json") is None

        # The current feed: the newest two by date plus the open page (position 7).
        current = cache.get(key, "json")
        assert current is not None
        newest_two = sorted(range(1, 8), key=lambda n: (NOW - timedelta(days=(n * 5) % 7), ids[n]), reverse=True)[:2]
        assert set(_ids(current)) == {ids[n] for n in newest_two} | {ids[7]}
        assert json.loads(current.identity_body())["next_url"].endswith("/feeds/spacewar/nukewars/archive/2.json")
        # Current feed and archive pages together hold every stored story.
        assert set(_ids(current)) | set(_ids(page1)) | set(_ids(page2)) == set(ids.values())

        # Ten more stories arrive: the closed pages keep their bytes.
        before = {(page, fmt): await cache.archive(store, key, page, fmt) for page in (1, 2) for fmt in FORMATS}
        for n in range(8, 18):
            await store.save_article(article(n, published=NOW + timedelta(days=n)), "spacewar", key, NOW + timedelta(hours=n))
        await cache.refresh(store)
        assert cache.status(key).archive_pages == 5  # type: ignore[union-attr]
        for page in (1, 2):
            for fmt in FORMATS:
                again = await cache.archive(store, key, page, fmt)
                old = before[(page, fmt)]
                assert again is not None and old is not None
                assert (again.etag, again.identity_body()) == (old.etag, old.identity_body()), (page, fmt)
        unrefreshed = FeedCache(make_settings(), archive_page_size=3)
        assert await unrefreshed.archive(store, key, 1, "atom") is None  # knows no pages yet
        unrefreshed.close()
    finally:
        cache.close()


def story_id(n: int) -> str:
    from feedsvc.store.story_rules import story_id_for

    return story_id_for(article(n).key)


async def test_site_and_all_archives_hold_each_story_once(store: SqlStore) -> None:
    cache = FeedCache(make_settings(), archive_page_size=2)
    try:
        await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
        await store.save_article(article(2), "spacewar", "spacewar/nukewars", NOW)
        await store.add_to_section(article(1).key, "spacewar/missiles", NOW)  # story 1 joins a second section
        await store.save_article(article(3), "spacewar", "spacewar/missiles", NOW)
        await store.save_article(article(4), "spacewar", "spacewar/missiles", NOW)
        await cache.refresh(store)
        for key in ("spacewar", "all"):
            status = cache.status(key)
            assert status is not None and status.last_position == 4, key
            pages = [await cache.archive(store, key, page, "json") for page in (1, 2)]
            got = [i for page in pages for i in _ids(page)]
            assert sorted(got) == sorted(story_id(n) for n in range(1, 5)), key
        missiles = cache.status("spacewar/missiles")
        assert missiles is not None and missiles.last_position == 3
    finally:
        cache.close()


# ---------------------------------------------------------------- ?limit=N


async def test_limited_feeds_are_cut_from_the_rendered_feed(store: SqlStore, cache: FeedCache) -> None:
    for n in range(1, 6):
        await store.save_article(article(n, published=NOW - timedelta(hours=n)), "spacewar", "spacewar/nukewars", NOW)
    await cache.refresh(store)
    full = cache.get("spacewar/nukewars", "atom")
    assert full is not None
    for fmt in FORMATS:
        two = await cache.limited("spacewar/nukewars", fmt, 2)
        assert two is not None and two.etag != full.etag
        assert two.etag == (await cache.limited("spacewar/nukewars", fmt, 2)).etag  # type: ignore[union-attr]
        if fmt == "json":
            assert [i["title"] for i in json.loads(two.identity_body())["items"]] == ["Story 1", "Story 2"]
        else:
            parsed = feedparser.parse(two.identity_body())
            assert parsed.bozo == 0 and [e.title for e in parsed.entries] == ["Story 1", "Story 2"]
        assert await cache.limited("spacewar/nukewars", fmt, 5) is cache.get("spacewar/nukewars", fmt)
        assert await cache.limited("spacewar/nukewars", fmt, 50) is cache.get("spacewar/nukewars", fmt)
    assert await cache.limited("nosuch", "atom", 2) is None


# ---------------------------------------------------------------- listeners and restarts


async def test_listeners_hear_changed_feeds_but_not_the_first_fill(store: SqlStore, cache: FeedCache) -> None:
    heard: list[list[str]] = []
    cache.add_listener(heard.append)
    await store.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
    await cache.refresh(store)
    assert heard == []  # the first fill after a start changes nothing for subscribers
    await cache.refresh(store)
    assert heard == []  # nothing changed
    await store.save_article(article(2), "terradaily", "terradaily/climate", NOW)
    await cache.refresh(store)
    assert [sorted(keys) for keys in heard] == [["all", "terradaily", "terradaily/climate"]]
    cache.remove_listener(heard.append)
    await store.save_article(article(3), "terradaily", "terradaily/climate", NOW)
    await cache.refresh(store)
    assert len(heard) == 1


async def test_a_new_cache_over_the_same_store_renders_the_same_etags(store: SqlStore, cache: FeedCache) -> None:
    for n in range(1, 4):
        await store.save_article(article(n, published=NOW - timedelta(hours=n)), "spacewar", "spacewar/nukewars", NOW)
    await cache.refresh(store)
    restarted = FeedCache(make_settings())
    try:
        await restarted.refresh(store)
        for key in ALL_KEYS:
            for fmt in FORMATS:
                old, new = cache.get(key, fmt), restarted.get(key, fmt)
                assert old is not None and new is not None
                assert (new.etag, new.last_modified, new.identity_body()) == (old.etag, old.last_modified, old.identity_body())
    finally:
        restarted.close()
