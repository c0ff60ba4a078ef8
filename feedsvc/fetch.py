"""The only outbound HTTP of feedsvc.

One shared aiohttp session; per-host politeness (concurrency, minimum interval,
robots.txt and its Crawl-delay); conditional GET with stored validators;
connect/total timeouts; a size cap enforced while streaming (also on inflated
bodies); manual redirects with a cap, loop detection and a host allowlist;
retries with exponential backoff and jitter that honour ``Retry-After``.
aiohttp's exceptions are translated into feedsvc's here and nowhere else.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import aiohttp
from protego import Protego

from feedsvc import charset
from feedsvc.errors import (
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    RedirectError,
    RobotsDisallowed,
    TooLarge,
    UnsupportedContent,
)
from feedsvc.models import FetchSettings, Page, Validators

log = logging.getLogger(__name__)

HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
FEED_ACCEPT = "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,text/html;q=0.8,*/*;q=0.5"
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml", "application/rss+xml", "application/atom+xml", "application/rdf+xml", "text/plain")
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_ROBOTS_TTL = 24 * 3600.0

#: Called after every response: (host, status or 0 for a network error, seconds).
ResponseObserver = Callable[[str, int, float], None]


@dataclass
class _HostGate:
    """Politeness state of one host: a slot limit and the time of the last request start."""

    slots: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = -1e9
    delay: float = 0.0
    paused_until: float = 0.0
    robots: Protego | None = None
    robots_expires: float = 0.0


def new_session(settings: FetchSettings) -> aiohttp.ClientSession:
    """The shared client session (one per process)."""
    timeout = aiohttp.ClientTimeout(total=settings.timeout, connect=settings.connect_timeout, sock_read=settings.timeout)
    connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
        auto_decompress=True,
    )


class Fetcher:
    """Polite, bounded fetching of pages over one shared session."""

    def __init__(
        self,
        settings: FetchSettings,
        session: aiohttp.ClientSession,
        *,
        observer: ResponseObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._session = session
        self._observer = observer
        self._clock = clock
        self._sleep = sleep
        self._gates: dict[str, _HostGate] = {}

    async def fetch(
        self,
        url: str,
        validators: Validators | None = None,
        *,
        accept: str = HTML_ACCEPT,
        headers: Mapping[str, str] | None = None,
        allowed_hosts: Collection[str] | None = None,
    ) -> Page:
        """GET ``url``; a 304 answer gives a Page with ``not_modified=True`` and no body.

        ``allowed_hosts`` limits where redirects may lead (the page's own host is always allowed).
        """
        attempt = 0
        while True:
            try:
                return await self._fetch_following_redirects(url, validators, accept, headers or {}, allowed_hosts)
            except (FetchTimeout, HTTPStatusError, _Transient) as exc:
                retry_after = exc.retry_after if isinstance(exc, _Transient) else None
                status = exc.status if isinstance(exc, HTTPStatusError) else None
                retriable = isinstance(exc, (FetchTimeout, _Transient)) or status in _RETRY_STATUSES
                if not retriable or attempt >= self._settings.retries:
                    if isinstance(exc, _Transient):
                        raise exc.error from exc
                    raise
                attempt += 1
                wait = self._backoff(attempt, retry_after)
                log.info("retrying %s in %.1fs after %s (attempt %d)", url, wait, exc, attempt)
                await self._sleep(wait)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._settings.max_retry_after)
        base: float = self._settings.backoff * 2.0 ** (attempt - 1)
        return base * (0.5 + random.random())

    async def _fetch_following_redirects(
        self,
        url: str,
        validators: Validators | None,
        accept: str,
        headers: Mapping[str, str],
        allowed_hosts: Collection[str] | None,
    ) -> Page:
        seen: list[str] = []
        current = url
        allowed = {_host_key(url), *(_host_key("//" + h) for h in (allowed_hosts or ()))}
        while True:
            if current in seen:
                raise RedirectError(url, f"redirect loop through {current}")
            if len(seen) > self._settings.max_redirects:
                raise RedirectError(url, f"more than {self._settings.max_redirects} redirects")
            seen.append(current)
            # Validators belong to the URL asked for; a redirect target is fetched fresh.
            result = await self._request(current, validators if current == url else None, accept, headers)
            if isinstance(result, Page):
                return Page(url, result.final_url, result.status, result.content_type, result.body, result.text, result.charset, result.validators, result.not_modified)
            target = urljoin(current, result)
            if urlsplit(target).scheme not in ("http", "https"):
                raise RedirectError(url, f"redirect to a non-HTTP URL {target}")
            if _host_key(target) not in allowed:
                raise RedirectError(url, f"redirect to another site {target}")
            current = target

    async def _request(self, url: str, validators: Validators | None, accept: str, headers: Mapping[str, str]) -> Page | str:
        """One request. Returns a Page, or the Location of a redirect."""
        host = _host_key(url)
        gate = self._gate(host)
        if self._settings.obey_robots:
            await self._check_robots(url, gate)
        request_headers = {"Accept": accept, **headers}
        if validators:
            if validators.etag:
                request_headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                request_headers["If-Modified-Since"] = validators.last_modified
        async with gate.slots:
            await self._wait_turn(gate)
            started = self._clock()
            status = 0
            try:
                async with self._session.get(url, headers=request_headers, allow_redirects=False) as response:
                    status = response.status
                    return await self._read_response(url, response)
            except asyncio.TimeoutError as exc:
                raise FetchTimeout(url, f"timed out (timeout {self._settings.timeout:g}s)") from exc
            except aiohttp.ClientPayloadError as exc:
                raise _Transient(FetchError(url, f"body cut short: {exc}")) from exc
            except aiohttp.TooManyRedirects as exc:
                raise RedirectError(url, str(exc)) from exc
            except aiohttp.ClientError as exc:
                raise _Transient(FetchError(url, f"connection failed: {exc}")) from exc
            finally:
                if self._observer is not None:
                    self._observer(host, status, self._clock() - started)

    async def _read_response(self, url: str, response: aiohttp.ClientResponse) -> Page | str:
        status = response.status
        if status in (301, 302, 303, 307, 308):
            location = response.headers.get("Location")
            if not location:
                raise RedirectError(url, f"HTTP {status} without a Location header")
            return location
        validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
        if status == 304:
            return Page(url, url, 304, "", b"", "", None, validators, not_modified=True)
        if status in (429, 503) and response.headers.get("Retry-After"):
            retry_after = parse_retry_after(response.headers["Retry-After"], datetime.now(timezone.utc))
            raise _Transient(HTTPStatusError(url, status, "asked to retry later"), retry_after)
        if status != 200:
            raise HTTPStatusError(url, status, response.reason or "")
        content_type = response.headers.get("Content-Type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime and not (mime in _TEXT_TYPES or mime.endswith("+xml")):
            raise UnsupportedContent(url, f"content type {mime!r} is not a page or a feed")
        body = await self._read_capped(url, response)
        text, codec = charset.decode(body, response.charset)
        return Page(url, str(response.url), status, mime, body, text, codec, validators)

    async def _read_capped(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        cap = self._settings.max_bytes
        if response.content_length is not None and response.content_length > cap and not response.headers.get("Content-Encoding"):
            raise TooLarge(url, f"Content-Length {response.content_length} is over the {cap}-byte cap")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                raise TooLarge(url, f"body passed the {cap}-byte cap")
            chunks.append(chunk)
        return b"".join(chunks)

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = _HostGate(asyncio.Semaphore(self._settings.per_host_concurrency), delay=self._settings.min_delay)
            self._gates[host] = gate
        return gate

    async def _wait_turn(self, gate: _HostGate) -> None:
        """Keep request starts to one host at least the host's delay apart."""
        async with gate.lock:
            wait = gate.last_start + gate.delay - self._clock()
            if wait > 0:
                await self._sleep(wait)
            gate.last_start = self._clock()

    async def _check_robots(self, url: str, gate: _HostGate) -> None:
        if gate.robots is None or self._clock() >= gate.robots_expires:
            gate.robots = await self._load_robots(url, gate)
            gate.robots_expires = self._clock() + _ROBOTS_TTL
            crawl_delay = gate.robots.crawl_delay(self._agent_token())
            gate.delay = max(self._settings.min_delay, float(crawl_delay or 0.0))
        if not gate.robots.can_fetch(url, self._agent_token()):
            raise RobotsDisallowed(url, "disallowed by robots.txt")

    async def _load_robots(self, url: str, gate: _HostGate) -> Protego:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        async with gate.slots:
            await self._wait_turn(gate)
            started = self._clock()
            status = 0
            try:
                async with self._session.get(robots_url, headers={"Accept": "text/plain"}) as response:
                    status = response.status
                    if status >= 500:
                        log.warning("robots.txt of %s answered %d: treating the site as disallowed for now", parts.netloc, status)
                        return Protego.parse("User-agent: *\nDisallow: /")
                    if status != 200:
                        return Protego.parse("")
                    body = await self._read_capped(robots_url, response)
                    return Protego.parse(body.decode("utf-8", "replace"))
            except (aiohttp.ClientError, asyncio.TimeoutError, FetchError) as exc:
                log.warning("robots.txt of %s could not be read (%s): allowing all", parts.netloc, exc)
                return Protego.parse("")
            finally:
                if self._observer is not None:
                    self._observer(_host_key(url), status, self._clock() - started)

    def _agent_token(self) -> str:
        return self._settings.user_agent.split("/", 1)[0].split()[0] or "*"


class _Transient(Exception):
    """Internal: a retriable failure carrying the error to raise when retries run out."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _host_key(url: str) -> str:
    """host[:port] lower-cased, without a leading ``www.``."""
    netloc = urlsplit(url).netloc.lower().rsplit("@", 1)[-1]
    return netloc[4:] if netloc.startswith("www.") else netloc
