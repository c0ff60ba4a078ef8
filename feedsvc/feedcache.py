"""Rendered feeds, kept compressed, re-rendered only when their stories change.

The read side never renders per request: ``FeedCache.refresh`` compares the
store's feed versions with the rendered ones and renders (and compresses) only
the feeds that changed, off the event loop: in the executor it is given (the
daemon gives it the CPU process pool; a thread would hold the GIL and stall
serving), else in a thread of its own. Only compressed bodies are kept
(gzip level 9 for every format, brotli for ``brotli_formats``); the rare client
without gzip gets the gzip body inflated.

A current feed holds the newest ``feed_size`` stories by published time plus
the stories of the open archive page (the newest arrivals, see archive.py), so
that together with the closed archive pages it carries every stored story
(RFC 5005). Archive pages and ``?limit=N`` variants are made on first request
and kept in a small LRU (``variants``) until their feed changes.
Listeners (``add_listener``) hear which feeds were re-rendered after every
pass but the first (the WebSub notifier is one).

Memory, for the design's 300 feeds x 50 full-text entries (~360 KB Atom each):
three gzip bodies (~100 KB each) plus one brotli Atom body (~80 KB) per feed,
about 115 MB. Measured on a 320 KB Atom feed: feedgen ~15 ms per format,
gzip -9 ~8 ms, brotli quality 6 ~5 ms and 20% smaller than gzip; quality 11
would be ~0.4 s for another 10%, too slow to pay on every change.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import brotli

from feedsvc import heap
from feedsvc.archive import (
    ARCHIVE_PAGE_SIZE,
    archive_page,
    closed_pages,
    current_page,
    open_positions,
    page_positions,
)
from feedsvc.catalog import ALL_FEED, feed_infos
from feedsvc.errors import FeedsvcError, StoreError
from feedsvc.feedlimit import limit_entries
from feedsvc.models import Settings, Story
from feedsvc.render import (
    CONTENT_TYPES,
    FORMATS,
    FeedInfo,
    FeedPage,
    feed_etag,
    feed_updated,
    render,
)
from feedsvc.store.base import FeedState, RenderedDocument

logger = logging.getLogger(__name__)

__all__ = ["ALL_FEED", "Encoder", "FeedCache", "FeedSource", "FeedStatus", "RenderedFeed", "feed_infos"]

DEFAULT_REFRESH_INTERVAL = 5.0
VARIANTS_KEPT = 128  # archive pages and ?limit= bodies kept in memory
Listener = Callable[[list[str]], None]


class FeedSource(Protocol):
    """The read half of the store that the cache needs."""

    async def feed_states(self) -> dict[str, FeedState]: ...

    async def stories_for(self, feed_key: str, limit: int) -> list[Story]: ...

    async def last_position(self, feed_key: str) -> int: ...

    async def stories_at(self, feed_key: str, first: int, last: int) -> list[Story]: ...


@runtime_checkable
class RenderingKeeper(Protocol):
    """A store that keeps rendered feeds (``store/rendered.py``): the cache saves each feed it
    renders there and, after a restart, serves them at once (``restore``)."""

    async def save_rendered(self, documents: Sequence[RenderedDocument], now: datetime) -> None: ...

    async def rendered_documents(self) -> list[RenderedDocument]: ...


@dataclass(frozen=True)
class RenderedFeed:
    """One feed in one format, as served: validators and compressed bodies."""

    etag: str
    last_modified: datetime
    gzip_body: bytes
    br_body: bytes | None
    content_type: str
    size: int  # bytes of the uncompressed body

    def identity_body(self) -> bytes:
        """The uncompressed body (inflated from gzip on each call)."""
        return zlib.decompress(self.gzip_body, wbits=31)

    @property
    def stored_bytes(self) -> int:
        return len(self.gzip_body) + len(self.br_body or b"")


@dataclass(frozen=True)
class FeedStatus:
    """What the index page and the metrics show about one feed."""

    key: str
    version: int  # 0 when the store has no stories for it
    changed_at: datetime | None
    stored_stories: int  # stories of this feed in the store
    entries: int  # entries in the rendered current feed
    last_position: int = 0  # newest archive position (see archive.py)
    archive_pages: int = 0  # closed archive pages


@dataclass(frozen=True)
class Encoder:
    """Renders and compresses feed documents. Picklable, so that the work can run in a
    process pool: feedgen and compression hold the GIL, and in a thread they would
    stall the event loop that serves the feeds."""

    gzip_level: int = 9
    brotli_quality: int = 6
    brotli_formats: frozenset[str] = frozenset({"atom"})

    def render_all(
        self,
        info: FeedInfo,
        stories: Sequence[Story],
        page: FeedPage,
        etag: str,
        last_modified: datetime,
    ) -> dict[str, RenderedFeed]:
        return {fmt: self.render_one(fmt, info, stories, page, etag, last_modified) for fmt in FORMATS}

    def render_one(
        self,
        fmt: str,
        info: FeedInfo,
        stories: Sequence[Story],
        page: FeedPage,
        etag: str,
        last_modified: datetime,
    ) -> RenderedFeed:
        return self.compressed(fmt, render(fmt, info, stories, page), etag, last_modified)

    def cut(self, fmt: str, full: RenderedFeed, count: int) -> RenderedFeed:
        body = limit_entries(fmt, full.identity_body(), count)
        etag = f'{full.etag[:-1]}-{count}"'  # W/"<hex>" -> W/"<hex>-<count>"
        return self.compressed(fmt, body, etag, full.last_modified)

    def compressed(self, fmt: str, body: bytes, etag: str, last_modified: datetime) -> RenderedFeed:
        br_body: bytes | None = None
        if fmt in self.brotli_formats:
            br_body = brotli.compress(body, quality=self.brotli_quality)
        return RenderedFeed(
            etag=etag,
            last_modified=last_modified,
            gzip_body=gzip.compress(body, self.gzip_level, mtime=0),
            br_body=br_body,
            content_type=CONTENT_TYPES[fmt],
            size=len(body),
        )


class FeedCache:
    """Per (feed key, format): the latest ``RenderedFeed``."""

    def __init__(
        self,
        settings: Settings,
        *,
        executor: Executor | None = None,
        feed_size: int | None = None,
        gzip_level: int = 9,
        brotli_quality: int = 6,
        brotli_formats: frozenset[str] = frozenset({"atom"}),
        concurrency: int = 2,
        archive_page_size: int = ARCHIVE_PAGE_SIZE,
        variants_kept: int = VARIANTS_KEPT,
    ) -> None:
        self.infos: Mapping[str, FeedInfo] = feed_infos(settings)
        self._own_executor = executor is None
        self._executor: Executor = executor or ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="feedsvc-render"
        )
        self._feed_size = feed_size if feed_size is not None else settings.feed_size
        self._encoder = Encoder(gzip_level, brotli_quality, brotli_formats)
        self._concurrency = concurrency  # feeds loaded and rendered at once
        self.archive_page_size = archive_page_size
        self._variants_kept = variants_kept
        self._variants: OrderedDict[tuple[str, str, str, int], tuple[str, RenderedFeed]] = OrderedDict()
        self._listeners: list[Listener] = []
        self._feeds: dict[tuple[str, str], RenderedFeed] = {}
        self._status: dict[str, FeedStatus] = {}
        self._versions: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self.filled = False  # True once a refresh pass has completed
        self.generation = 0  # grows whenever a rendered feed changes
        self.renders: dict[str, int] = {fmt: 0 for fmt in FORMATS}
        self.render_failures = 0

    # ---- read side (called per request: dictionary lookups only)

    def get(self, key: str, fmt: str) -> RenderedFeed | None:
        return self._feeds.get((key, fmt))

    def status(self, key: str) -> FeedStatus | None:
        return self._status.get(key)

    def statuses(self) -> Mapping[str, FeedStatus]:
        return self._status

    @property
    def stored_bytes(self) -> int:
        return sum(feed.stored_bytes for feed in self._feeds.values()) + sum(
            feed.stored_bytes for _, feed in self._variants.values()
        )

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(keys)`` after each refresh pass (but the first) that re-rendered feeds."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ---- made on request, kept until their feed changes

    async def archive(self, store: FeedSource, key: str, page: int, fmt: str) -> RenderedFeed | None:
        """Closed archive page ``page`` of a feed; None when the feed or page does not exist."""
        status = self._status.get(key)
        info = self.infos.get(key)
        if status is None or info is None or fmt not in FORMATS:
            return None
        place = archive_page(page, status.last_position, self.archive_page_size)
        if place is None:
            return None
        variant = (key, fmt, "archive", page)
        version = str(status.version)
        kept = self._variant(variant, version)
        if kept is not None:
            return kept
        stories = await store.stories_at(key, *page_positions(page, self.archive_page_size))
        etag = feed_etag(info, stories, place)
        loop = asyncio.get_running_loop()
        feed = await loop.run_in_executor(
            self._executor, self._encoder.render_one, fmt, info, stories, place, etag, feed_updated(stories)
        )
        self._keep(variant, version, feed)
        return feed

    async def limited(self, key: str, fmt: str, count: int) -> RenderedFeed | None:
        """The current feed cut to its first ``count`` entries (the feed itself when shorter)."""
        full = self._feeds.get((key, fmt))
        status = self._status.get(key)
        if full is None or status is None or count >= status.entries:
            return full
        variant = (key, fmt, "limit", count)
        kept = self._variant(variant, full.etag)
        if kept is not None:
            return kept
        loop = asyncio.get_running_loop()
        feed = await loop.run_in_executor(self._executor, self._encoder.cut, fmt, full, count)
        self._keep(variant, full.etag, feed)
        return feed

    # ---- write side

    async def restore(self, store: FeedSource) -> int:
        """Serve the documents the store kept from the last renderings (a restart answers at
        once, with the old ETags) until a refresh pass re-renders what changed since; return
        how many feeds were restored. Call before the first ``refresh``; ``filled`` stays False."""
        if not isinstance(store, RenderingKeeper):
            return 0
        async with self._lock:
            kept: dict[str, dict[str, RenderedDocument]] = {}
            for document in await store.rendered_documents():
                if document.feed_key in self.infos and document.format in FORMATS:
                    kept.setdefault(document.feed_key, {})[document.format] = document
            states = await store.feed_states()
            restored = 0
            for key, documents in kept.items():
                if len(documents) != len(FORMATS) or len({(d.version, d.etag) for d in documents.values()}) != 1:
                    continue  # not one complete rendering: the refresh pass renders it
                for fmt, d in documents.items():
                    self._feeds[(key, fmt)] = RenderedFeed(d.etag, d.last_modified, d.gzip_body, d.br_body,
                                                           d.content_type, d.size)
                first = documents[FORMATS[0]]
                state = states.get(key)
                self._versions[key] = first.version
                self._status[key] = FeedStatus(
                    key=key,
                    version=first.version,
                    changed_at=state.changed_at if state else None,
                    stored_stories=state.stories if state else 0,
                    entries=first.entries,
                    last_position=first.last_position,
                    archive_pages=closed_pages(first.last_position, self.archive_page_size),
                )
                restored += 1
            if restored:
                self.generation += 1
        return restored

    async def refresh(self, store: FeedSource) -> list[str]:
        """Re-render the feeds whose store version changed; return their keys.

        Raises StoreError (from the store) when the versions cannot be read; a
        feed that fails to load or render is logged and retried next time.
        """
        async with self._lock:
            first_pass = not self.filled
            states = await store.feed_states()
            changed = [
                key
                for key in self.infos
                if self._versions.get(key) != _version(states.get(key))
            ]
            slots = asyncio.Semaphore(self._concurrency)

            async def one(key: str) -> bool | None:
                """True: re-rendered; False: unchanged entries; None: failed."""
                async with slots:
                    try:
                        return await self._refresh_feed(store, key, states.get(key))
                    except FeedsvcError as exc:
                        logger.warning("feed %s not refreshed: %s", key, exc)
                        return None

            results = await asyncio.gather(*(one(key) for key in changed))
            rendered = [key for key, done in zip(changed, results, strict=True) if done]
            failed = results.count(None)
            if failed:
                logger.warning("%d of %d changed feeds not refreshed", failed, len(changed))
            # Ready once a pass has completed: a feed that failed answers 503 until a
            # later pass renders it, instead of keeping the whole replica unready.
            self.filled = True
        if rendered and not first_pass:
            for listener in list(self._listeners):
                listener(rendered)
        return rendered

    async def run_refresher(self, store: FeedSource, interval: float = DEFAULT_REFRESH_INTERVAL) -> None:
        """Refresh every ``interval`` seconds until cancelled (a replica's read loop)."""
        while True:
            try:
                keys = await self.refresh(store)
                if keys:
                    logger.info("re-rendered %d feeds", len(keys))
                    heap.trim()  # the replaced bodies' memory goes back to the system
            except FeedsvcError as exc:
                logger.warning("feed refresh failed: %s", exc)
            await asyncio.sleep(interval)

    def close(self) -> None:
        """Shut down the executor when the cache created it."""
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- internals

    async def _refresh_feed(self, store: FeedSource, key: str, state: FeedState | None) -> bool:
        """Load and render one feed; False when its entries did not change."""
        info = self.infos[key]
        stories: list[Story] = []
        last = 0
        if state is not None:
            last = await store.last_position(key)
            stories = await store.stories_for(key, self._feed_size)
            first_open, last_open = open_positions(last, self.archive_page_size)
            stories = _newest_first(stories, await store.stories_at(key, first_open, last_open))
        page = current_page(last, self.archive_page_size)
        etag = feed_etag(info, stories, page)
        version = _version(state)
        status = FeedStatus(
            key=key,
            version=version,
            changed_at=state.changed_at if state else None,
            stored_stories=state.stories if state else 0,
            entries=len(stories),
            last_position=last,
            archive_pages=closed_pages(last, self.archive_page_size),
        )
        current = self._feeds.get((key, FORMATS[0]))
        if current is not None and current.etag == etag:
            self._versions[key] = version
            if self._status.get(key) != status:
                self._status[key] = status
                self.generation += 1  # the index shows the counts
            return False
        last_modified = feed_updated(stories)
        if state is not None:  # an old story newly listed here changes the feed too
            changed_at = state.changed_at
            if changed_at.tzinfo is None:
                changed_at = changed_at.replace(tzinfo=UTC)
            last_modified = max(last_modified, changed_at)
        loop = asyncio.get_running_loop()
        try:
            feeds = await loop.run_in_executor(
                self._executor, self._encoder.render_all, info, stories, page, etag, last_modified
            )
        except (ValueError, TypeError) as exc:  # feedgen / lxml refusing a value
            self.render_failures += 1
            logger.exception("feed %s failed to render", key)
            raise FeedsvcError(f"feed {key} failed to render: {exc}") from exc
        for fmt, feed in feeds.items():
            self._feeds[(key, fmt)] = feed
            self.renders[fmt] += 1
        self._versions[key] = version
        self._status[key] = status
        self.generation += 1
        if isinstance(store, RenderingKeeper):
            documents = [
                RenderedDocument(key, fmt, version, f.etag, f.last_modified, f.content_type, f.size,
                                 f.gzip_body, f.br_body, status.entries, status.last_position)
                for fmt, f in feeds.items()
            ]
            try:
                await store.save_rendered(documents, datetime.now(UTC))
            except StoreError as exc:  # served all the same; only a restart renders it again
                logger.warning("feed %s: rendered bodies not kept: %s", key, exc)
        return True

    def _variant(self, variant: tuple[str, str, str, int], valid_for: str) -> RenderedFeed | None:
        kept = self._variants.get(variant)
        if kept is None or kept[0] != valid_for:
            return None
        self._variants.move_to_end(variant)
        return kept[1]

    def _keep(self, variant: tuple[str, str, str, int], valid_for: str, feed: RenderedFeed) -> None:
        self._variants[variant] = (valid_for, feed)
        self._variants.move_to_end(variant)
        while len(self._variants) > self._variants_kept:
            self._variants.popitem(last=False)


def _newest_first(*groups: Sequence[Story]) -> list[Story]:
    """Stories of several reads, each once, in feed order (published, then id, descending)."""
    by_id = {story.id: story for group in groups for story in group}
    return sorted(by_id.values(), key=lambda s: (_utc(s.published), s.id), reverse=True)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _version(state: FeedState | None) -> int:
    return state.version if state is not None else 0
