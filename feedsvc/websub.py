"""WebSub publishing: tell the configured hub which feeds changed.

Feeds advertise the hub (``rel="hub"`` in Atom and RSS, ``hubs`` in JSON Feed,
and an HTTP ``Link`` header) and their own URL (``rel="self"``), the topic a
subscriber subscribes to. When the feed cache has re-rendered a feed, the hub
gets one ``POST`` per topic (each format's URL)::

    hub.mode=publish&hub.url=https://feeds.example/feeds/spacewar/nukewars.atom

the publish ping that hubs (PubSubHubbub 0.4 and the WebSub hubs in use)
accept; the hub then fetches the topic and pushes it to its subscribers.
Pings go out only after the new bytes are being served, never on the first
fill after a start (nothing changed for subscribers), run in the background so
a slow hub never delays serving, and a failed ping is logged and counted, not
retried: the next change pings again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp import hdrs, web
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from feedsvc.feedcache import FeedCache
from feedsvc.render import FORMATS, FeedInfo

logger = logging.getLogger(__name__)

PING_TIMEOUT = 10.0
PING_CONCURRENCY = 4


def topic_urls(infos: Mapping[str, FeedInfo], keys: Iterable[str]) -> list[str]:
    """The topic URL of every format of every feed in ``keys`` (unknown keys are skipped)."""
    return [infos[key].self_url(fmt) for key in keys if key in infos for fmt in FORMATS]


@dataclass
class PingCounts:
    sent: int = 0  # accepted by the hub (2xx)
    failed: int = 0  # refused, unreachable or timed out
    last_error: str | None = None


@dataclass
class HubNotifier:
    """Sends publish pings to one hub over a session the caller owns."""

    hub_url: str
    session: aiohttp.ClientSession
    timeout: float = PING_TIMEOUT
    counts: PingCounts = field(default_factory=PingCounts)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def publish(self, topics: Sequence[str]) -> int:
        """Ping the hub for each topic; return how many pings it accepted."""
        slots = asyncio.Semaphore(PING_CONCURRENCY)

        async def one(topic: str) -> bool:
            async with slots:
                return await self._ping(topic)

        results = await asyncio.gather(*(one(topic) for topic in topics))
        return sum(results)

    def publish_later(self, topics: Sequence[str]) -> None:
        """Ping in the background (tracked, so ``close`` can wait for it)."""
        if not topics:
            return
        task = asyncio.get_running_loop().create_task(self._publish_quietly(list(topics)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background pings started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Give background pings a moment, then cancel what is left."""
        pending = list(self._tasks)
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=1.0)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)

    async def _publish_quietly(self, topics: list[str]) -> None:
        accepted = await self.publish(topics)
        logger.info("websub: hub %s accepted %d of %d pings", self.hub_url, accepted, len(topics))

    async def _ping(self, topic: str) -> bool:
        form = {"hub.mode": "publish", "hub.url": topic}
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.post(self.hub_url, data=form) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.counts.sent += 1
                        return True
                    error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.counts.failed += 1
        self.counts.last_error = error
        logger.warning("websub: ping of %s for %s failed: %s", self.hub_url, topic, error)
        return False


NOTIFIER_KEY = web.AppKey("websub_notifier", HubNotifier)


def hub_context(
    hub_url: str, cache: FeedCache, user_agent: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context: while the app runs, ping the hub for every feed the cache
    re-renders (the notifier is ``app[NOTIFIER_KEY]``)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=PING_TIMEOUT)
        async with aiohttp.ClientSession(headers={hdrs.USER_AGENT: user_agent}, timeout=timeout) as session:
            notifier = HubNotifier(hub_url, session)
            app[NOTIFIER_KEY] = notifier

            def changed(keys: list[str]) -> None:
                notifier.publish_later(topic_urls(cache.infos, keys))

            cache.add_listener(changed)
            try:
                yield
            finally:
                cache.remove_listener(changed)
                await notifier.close()

    return context


class WebSubCollector(Collector):
    """Hub pings by result, for /metrics (nothing when no hub is configured)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterable[Metric]:
        notifier = self._app.get(NOTIFIER_KEY)
        if notifier is None:
            return
        pings = CounterMetricFamily("feedsvc_websub_pings", "WebSub publish pings, by result", labels=["result"])
        pings.add_metric(["sent"], notifier.counts.sent)
        pings.add_metric(["failed"], notifier.counts.failed)
        yield pings
