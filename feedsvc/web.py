"""The read side: the aiohttp app that serves rendered feeds, the index, OPML, health and metrics.

A feed request is two dictionary lookups and a header comparison: it never
touches the store or feedgen. Bodies come precompressed from ``FeedCache``;
httpcache.py picks one (br, gzip, or gzip inflated for identity) and answers
conditional requests with 304. aiohttp's ``enable_compression()`` is not used:
it would answer ``gzip, deflate`` with deflate.

``?limit=N`` (1 to ``MAX_LIMIT``, else 400) serves the feed's first N entries.
RFC 5005 archive pages (``/feeds/{key}/archive/{page}.{fmt}``) are immutable:
``Cache-Control: public, max-age=31536000, immutable``. With a WebSub hub
configured, feeds carry ``Link: <hub>; rel="hub", <self>; rel="self"`` and the
hub is pinged when feeds change (websub.py).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractResource
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from feedsvc.errors import StoreError
from feedsvc.feedcache import ALL_FEED, FeedCache, FeedSource, RenderedFeed
from feedsvc.feedlimit import parse_limit
from feedsvc.httpcache import (
    AnswerHeaders,
    choose_coding,
    etag_matches,
    http_date,
    link_header,
    not_modified,
    prepare_headers,
    serve_prepared,
    serve_rendered,
)
from feedsvc.models import Settings
from feedsvc.render import FORMATS
from feedsvc.pages import render_index, render_opml
from feedsvc.status import add_status_routes
from feedsvc.websub import NOTIFIER_KEY, WebSubCollector, hub_context

__all__ = [
    "build_app",
    "build_probe_app",
    "choose_coding",
    "etag_matches",
    "feed_max_age",
    "NOTIFIER_KEY",
    "http_date",
    "not_modified",
    "serve_rendered",
]

FEED_MAX_AGE_CAP = 3600
AGGREGATE_MAX_AGE = 300  # site and "all" feeds
PAGE_MAX_AGE = 60  # index and OPML
ARCHIVE_CACHE_CONTROL = "public, max-age=31536000, immutable"
PING_TIMEOUT = 5.0
_FMT = "{fmt:atom|rss|json}"
_PAGE = "{page:[1-9][0-9]{0,8}}"


class ReadStore(FeedSource, Protocol):
    """What the web app needs from the store."""

    async def ping(self) -> None: ...


@dataclass
class PageCache:
    """The index and OPML, re-rendered when the feed cache changes, not per request."""

    index: RenderedFeed | None = None
    index_generation: int = -1
    opml: RenderedFeed | None = None


SETTINGS_KEY = web.AppKey("settings", Settings)
STORE_KEY: web.AppKey[ReadStore] = web.AppKey("store")
CACHE_KEY = web.AppKey("feed_cache", FeedCache)
REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)
PAGES_KEY = web.AppKey("pages", PageCache)
# Requests served by (route, status): a plain count per request, read by RequestCollector
# at scrape time (a prometheus Counter's labels() and lock, per request, cost a 304 ~3%).
REQUEST_COUNTS_KEY: web.AppKey[dict[tuple[str, int], int]] = web.AppKey("http_request_counts")
EXECUTOR_KEY: web.AppKey[Executor | None] = web.AppKey("executor")
MAX_AGES_KEY: web.AppKey[dict[str, int]] = web.AppKey("feed_max_ages")
#: The URL pattern each fixed feed route is counted under in the metrics.
ROUTE_LABELS_KEY: web.AppKey[dict[AbstractResource, str]] = web.AppKey("route_labels")
#: Per (feed, format): the response headers of the body being served, made on its first request.
ANSWERS_KEY: web.AppKey[dict[tuple[str, str], AnswerHeaders]] = web.AppKey("feed_answers")


def build_app(
    settings: Settings,
    store: ReadStore,
    cache: FeedCache,
    *,
    executor: Executor | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The HTTP app. Pass ``registry`` to share one metrics registry with the pipeline;
    otherwise a new one is created (``app[REGISTRY_KEY]``)."""
    registry = registry if registry is not None else CollectorRegistry()
    request_counts: dict[tuple[str, int], int] = {}
    registry.register(RequestCollector(request_counts))
    registry.register(FeedCacheCollector(cache))

    app = web.Application()
    # Counted as each response is prepared, not in a middleware: a middleware (and the one
    # aiohttp then adds) costs about 3 us per request, a tenth of a 304's whole cost.
    app.on_response_prepare.append(_count_response)
    registry.register(WebSubCollector(app))
    app[SETTINGS_KEY] = settings
    app[STORE_KEY] = store
    app[CACHE_KEY] = cache
    app[REGISTRY_KEY] = registry
    app[REQUEST_COUNTS_KEY] = request_counts
    app[EXECUTOR_KEY] = executor
    app[MAX_AGES_KEY] = {key: feed_max_age(settings, key) for key in cache.infos}
    app[ANSWERS_KEY] = {}
    app[PAGES_KEY] = PageCache(
        opml=_page_body(
            render_opml(settings, cache.infos),  # no dateCreated: the same bytes across restarts
            "text/x-opml; charset=utf-8",
            datetime(2000, 1, 1, tzinfo=UTC),
        )
    )
    if settings.websub_hub:
        app.cleanup_ctx.append(hub_context(settings.websub_hub, cache, settings.fetch.user_agent))
    # Section feeds first: the router tries routes in this order, and they are most of the traffic
    # ("all" must come before "{site}", which would match it too).
    section = app.router.add_get("/feeds/{site}/{section}." + _FMT, _section_feed, allow_head=True).resource
    every = app.router.add_get("/feeds/all." + _FMT, _all_feed, allow_head=True).resource
    site = app.router.add_get("/feeds/{site}." + _FMT, _site_feed, allow_head=True).resource
    # Every configured feed also has its own fixed path: aiohttp finds a fixed path with one dict
    # lookup (before any pattern), where a pattern costs a regular expression (a tenth of a 304).
    # Metrics count them under their pattern; the patterns answer the rest (404 for unknown feeds).
    labels = app[ROUTE_LABELS_KEY] = {}
    for key in cache.infos:
        pattern = section if "/" in key else every if key == ALL_FEED else site
        for fmt in FORMATS:
            resource = app.router.add_resource(f"/feeds/{key}.{fmt}")
            handler = partial(_feed_response, key=key, fmt=fmt)
            resource.add_route(hdrs.METH_HEAD, handler)
            resource.add_route(hdrs.METH_GET, handler)
            labels[resource] = pattern.canonical if pattern is not None else resource.canonical
    app.router.add_get(f"/feeds/{{site}}/archive/{_PAGE}.{_FMT}", _site_archive, allow_head=True)
    app.router.add_get(
        f"/feeds/{{site}}/{{section}}/archive/{_PAGE}.{_FMT}", _section_archive, allow_head=True
    )
    app.router.add_get("/", _index, allow_head=True)
    app.router.add_get("/opml", _opml, allow_head=True)
    app.router.add_get("/healthz", _healthz, allow_head=True)
    app.router.add_get("/readyz", _readyz, allow_head=True)
    app.router.add_get("/metrics", _metrics)
    add_status_routes(app, settings, cache)  # /status, /status.json (feedsvc.status)
    return app


def build_probe_app(settings: Settings, store: ReadStore) -> web.Application:
    """Only ``/healthz`` and ``/readyz`` (no cache, no feeds): for a scrape-only replica."""
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app[STORE_KEY] = store
    app.router.add_get("/healthz", _healthz, allow_head=True)
    app.router.add_get("/readyz", _readyz, allow_head=True)
    return app


class FeedCacheCollector(Collector):
    """Reads the feed cache's counters at scrape time (the cache knows nothing of Prometheus)."""

    def __init__(self, cache: FeedCache) -> None:
        self._cache = cache

    def collect(self) -> Iterable[Metric]:
        cache = self._cache
        renders = CounterMetricFamily(
            "feedsvc_feed_renders", "Feeds rendered, by format", labels=["format"]
        )
        for fmt, count in cache.renders.items():
            renders.add_metric([fmt], count)
        yield renders
        yield CounterMetricFamily(
            "feedsvc_feed_render_failures", "Feeds that failed to render", value=cache.render_failures
        )
        stories = GaugeMetricFamily(
            "feedsvc_feed_stories", "Stories stored for each feed", labels=["feed"]
        )
        entries = GaugeMetricFamily(
            "feedsvc_feed_entries", "Entries in each rendered feed", labels=["feed"]
        )
        for key, status in cache.statuses().items():
            stories.add_metric([key], status.stored_stories)
            entries.add_metric([key], status.entries)
        yield stories
        yield entries
        yield GaugeMetricFamily(
            "feedsvc_feed_cache_bytes", "Compressed feed bytes held in memory", value=cache.stored_bytes
        )
        yield GaugeMetricFamily(
            "feedsvc_feed_cache_filled",
            "1 once a first refresh of every feed has completed",
            value=int(cache.filled),
        )


# ---------------------------------------------------------------- feed routes


async def _section_feed(request: web.Request) -> web.StreamResponse:
    key = f"{request.match_info['site']}/{request.match_info['section']}"
    return await _feed_response(request, key=key, fmt=request.match_info["fmt"])


async def _site_feed(request: web.Request) -> web.StreamResponse:
    return await _feed_response(request, key=request.match_info["site"], fmt=request.match_info["fmt"])


async def _all_feed(request: web.Request) -> web.StreamResponse:
    return await _feed_response(request, key=ALL_FEED, fmt=request.match_info["fmt"])


async def _feed_response(request: web.Request, *, key: str, fmt: str) -> web.StreamResponse:
    app = request.app  # a property that looks through the match info: read once
    cache = app[CACHE_KEY]
    info = cache.infos.get(key)
    if info is None:
        return web.Response(status=404, text=f"no such feed: {key}\n")
    try:
        limit = parse_limit(request.query.get("limit")) if request.query_string else None  # no parsing for most
    except ValueError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    feed = cache.get(key, fmt)
    if feed is None:
        return web.Response(status=503, text="feed not rendered yet\n", headers={hdrs.RETRY_AFTER: "5"})
    if limit is not None:
        feed = await cache.limited(key, fmt, limit) or feed
    answers = app[ANSWERS_KEY]
    prepared = answers.get((key, fmt)) if limit is None else None
    if prepared is None or prepared.etag != feed.etag:
        links = {"hub": info.hub_url, "self": info.self_url(fmt)} if info.hub_url else {}
        prepared = prepare_headers(
            feed,
            cache_control=f"public, max-age={app[MAX_AGES_KEY][key]}",
            headers={hdrs.LINK: link_header(links)} if links else None,
        )
        if limit is None:
            answers[(key, fmt)] = prepared  # headers only: the bodies stay the cache's
    return await serve_prepared(request, feed, prepared, executor=app[EXECUTOR_KEY])


async def _section_archive(request: web.Request) -> web.StreamResponse:
    key = f"{request.match_info['site']}/{request.match_info['section']}"
    return await _archive_response(request, key)


async def _site_archive(request: web.Request) -> web.StreamResponse:
    return await _archive_response(request, request.match_info["site"])


async def _archive_response(request: web.Request, key: str) -> web.StreamResponse:
    """A closed RFC 5005 archive page: immutable, cacheable forever."""
    cache = request.app[CACHE_KEY]
    if key not in cache.infos:
        return web.Response(status=404, text=f"no such feed: {key}\n")
    if cache.status(key) is None:
        return web.Response(status=503, text="feed not rendered yet\n", headers={hdrs.RETRY_AFTER: "5"})
    page = int(request.match_info["page"])
    try:
        feed = await cache.archive(request.app[STORE_KEY], key, page, request.match_info["fmt"])
    except StoreError as exc:
        return web.Response(status=503, text=f"store unreachable: {exc}\n", headers={hdrs.RETRY_AFTER: "5"})
    if feed is None:
        return web.Response(status=404, text=f"feed {key} has no archive page {page}\n")
    return await serve_rendered(
        request, feed, cache_control=ARCHIVE_CACHE_CONTROL, executor=request.app[EXECUTOR_KEY]
    )


def feed_max_age(settings: Settings, key: str) -> int:
    """Cache lifetime: half a section's refresh interval (1 min to 1 h); 5 min for site/all."""
    site_id, _, section_id = key.partition("/")
    site = settings.site(site_id)
    section = next((s for s in site.sections if s.id == section_id), None) if site else None
    if section is None:
        return AGGREGATE_MAX_AGE
    return max(60, min(int(section.every / 2), FEED_MAX_AGE_CAP))


# ---------------------------------------------------------------- pages


async def _index(request: web.Request) -> web.StreamResponse:
    cache = request.app[CACHE_KEY]
    pages = request.app[PAGES_KEY]
    if pages.index is None or pages.index_generation != cache.generation:
        generation = cache.generation
        statuses = dict(cache.statuses())
        last = max(
            (s.changed_at for s in statuses.values() if s.changed_at is not None),
            default=datetime(2000, 1, 1, tzinfo=UTC),
            key=_utc,
        )
        html = render_index(request.app[SETTINGS_KEY], cache.infos, statuses)
        pages.index = _page_body(html, "text/html; charset=utf-8", last)
        pages.index_generation = generation
    return await serve_rendered(request, pages.index, cache_control=f"public, max-age={PAGE_MAX_AGE}")


async def _opml(request: web.Request) -> web.StreamResponse:
    opml = request.app[PAGES_KEY].opml
    assert opml is not None  # rendered in build_app
    return await serve_rendered(request, opml, cache_control=f"public, max-age={PAGE_MAX_AGE}")


def _page_body(body: bytes, content_type: str, last_modified: datetime) -> RenderedFeed:
    return RenderedFeed(
        etag=f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"',
        last_modified=last_modified,
        gzip_body=gzip.compress(body, 9, mtime=0),
        br_body=None,
        content_type=content_type,
        size=len(body),
    )


# ---------------------------------------------------------------- health and metrics


async def _healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n", headers={hdrs.CACHE_CONTROL: "no-store"})


async def _readyz(request: web.Request) -> web.StreamResponse:
    headers = {hdrs.CACHE_CONTROL: "no-store"}
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await request.app[STORE_KEY].ping()
    except StoreError as exc:
        return web.Response(status=503, text=f"store unreachable: {exc}\n", headers=headers)
    except TimeoutError:
        return web.Response(status=503, text="store unreachable: ping timed out\n", headers=headers)
    cache = request.app.get(CACHE_KEY)  # a scrape-only replica serves no feeds
    if cache is not None and not cache.filled:
        return web.Response(status=503, text="feeds not rendered yet\n", headers=headers)
    return web.Response(text="ready\n", headers=headers)


async def _metrics(request: web.Request) -> web.StreamResponse:
    encoder, content_type = choose_encoder(request.headers.get(hdrs.ACCEPT, ""))
    body = encoder(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _count_response(request: web.Request, response: web.StreamResponse) -> None:
    resource = request.match_info.route.resource
    app = request.app
    if resource is None:
        label = "unmatched"
    else:
        label = app[ROUTE_LABELS_KEY].get(resource) or resource.canonical
    key = (label, response.status)
    counts = app[REQUEST_COUNTS_KEY]
    counts[key] = counts.get(key, 0) + 1


class RequestCollector(Collector):
    """HTTP requests served, by route and status (counted in ``_count_response``)."""

    def __init__(self, counts: Mapping[tuple[str, int], int]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "feedsvc_http_requests", "HTTP requests served, by route and status", labels=["route", "status"]
        )
        for (route, status), count in sorted(self._counts.items()):
            family.add_metric([route, str(status)], count)
        yield family


# ---------------------------------------------------------------- internals


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
