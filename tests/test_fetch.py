"""Fetch: politeness, conditional GET, limits, charsets and error mapping, against a real local server."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from feedsvc.errors import FetchTimeout, HTTPStatusError, RedirectError, RobotsDisallowed, TooLarge, UnsupportedContent
from feedsvc.fetch import Fetcher, new_session, parse_retry_after
from feedsvc.models import FetchSettings, Validators

CURLY = "“We’re ready,” said Jean-Yves Le Drian in São Paulo — naïvely…"
FAST = FetchSettings(min_delay=0.0, timeout=2.0, connect_timeout=1.0, retries=0, backoff=0.01, max_bytes=100_000)


class Origin:
    """A scripted local origin that logs what it receives."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, str], float, float]] = []
        self.app = web.Application()
        self.robots = "User-agent: *\nDisallow: /private/\n"
        self.flaky_left = 0
        self.app.router.add_get("/{name:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            return await self._route(request)
        finally:
            self.log.append((request.path, dict(request.headers), started, time.monotonic()))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/robots.txt":
            return web.Response(text=self.robots)
        if path == "/page":
            etag = '"v1"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=b"<html><body>hi</body></html>", content_type="text/html", headers={"ETag": etag, "Last-Modified": "Wed, 24 Apr 2019 10:00:00 GMT"})
        if path == "/cp1252-undeclared":
            return web.Response(body=f"<html><body><p>{CURLY}</p></body></html>".encode("cp1252"), headers={"Content-Type": "text/html"})
        if path == "/cp1252-meta":
            body = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head><body>{CURLY}</body></html>'
            return web.Response(body=body.encode("cp1252"), headers={"Content-Type": "text/html"})
        if path == "/utf8-header":
            return web.Response(body=CURLY.encode("utf-8"), headers={"Content-Type": "text/html; charset=utf-8"})
        if path == "/huge":
            response = web.StreamResponse(headers={"Content-Type": "text/html"})
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x" * 10_000)
            return response
        if path == "/bomb":
            body = gzip.compress(b"<p>" + b"a" * 2_000_000 + b"</p>")
            return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
        if path == "/loop":
            raise web.HTTPFound("/loop2")
        if path == "/loop2":
            raise web.HTTPFound("/loop")
        if path == "/away":
            raise web.HTTPFound("http://elsewhere.invalid/x")
        if path == "/moved":
            raise web.HTTPMovedPermanently("/page")
        if path == "/slow":
            await asyncio.sleep(5)
            return web.Response(text="late")
        if path == "/image":
            return web.Response(body=b"\x89PNG", content_type="image/png")
        if path == "/busy":
            if self.flaky_left > 0:
                self.flaky_left -= 1
                return web.Response(status=503, headers={"Retry-After": "1"})
            return web.Response(text="<p>ok now</p>", content_type="text/html")
        if path == "/private/secret":
            return web.Response(text="secret", content_type="text/html")
        if path == "/gone":
            return web.Response(status=410)
        return web.Response(text="<p>any</p>", content_type="text/html")

    def paths(self) -> list[str]:
        return [entry[0] for entry in self.log]


@pytest.fixture
async def origin() -> AsyncIterator[tuple[Origin, str]]:
    scripted = Origin()
    server = TestServer(scripted.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield scripted, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()




async def fetch_with(settings: FetchSettings, url: str, **kwargs: object) -> object:
    async with new_session(settings) as session:
        return await Fetcher(settings, session).fetch(url, **kwargs)  # type: ignore[arg-type]


async def test_sends_user_agent_and_reads_validators(origin: tuple[Origin, str]) -> None:
    server, base = origin
    page = await fetch_with(FAST, f"{base}/page")
    assert page.status == 200 and page.text.endswith("</html>")  # type: ignore[attr-defined]
    assert page.validators == Validators('"v1"', "Wed, 24 Apr 2019 10:00:00 GMT")  # type: ignore[attr-defined]
    headers = server.log[-1][1]
    assert headers["User-Agent"].startswith("feedsvc/")
    assert "gzip" in headers["Accept-Encoding"]


async def test_conditional_get_turns_into_not_modified(origin: tuple[Origin, str]) -> None:
    server, base = origin
    page = await fetch_with(FAST, f"{base}/page", validators=Validators('"v1"', None))
    assert page.not_modified and page.status == 304 and page.body == b""  # type: ignore[attr-defined]
    assert server.log[-1][1]["If-None-Match"] == '"v1"'


@pytest.mark.parametrize("path", ["/cp1252-undeclared", "/cp1252-meta", "/utf8-header"])
async def test_charsets_come_out_right(origin: tuple[Origin, str], path: str) -> None:
    _, base = origin
    page = await fetch_with(FAST, f"{base}{path}")
    assert CURLY in page.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path, error, words",
    [
        pytest.param("/huge", TooLarge, "cap", id="size-cap-while-streaming"),
        pytest.param("/bomb", TooLarge, "cap", id="inflates-past-cap"),
        pytest.param("/loop", RedirectError, "loop", id="redirect-loop"),
        pytest.param("/away", RedirectError, "another site", id="off-site-redirect"),
        pytest.param("/image", UnsupportedContent, "image/png", id="not-a-page"),
        pytest.param("/gone", HTTPStatusError, "410", id="gone"),
        pytest.param("/private/secret", RobotsDisallowed, "robots.txt", id="robots-disallow"),
    ],
)
async def test_bad_responses_raise_clear_errors(origin: tuple[Origin, str], path: str, error: type[Exception], words: str) -> None:
    _, base = origin
    with pytest.raises(error, match=words) as caught:
        await fetch_with(FAST, f"{base}{path}")
    assert base in str(caught.value)


async def test_disallowed_path_is_never_requested(origin: tuple[Origin, str]) -> None:
    server, base = origin
    with pytest.raises(RobotsDisallowed):
        await fetch_with(FAST, f"{base}/private/secret")
    assert "/private/secret" not in server.paths()
    assert server.paths() == ["/robots.txt"]


async def test_redirect_within_site_is_followed(origin: tuple[Origin, str]) -> None:
    _, base = origin
    page = await fetch_with(FAST, f"{base}/moved")
    assert page.final_url.endswith("/page") and page.url.endswith("/moved")  # type: ignore[attr-defined]


async def test_total_timeout(origin: tuple[Origin, str]) -> None:
    _, base = origin
    settings = replace(FAST, timeout=0.5)
    with pytest.raises(FetchTimeout):
        await fetch_with(settings, f"{base}/slow")


async def test_retry_after_is_waited_out(origin: tuple[Origin, str]) -> None:
    server, base = origin
    server.flaky_left = 1
    settings = replace(FAST, retries=2)
    page = await fetch_with(settings, f"{base}/busy")
    assert "ok now" in page.text  # type: ignore[attr-defined]
    busy = [entry for entry in server.log if entry[0] == "/busy"]
    assert len(busy) == 2
    assert busy[1][2] - busy[0][3] >= 0.95  # Retry-After: 1


async def test_one_request_at_a_time_per_host_with_minimum_interval(origin: tuple[Origin, str]) -> None:
    server, base = origin
    settings = replace(FAST, min_delay=0.2, per_host_concurrency=1)
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        await asyncio.gather(*(fetcher.fetch(f"{base}/p{i}") for i in range(4)))
    pages = sorted((e for e in server.log if e[0].startswith("/p")), key=lambda e: e[2])
    assert len(pages) == 4
    for before, after in zip(pages, pages[1:]):
        assert after[2] >= before[3], "requests to one host overlapped"
        assert after[2] - before[2] >= 0.19, "minimum interval not kept"


async def test_crawl_delay_raises_the_interval(origin: tuple[Origin, str]) -> None:
    server, base = origin
    server.robots = "User-agent: *\nCrawl-delay: 0.3\n"
    async with new_session(FAST) as session:
        fetcher = Fetcher(FAST, session)
        await fetcher.fetch(f"{base}/a")
        await fetcher.fetch(f"{base}/b")
    starts = [e[2] for e in server.log if e[0] in ("/a", "/b")]
    assert starts[1] - starts[0] >= 0.29


@pytest.mark.parametrize(
    "value, seconds",
    [("120", 120.0), ("Wed, 24 Apr 2019 10:01:00 GMT", 60.0), ("soon", None)],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    now = datetime(2019, 4, 24, 10, 0, tzinfo=timezone.utc)
    assert parse_retry_after(value, now) == seconds
