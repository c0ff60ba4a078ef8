"""The only outbound HTTP of feedsvc.

One shared aiohttp session; per-host politeness (concurrency, minimum interval,
robots.txt and its Crawl-delay, an honest User-Agent with a contact); conditional
GET with stored validators; connect/read/total timeouts; a size cap enforced while
streaming (also on inflated bodies); manual redirects with a cap, loop detection
and a host allowlist; retries with exponential backoff and jitter per host that
honour ``Retry-After``; and a circuit breaker per host: a host that fails
``breaker_failures`` requests in a row is paused (no request at all) for
``breaker_cooldown``, then tried again, the pause doubling while it keeps failing.
aiohttp's exceptions are translated into feedsvc's here and nowhere else.

What counts against a host: timeouts, connection errors, bodies cut short, 5xx
and 429 answers. A 404, a page too large or of the wrong type is the page's
problem, not the host's: the host answered, and that resets its failure count.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit

import aiohttp
from protego import Protego

from feedsvc import charset
from feedsvc.errors import (
    FetchError,
    FetchTimeout,
    HostPaused,
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
_ROBOTS_ERROR_TTL = 60.0  # an unreachable robots.txt means "disallow all" for this long (RFC 9309)
_ROBOTS_MAX_BYTES = 500 * 1024
_MAX_COOLDOWN_FACTOR = 8
_MAX_BACKOFF_EXPONENT = 10

#: Called after every request: (host, outcome, seconds). The outcome is the HTTP status
#: ("200", "304", "503") or what ended the request: "timeout", "connect_error" (refused,
#: or closed before an answer), "bad_response" (not HTTP), "body_error" (the body was cut
#: short or would not decode), "too_large".
ResponseObserver = Callable[[str, str, float], None]


@dataclass(frozen=True)
class HostState:
    """Politeness and health of one host, as ``/status`` and ``/metrics`` show it.

    ``state`` is ``ok``; ``failing`` (some requests in a row failed); ``paused`` (the
    circuit is open: no request until ``paused_until``); or ``probing`` (the pause is
    over: the next request decides, one more failure pauses it again, longer).
    """

    host: str
    state: str
    consecutive_failures: int
    paused_until: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    delay: float  # seconds between request starts (min_delay, or robots.txt Crawl-delay)


@dataclass
class _HostGate:
    """Politeness and health state of one host."""

    slots: asyncio.Semaphore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float = -1e9
    last_end: float = -1e9  # when the last answer had been read
    delay: float = 0.0
    wait_until: float = 0.0  # backoff or Retry-After: no request starts before this
    failures: int = 0  # consecutive failed requests
    open_until: float = 0.0  # circuit open: requests fail fast before this
    open_reason: str = ""
    cooldown: float = 0.0  # the current pause length while the host keeps failing
    last_error: str | None = None
    last_error_at: datetime | None = None
    robots: Protego | None = None
    robots_expires: float = 0.0
    robots_error: str | None = None  # set while robots.txt is unreachable


def user_agent(settings: FetchSettings) -> str:
    """The User-Agent header: the configured product token and, when given, the contact."""
    agent = settings.user_agent.strip()
    contact = settings.contact.strip()
    if not contact or contact in agent:
        return agent
    if agent.endswith(")"):
        return f"{agent[:-1]}; +{contact})"
    return f"{agent} (+{contact})"


def new_session(settings: FetchSettings) -> aiohttp.ClientSession:
    """The shared client session (one per process)."""
    timeout = aiohttp.ClientTimeout(total=settings.timeout, connect=settings.connect_timeout, sock_read=settings.timeout)
    connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        headers={"User-Agent": user_agent(settings), "Accept-Encoding": "gzip, deflate"},
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
        decode_in: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._settings = settings
        self._session = session
        self._observer = observer
        self._decode_in = decode_in
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
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
        Raises HostPaused without a request while the host's circuit is open.
        """
        gate = self._gate(_host_key(url))
        attempt = 0
        while True:
            self._admit(url, gate)
            try:
                return await self._fetch_following_redirects(url, validators, accept, headers or {}, allowed_hosts)
            except _Transient as exc:
                if attempt >= self._settings.retries or self._is_open(gate):
                    raise exc.error from exc
                attempt += 1
                log.info("retrying %s (attempt %d) after: %s", url, attempt + 1, exc.error)

    def host_states(self) -> dict[str, HostState]:
        """Every host asked so far, with its politeness and health."""
        now = self._clock()
        return {host: self._host_state(host, gate, now) for host, gate in sorted(self._gates.items())}

    # ------------------------------------------------------------------ redirects and one request

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
                raise RedirectError(url, f"redirect to another site {target}, outside the configured sites: not followed")
            current = target

    async def _request(self, url: str, validators: Validators | None, accept: str, headers: Mapping[str, str]) -> Page | str:
        """One request. Returns a Page, or the Location of a redirect."""
        host = _host_key(url)
        gate = self._gate(host)
        self._admit(url, gate)
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
            self._admit(url, gate)  # the circuit may have opened while this request waited
            started = self._clock()
            outcome = "connect_error"
            try:
                async with self._session.get(url, headers=request_headers, allow_redirects=False) as response:
                    outcome = str(response.status)
                    try:
                        result = await self._read_response(url, response)
                    except _Transient:
                        raise
                    except FetchError as exc:  # the page's problem: the host itself answered
                        if isinstance(exc, TooLarge):
                            outcome = "too_large"
                        self._host_ok(gate)
                        raise
                self._host_ok(gate)
                return result
            except _Transient as exc:
                self._host_failed(gate, exc.error, exc.retry_after)
                raise
            except asyncio.TimeoutError as exc:
                outcome = "timeout"
                raise self._failure(gate, FetchTimeout(url, self._timeout_message(exc))) from exc
            except aiohttp.ClientPayloadError as exc:
                outcome = "body_error"
                raise self._failure(gate, FetchError(url, f"body cut short or corrupt: {_reason(exc)}")) from exc
            except aiohttp.TooManyRedirects as exc:
                raise RedirectError(url, str(exc)) from exc
            except aiohttp.ClientError as exc:
                got_status = outcome != "connect_error"
                if got_status:
                    outcome, what = "body_error", "connection lost while reading the body"
                elif isinstance(exc, aiohttp.ClientConnectorError):
                    what = "cannot connect"
                elif isinstance(exc, aiohttp.ClientResponseError):
                    outcome, what = "bad_response", "not a valid HTTP response"
                else:
                    what = "connection lost before an answer"
                raise self._failure(gate, FetchError(url, f"{what}: {_reason(exc)}")) from exc
            finally:
                gate.last_end = self._clock()
                elapsed = gate.last_end - started
                if self._observer is not None:
                    self._observer(host, outcome, elapsed)
                log.debug("GET %s: %s in %.0f ms", url, outcome, elapsed * 1000, extra={
                    "url": url, "status": int(outcome) if outcome.isdigit() else None, "duration_ms": round(elapsed * 1000)})

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
        if status in _RETRY_STATUSES:
            retry_after = None
            if status in (429, 503) and response.headers.get("Retry-After"):
                retry_after = parse_retry_after(response.headers["Retry-After"], self._wall())
            message = response.reason or ""
            if retry_after is not None:
                message = f"{message} (Retry-After {retry_after:g}s)".strip()
            raise _Transient(HTTPStatusError(url, status, message), retry_after)
        if status != 200:
            raise HTTPStatusError(url, status, response.reason or "")
        content_type = response.headers.get("Content-Type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime and not (mime in _TEXT_TYPES or mime.endswith("+xml")):
            raise UnsupportedContent(url, f"content type {mime!r} is not a page or a feed")
        body = await self._read_capped(url, response, self._settings.max_bytes)
        if charset.looks_binary(body):
            raise UnsupportedContent(url, f"the body is binary data, not the {mime or 'text'} it claims to be")
        # Off the event loop, in ``decode_in`` (the daemon's CPU pool) or a thread: charset
        # detection (a page declaring none) takes ~100 ms of CPU.
        text, codec = await asyncio.get_running_loop().run_in_executor(self._decode_in, charset.decode, body, response.charset)
        return Page(url, str(response.url), status, mime, body, text, codec, validators)

    async def _read_capped(self, url: str, response: aiohttp.ClientResponse, cap: int) -> bytes:
        """The body, read in chunks and abandoned as soon as it (inflated) passes ``cap``."""
        if response.content_length is not None and response.content_length > cap and not response.headers.get("Content-Encoding"):
            raise TooLarge(url, f"Content-Length {response.content_length} is over the {cap}-byte cap: not read")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                coding = response.headers.get("Content-Encoding")
                inflated = f" ({coding}-inflated)" if coding else ""
                raise TooLarge(url, f"body{inflated} passed the {cap}-byte cap: abandoned after {size} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # ------------------------------------------------------------------ politeness and health

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = _HostGate(asyncio.Semaphore(self._settings.per_host_concurrency), delay=self._settings.min_delay)
            self._gates[host] = gate
        return gate

    async def _wait_turn(self, gate: _HostGate) -> None:
        """Start a request to a host only the host's delay after the last one started and after
        the last answer was read (Crawl-delay as Yandex defines it: the wait after loading one
        page before loading the next), and not before a backoff or Retry-After runs out."""
        async with gate.lock:
            while True:
                ready = max(gate.last_start + gate.delay, gate.last_end + gate.delay, gate.wait_until)
                wait = ready - self._clock()
                if wait <= 0:
                    break
                await self._sleep(wait)
            gate.last_start = self._clock()

    def _is_open(self, gate: _HostGate) -> bool:
        return self._clock() < gate.open_until

    def _admit(self, url: str, gate: _HostGate) -> None:
        """Raise HostPaused while the host's circuit is open."""
        remaining = gate.open_until - self._clock()
        if remaining > 0:
            until = self._wall() + timedelta(seconds=remaining)
            raise HostPaused(url, f"host {_host_key(url)} is paused until {until:%Y-%m-%d %H:%M:%S} UTC ({gate.open_reason}): not requested")

    def _failure(self, gate: _HostGate, error: FetchError) -> _Transient:
        self._host_failed(gate, error, None)
        return _Transient(error)

    def _host_failed(self, gate: _HostGate, error: FetchError, retry_after: float | None) -> None:
        """Count a failed request; back off (Retry-After, else exponentially); pause a host that keeps failing."""
        host = _host_key(error.url)
        now = self._clock()
        settings = self._settings
        gate.failures += 1
        gate.last_error = str(error)
        gate.last_error_at = self._wall()
        if retry_after is not None and retry_after > settings.max_retry_after:
            self._open(gate, host, retry_after, f"it asked to retry after {retry_after:g}s (Retry-After)")
            return
        if gate.failures >= settings.breaker_failures:
            first = gate.cooldown == 0.0
            gate.cooldown = settings.breaker_cooldown if first else min(gate.cooldown * 2, settings.breaker_cooldown * _MAX_COOLDOWN_FACTOR)
            self._open(gate, host, gate.cooldown, f"{gate.failures} failed requests in a row, last: {error}")
            return
        if retry_after is not None:
            wait = retry_after
        else:
            exponent = min(gate.failures, _MAX_BACKOFF_EXPONENT) - 1
            wait = min(settings.backoff * 2.0**exponent * (0.5 + random.random()), settings.breaker_cooldown)
        gate.wait_until = max(gate.wait_until, now + wait)

    def _open(self, gate: _HostGate, host: str, seconds: float, reason: str) -> None:
        gate.open_until = self._clock() + seconds
        gate.open_reason = reason
        log.warning("pausing requests to %s for %.0fs: %s", host, seconds, reason, extra={"url": host})

    def _host_ok(self, gate: _HostGate) -> None:
        if gate.failures >= self._settings.breaker_failures or gate.cooldown:
            log.info("host answers again after %d failed requests: resuming", gate.failures)
        gate.failures = 0
        gate.cooldown = 0.0
        gate.open_until = 0.0

    def _host_state(self, host: str, gate: _HostGate, now: float) -> HostState:
        paused_until = None
        if now < gate.open_until:
            state = "paused"
            paused_until = self._wall() + timedelta(seconds=gate.open_until - now)
        elif gate.failures >= self._settings.breaker_failures or gate.cooldown:
            state = "probing"
        elif gate.failures:
            state = "failing"
        else:
            state = "ok"
        return HostState(host, state, gate.failures, paused_until, gate.last_error, gate.last_error_at, gate.delay)

    def _timeout_message(self, exc: BaseException) -> str:
        settings = self._settings
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"connect timed out after {settings.connect_timeout:g}s"
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return f"read timed out: no data for {settings.timeout:g}s"
        return f"timed out: the response took longer than the {settings.timeout:g}s total timeout"

    # ------------------------------------------------------------------ robots.txt

    async def _check_robots(self, url: str, gate: _HostGate) -> None:
        async with gate.robots_lock:  # one robots.txt request per host, however many pages wait
            if gate.robots is None or self._clock() >= gate.robots_expires:
                self._admit(url, gate)
                gate.robots, gate.robots_error, ttl = await self._load_robots(url, gate)
                gate.robots_expires = self._clock() + ttl
                crawl_delay = gate.robots.crawl_delay(self._agent_token())
                gate.delay = max(self._settings.min_delay, float(crawl_delay or 0.0))
                if crawl_delay and float(crawl_delay) > self._settings.min_delay:
                    log.info("robots.txt of %s asks for %gs between requests: kept", _host_key(url), float(crawl_delay))
        if gate.robots_error is not None:
            raise FetchError(url, f"robots.txt is unavailable ({gate.robots_error}): not fetching until it can be read")
        if not gate.robots.can_fetch(url, self._agent_token()):
            raise RobotsDisallowed(url, "disallowed by robots.txt")

    async def _load_robots(self, url: str, gate: _HostGate) -> tuple[Protego, str | None, float]:
        """(rules, the error when unreachable, seconds to keep them). Unreachable means disallow all."""
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        async with gate.slots:
            await self._wait_turn(gate)
            started = self._clock()
            outcome = "connect_error"
            error: FetchError | None = None
            try:
                async with self._session.get(robots_url, headers={"Accept": "text/plain"}, max_redirects=5) as response:
                    outcome = str(response.status)
                    if response.status >= 500 or response.status == 429:
                        error = HTTPStatusError(robots_url, response.status, response.reason or "")
                    elif response.status != 200:
                        self._host_ok(gate)
                        return Protego.parse(""), None, _ROBOTS_TTL  # no robots.txt: everything allowed
                    else:
                        body = await self._read_capped(robots_url, response, _ROBOTS_MAX_BYTES)
                        self._host_ok(gate)
                        return Protego.parse(body.decode("utf-8", "replace")), None, _ROBOTS_TTL
            except TooLarge:
                outcome = "too_large"
                log.warning("robots.txt of %s is over %d bytes: allowing all", parts.netloc, _ROBOTS_MAX_BYTES)
                return Protego.parse(""), None, _ROBOTS_TTL
            except asyncio.TimeoutError as exc:
                outcome = "timeout"
                error = FetchTimeout(robots_url, self._timeout_message(exc))
            except aiohttp.ClientError as exc:
                error = FetchError(robots_url, f"cannot read robots.txt: {_reason(exc)}")
            finally:
                gate.last_end = self._clock()
                if self._observer is not None:
                    self._observer(_host_key(url), outcome, gate.last_end - started)
        assert error is not None
        self._host_failed(gate, error, None)
        ttl = min(_ROBOTS_ERROR_TTL, self._settings.breaker_cooldown)
        log.warning("robots.txt of %s is unavailable (%s): fetching nothing there for %.0fs", parts.netloc, error, ttl)
        return Protego.parse("User-agent: *\nDisallow: /"), str(error), ttl

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


def _reason(exc: BaseException, limit: int = 200) -> str:
    """The exception's class and the first line of its message, shortened."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _host_key(url: str) -> str:
    """host[:port] lower-cased, without a leading ``www.``."""
    netloc = urlsplit(url).netloc.lower().rsplit("@", 1)[-1]
    return netloc[4:] if netloc.startswith("www.") else netloc
