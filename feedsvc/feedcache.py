"""Rendered feeds, kept compressed, re-rendered only when their stories change.

The read side never renders per request: ``FeedCache.refresh`` compares the
store's feed versions with the rendered ones and renders (and compresses) only
the feeds that changed, off the event loop. Only compressed bodies are kept
(gzip level 9 for every format, brotli for ``brotli_formats``); the rare client
without gzip gets the gzip body inflated.

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
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import brotli

from feedsvc.errors import FeedsvcError
from feedsvc.models import Settings, Story
from feedsvc.render import CONTENT_TYPES, FORMATS, FeedInfo, feed_etag, feed_updated, render
from feedsvc.store.base import FeedState

logger = logging.getLogger(__name__)

ALL_FEED = "all"
DEFAULT_REFRESH_INTERVAL = 5.0
_FEED_URL_ENDINGS = (".xml", ".rss", ".rdf", ".atom", ".json", "/feed", "/rss")


class FeedSource(Protocol):
    """The read half of the store that the cache needs."""

    async def feed_states(self) -> dict[str, FeedState]: ...

    async def stories_for(self, feed_key: str, limit: int) -> list[Story]: ...


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
    entries: int  # entries in the rendered feed (at most feed_size)


def feed_infos(settings: Settings) -> dict[str, FeedInfo]:
    """Every configured feed: each section, each site and ``"all"``, in config order."""
    base = settings.public_url.rstrip("/")
    titles = {
        sec.key: f"{site.title}: {sec.title}" for site in settings.sites for sec in site.sections
    }
    infos: dict[str, FeedInfo] = {
        ALL_FEED: FeedInfo(
            key=ALL_FEED,
            title="All stories",
            subtitle="Full-text stories from every site, each story once",
            html_url=f"{base}/",
            self_url_base=f"{base}/feeds/{ALL_FEED}",
            section_titles=titles,
        )
    }
    for site in settings.sites:
        infos[site.id] = FeedInfo(
            key=site.id,
            title=site.title,
            subtitle=f"Full-text stories from every section of {site.title}",
            html_url=site.url,
            self_url_base=f"{base}/feeds/{site.id}",
            section_titles=titles,
        )
        for sec in site.sections:
            infos[sec.key] = FeedInfo(
                key=sec.key,
                title=titles[sec.key],
                subtitle=f"Full-text stories from the {sec.title} section of {site.title}",
                html_url=site.url if _looks_like_feed(sec.url) else sec.url,
                self_url_base=f"{base}/feeds/{sec.key}",
                section_titles=titles,
            )
    return infos


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
    ) -> None:
        self.infos: Mapping[str, FeedInfo] = feed_infos(settings)
        self._own_executor = executor is None
        self._executor: Executor = executor or ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="feedsvc-render"
        )
        self._feed_size = feed_size if feed_size is not None else settings.feed_size
        self._gzip_level = gzip_level
        self._brotli_quality = brotli_quality
        self._brotli_formats = brotli_formats
        self._concurrency = concurrency  # feeds loaded and rendered at once
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
        return sum(feed.stored_bytes for feed in self._feeds.values())

    # ---- write side

    async def refresh(self, store: FeedSource) -> list[str]:
        """Re-render the feeds whose store version changed; return their keys.

        Raises StoreError (from the store) when the versions cannot be read; a
        feed that fails to load or render is logged and retried next time.
        """
        async with self._lock:
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
        return rendered

    async def run_refresher(self, store: FeedSource, interval: float = DEFAULT_REFRESH_INTERVAL) -> None:
        """Refresh every ``interval`` seconds until cancelled (a replica's read loop)."""
        while True:
            try:
                keys = await self.refresh(store)
                if keys:
                    logger.info("re-rendered %d feeds", len(keys))
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
        stories = await store.stories_for(key, self._feed_size) if state else []
        etag = feed_etag(info, stories)
        version = _version(state)
        status = FeedStatus(
            key=key,
            version=version,
            changed_at=state.changed_at if state else None,
            stored_stories=state.stories if state else 0,
            entries=len(stories),
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
                self._executor, self._render_all, info, stories, etag, last_modified
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
        return True

    def _render_all(
        self, info: FeedInfo, stories: Sequence[Story], etag: str, last_modified: datetime
    ) -> dict[str, RenderedFeed]:
        feeds: dict[str, RenderedFeed] = {}
        for fmt in FORMATS:
            body = render(fmt, info, stories)
            br_body: bytes | None = None
            if fmt in self._brotli_formats:
                br_body = brotli.compress(body, quality=self._brotli_quality)
            feeds[fmt] = RenderedFeed(
                etag=etag,
                last_modified=last_modified,
                gzip_body=gzip.compress(body, self._gzip_level, mtime=0),
                br_body=br_body,
                content_type=CONTENT_TYPES[fmt],
                size=len(body),
            )
        return feeds


def _version(state: FeedState | None) -> int:
    return state.version if state is not None else 0


def _looks_like_feed(url: str) -> bool:
    path = urlsplit(url).path.lower().rstrip("/") or "/"
    return path.endswith(_FEED_URL_ENDINGS)
