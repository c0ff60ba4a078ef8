"""The read side: the aiohttp app that serves rendered feeds, the index, OPML, health and metrics.

A feed request is two dictionary lookups and a header comparison: it never
touches the store or feedgen. Bodies come precompressed from ``FeedCache``;
this module only picks one (br, gzip, or gzip inflated for identity) and
answers conditional requests with 304. aiohttp's ``enable_compression()`` is
not used: it would answer ``gzip, deflate`` with deflate.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Protocol

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from feedsvc.errors import StoreError
from feedsvc.feedcache import ALL_FEED, FeedCache, FeedSource, RenderedFeed
from feedsvc.models import Settings
from feedsvc.pages import render_index, render_opml

FEED_MAX_AGE_CAP = 3600
AGGREGATE_MAX_AGE = 300  # site and "all" feeds
PAGE_MAX_AGE = 60  # index and OPML
PING_TIMEOUT = 5.0
_FMT = "{fmt:atom|rss|json}"
# identity is acceptable unless refused, but any coding the client lists is preferred to it
_UNLISTED = {"identity": 0.001}


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
REQUESTS_KEY = web.AppKey("http_requests", Counter)
EXECUTOR_KEY: web.AppKey[Executor | None] = web.AppKey("executor")
MAX_AGES_KEY: web.AppKey[dict[str, int]] = web.AppKey("feed_max_ages")


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
    requests = Counter(
        "feedsvc_http_requests",
        "HTTP requests served, by route and status",
        ["route", "status"],
        registry=registry,
    )
    registry.register(FeedCacheCollector(cache))

    app = web.Application(middlewares=[_count_requests])
    app[SETTINGS_KEY] = settings
    app[STORE_KEY] = store
    app[CACHE_KEY] = cache
    app[REGISTRY_KEY] = registry
    app[REQUESTS_KEY] = requests
    app[EXECUTOR_KEY] = executor
    app[MAX_AGES_KEY] = {key: feed_max_age(settings, key) for key in cache.infos}
    app[PAGES_KEY] = PageCache(
        opml=_page_body(
            render_opml(settings, cache.infos, datetime.now(UTC)),
            "text/x-opml; charset=utf-8",
            datetime.now(UTC),
        )
    )
    app.router.add_get("/feeds/all." + _FMT, _all_feed, allow_head=True)
    app.router.add_get("/feeds/{site}/{section}." + _FMT, _section_feed, allow_head=True)
    app.router.add_get("/feeds/{site}." + _FMT, _site_feed, allow_head=True)
    app.router.add_get("/", _index, allow_head=True)
    app.router.add_get("/opml", _opml, allow_head=True)
    app.router.add_get("/healthz", _healthz, allow_head=True)
    app.router.add_get("/readyz", _readyz, allow_head=True)
    app.router.add_get("/metrics", _metrics)
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
    return await _feed_response(request, key)


async def _site_feed(request: web.Request) -> web.StreamResponse:
    return await _feed_response(request, request.match_info["site"])


async def _all_feed(request: web.Request) -> web.StreamResponse:
    return await _feed_response(request, ALL_FEED)


async def _feed_response(request: web.Request, key: str) -> web.StreamResponse:
    cache = request.app[CACHE_KEY]
    feed = cache.get(key, request.match_info["fmt"])
    if feed is None:
        if key in cache.infos:
            return web.Response(
                status=503, text="feed not rendered yet\n", headers={hdrs.RETRY_AFTER: "5"}
            )
        return web.Response(status=404, text=f"no such feed: {key}\n")
    return await serve_rendered(request, feed, max_age=request.app[MAX_AGES_KEY][key])


def feed_max_age(settings: Settings, key: str) -> int:
    """Cache lifetime: half a section's refresh interval (1 min to 1 h); 5 min for site/all."""
    site_id, _, section_id = key.partition("/")
    site = settings.site(site_id)
    section = next((s for s in site.sections if s.id == section_id), None) if site else None
    if section is None:
        return AGGREGATE_MAX_AGE
    return max(60, min(int(section.every / 2), FEED_MAX_AGE_CAP))


# ---------------------------------------------------------------- serving stored bytes


async def serve_rendered(request: web.Request, body: RenderedFeed, *, max_age: int) -> web.Response:
    """Answer GET/HEAD from a rendered body: 304, br, gzip or identity (inflated from
    gzip, on the app's executor when it has one)."""
    headers = {
        hdrs.ETAG: body.etag,
        hdrs.LAST_MODIFIED: http_date(body.last_modified),
        hdrs.CACHE_CONTROL: f"public, max-age={max_age}",
        hdrs.VARY: hdrs.ACCEPT_ENCODING,
    }
    if not_modified(request, body.etag, body.last_modified):
        return web.Response(status=304, headers=headers)
    coding = choose_coding(request.headers.get(hdrs.ACCEPT_ENCODING), br=body.br_body is not None)
    if coding is None:
        return web.Response(status=406, text="no acceptable content coding\n", headers=headers)
    headers[hdrs.CONTENT_TYPE] = body.content_type
    if coding == "br" and body.br_body is not None:
        data = body.br_body
        headers[hdrs.CONTENT_ENCODING] = "br"
    elif coding == "gzip":
        data = body.gzip_body
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    elif request.method == hdrs.METH_HEAD:
        headers[hdrs.CONTENT_LENGTH] = str(body.size)  # no need to inflate for HEAD
        return web.Response(headers=headers)
    elif (executor := request.app[EXECUTOR_KEY]) is not None:
        data = await asyncio.get_running_loop().run_in_executor(executor, body.identity_body)
    else:
        data = body.identity_body()
    if request.method == hdrs.METH_HEAD:
        headers[hdrs.CONTENT_LENGTH] = str(len(data))
        return web.Response(headers=headers)
    return web.Response(body=data, headers=headers)


def not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 13.1.2/13.1.3 for GET and HEAD: If-None-Match (weak comparison) wins
    over If-Modified-Since."""
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get(hdrs.IF_MODIFIED_SINCE)
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return _utc(last_modified).replace(microsecond=0) <= since


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an If-None-Match list (or ``*``)."""
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(candidate) == wanted for candidate in _split_etags(header))


def choose_coding(accept_encoding: str | None, *, br: bool) -> str | None:
    """``"br"``, ``"gzip"`` or ``"identity"`` by q-value (ties: br, gzip, identity);
    None when nothing we have is acceptable. Never deflate. An unlisted identity is
    acceptable (RFC 9110 12.5.3) but ranks below every listed coding."""
    if accept_encoding is None:
        return "identity"
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            pname, _, pvalue = param.strip().partition("=")
            if pname.strip().lower() == "q":
                try:
                    q = float(pvalue)
                except ValueError:
                    q = 0.0
        weights["gzip" if name == "x-gzip" else name] = q
    star = weights.get("*")
    offers = (["br"] if br else []) + ["gzip", "identity"]
    best: tuple[float, int, str] | None = None
    for rank, coding in enumerate(offers):
        q = weights.get(coding, star if star is not None else _UNLISTED.get(coding, 0.0))
        if q > 0 and (best is None or q > best[0]):
            best = (q, rank, coding)
    return best[2] if best else None


def http_date(moment: datetime) -> str:
    return format_datetime(_utc(moment), usegmt=True)


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
    return await serve_rendered(request, pages.index, max_age=PAGE_MAX_AGE)


async def _opml(request: web.Request) -> web.StreamResponse:
    opml = request.app[PAGES_KEY].opml
    assert opml is not None  # rendered in build_app
    return await serve_rendered(request, opml, max_age=PAGE_MAX_AGE)


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
    if not request.app[CACHE_KEY].filled:
        return web.Response(status=503, text="feeds not rendered yet\n", headers=headers)
    return web.Response(text="ready\n", headers=headers)


async def _metrics(request: web.Request) -> web.StreamResponse:
    encoder, content_type = choose_encoder(request.headers.get(hdrs.ACCEPT, ""))
    body = encoder(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    counter = request.app[REQUESTS_KEY]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        counter.labels(route, str(exc.status)).inc()
        raise
    counter.labels(route, str(response.status)).inc()
    return response


# ---------------------------------------------------------------- internals


def _split_etags(header: str) -> list[str]:
    """Entity tags of an If-None-Match value (commas may appear inside quotes)."""
    tags: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            tags.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tags.append("".join(current).strip())
    return [tag for tag in tags if tag]


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    return tag.strip()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
