"""Fetch: politeness, conditional GET, limits, charsets, faults, the circuit breaker and error
mapping, against real local servers (a scripted one, and the fixture origin with its fault modes)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from feedsvc.config import parse_settings
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
from feedsvc.fetch import Fetcher, new_session, parse_retry_after, user_agent
from feedsvc.models import FetchSettings, Page, Validators
from feedsvc.service import runtime
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
CURLY = "“We’re ready,” said Jean-Yves Le Drian in São Paulo — naïvely…"
FAST = FetchSettings(min_delay=0.0, timeout=2.0, connect_timeout=1.0, retries=0, backoff=0.01, max_bytes=100_000)
ARTICLE = "/reports/Arianespace_books_three_Vega_C_launches_999.html"


class Scripted:
    """A scripted local origin that logs what it receives."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, str], float, float]] = []
        self.app = web.Application()
        self.robots = "User-agent: *\nDisallow: /private/\n"
        self.robots_status = 200
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
            return web.Response(text=self.robots, status=self.robots_status)
        if path == "/page":
            etag = '"v1"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=b"<html><body>hi</body></html>", content_type="text/html", headers={"ETag": etag, "Last-Modified": "Wed, 24 Apr 2019 10:00:00 GMT"})
        if path.startswith("/charset/"):
            return _charset_case(path.removeprefix("/charset/"))
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
        if path in ("/busy", "/busy-long"):
            if self.flaky_left > 0:
                self.flaky_left -= 1
                return web.Response(status=503, headers={"Retry-After": "1" if path == "/busy" else "3600"})
            return web.Response(text="<p>ok now</p>", content_type="text/html")
        if path == "/down":
            return web.Response(status=503, text="down")
        if path == "/private/secret":
            return web.Response(text="secret", content_type="text/html")
        if path == "/gone":
            return web.Response(status=410)
        return web.Response(text="<p>any</p>", content_type="text/html")

    def paths(self) -> list[str]:
        return [entry[0] for entry in self.log]

    def starts(self, path: str) -> list[float]:
        return [entry[2] for entry in self.log if entry[0] == path]


CHARSET_CASES = {
    # case: (body bytes, Content-Type header)
    "undeclared-cp1252": (f"<html><body><p>{CURLY}</p></body></html>".encode("cp1252"), "text/html"),
    "meta-latin1-body-cp1252": (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head><body>{CURLY}</body></html>'.encode("cp1252"),
        "text/html",
    ),
    "http-utf8": (CURLY.encode("utf-8"), "text/html; charset=utf-8"),
    "http-says-utf8-body-cp1252": (f"<p>{CURLY}</p>".encode("cp1252"), "text/html; charset=utf-8"),
    "http-says-latin1-body-utf8": (f"<p>{CURLY}</p>".encode("utf-8"), "text/html; charset=iso-8859-1"),
    "meta-says-utf8-body-cp1252": (f'<meta charset="utf-8"><p>{CURLY}</p>'.encode("cp1252"), "text/html"),
    "meta-says-cp1252-body-utf8": (f'<meta charset="windows-1252"><p>{CURLY}</p>'.encode("utf-8"), "text/html"),
    "http-unknown-charset": (f"<p>{CURLY}</p>".encode("utf-8"), "text/html; charset=utf8mb4-bogus"),
    "undeclared-utf8": (f"<p>{CURLY}</p>".encode("utf-8"), "text/html"),
}


def _charset_case(name: str) -> web.Response:
    body, content_type = CHARSET_CASES[name]
    return web.Response(body=body, headers={"Content-Type": content_type})


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    server_state = Scripted()
    server = TestServer(server_state.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server_state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def fetch_with(settings: FetchSettings, url: str, **kwargs: Any) -> Page:
    async with new_session(settings) as session:
        return await Fetcher(settings, session).fetch(url, **kwargs)


# ------------------------------------------------------------------ requests and answers


async def test_sends_an_honest_user_agent_and_reads_validators(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    settings = replace(FAST, user_agent="feedsvc/0.1 (full-text feed republisher)", contact="https://ops.example/feedsvc")
    page = await fetch_with(settings, f"{base}/page")
    assert page.status == 200 and page.text.endswith("</html>")
    assert page.validators == Validators('"v1"', "Wed, 24 Apr 2019 10:00:00 GMT")
    headers = server.log[-1][1]
    assert headers["User-Agent"] == "feedsvc/0.1 (full-text feed republisher; +https://ops.example/feedsvc)"
    assert "gzip" in headers["Accept-Encoding"]


@pytest.mark.parametrize(
    "agent, contact, header",
    [
        ("feedsvc/0.1", "https://ops.example", "feedsvc/0.1 (+https://ops.example)"),
        ("feedsvc/0.1 (+https://ops.example)", "https://ops.example", "feedsvc/0.1 (+https://ops.example)"),
        ("feedsvc/0.1 (republisher)", "ops@example.org", "feedsvc/0.1 (republisher; +ops@example.org)"),
        ("feedsvc/0.1 (+https://github.com/feedsvc/feedsvc)", "", "feedsvc/0.1 (+https://github.com/feedsvc/feedsvc)"),
    ],
    ids=["appended", "already-there", "inside-comment", "no-contact"],
)
def test_user_agent_names_the_contact_once(agent: str, contact: str, header: str) -> None:
    assert user_agent(FetchSettings(user_agent=agent, contact=contact)) == header


def test_config_refuses_a_user_agent_that_hides_feedsvc() -> None:
    from feedsvc.errors import ConfigError

    text = "fetch: {user_agent: 'Mozilla/5.0'}\nsites:\n  - {id: s, title: S, url: 'https://s.example/', sections: [{id: a, title: A, url: 'https://s.example/a'}]}\n"
    with pytest.raises(ConfigError, match="names feedsvc"):
        parse_settings(text, "ua.yaml", env={})


async def test_conditional_get_turns_into_not_modified(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    page = await fetch_with(FAST, f"{base}/page", validators=Validators('"v1"', None))
    assert page.not_modified and page.status == 304 and page.body == b""
    assert server.log[-1][1]["If-None-Match"] == '"v1"'


async def test_pages_are_decoded_in_the_executor_given(scripted: tuple[Scripted, str]) -> None:
    """The daemon decodes in its CPU pool: charset detection is CPU work and what it loads
    would stay in the serving process."""
    _, base = scripted
    decoded_in: list[str] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            decoded_in.append(fn.__name__)
            return super().submit(fn, *args, **kwargs)

    with Recording(1) as executor:
        async with new_session(FAST) as session:
            page = await Fetcher(FAST, session, decode_in=executor).fetch(f"{base}/charset/{next(iter(CHARSET_CASES))}")
    assert decoded_in == ["decode"]
    assert CURLY in page.text


@pytest.mark.parametrize("case", list(CHARSET_CASES))
async def test_charsets_come_out_right_whatever_is_declared(scripted: tuple[Scripted, str], case: str) -> None:
    _, base = scripted
    page = await fetch_with(FAST, f"{base}/charset/{case}")
    assert CURLY in page.text
    assert "\ufffd" not in page.text and "â€" not in page.text


@pytest.mark.parametrize(
    "path, error, words",
    [
        pytest.param("/huge", TooLarge, "cap", id="size-cap-while-streaming"),
        pytest.param("/bomb", TooLarge, "gzip-inflated", id="inflates-past-cap"),
        pytest.param("/loop", RedirectError, "loop", id="redirect-loop"),
        pytest.param("/away", RedirectError, "another site", id="off-site-redirect"),
        pytest.param("/image", UnsupportedContent, "image/png", id="not-a-page"),
        pytest.param("/gone", HTTPStatusError, "410", id="gone"),
        pytest.param("/private/secret", RobotsDisallowed, "robots.txt", id="robots-disallow"),
    ],
)
async def test_bad_responses_raise_clear_errors(scripted: tuple[Scripted, str], path: str, error: type[Exception], words: str) -> None:
    _, base = scripted
    with pytest.raises(error, match=words) as caught:
        await fetch_with(FAST, f"{base}{path}")
    assert base in str(caught.value)


async def test_disallowed_path_is_never_requested(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    with pytest.raises(RobotsDisallowed):
        await fetch_with(FAST, f"{base}/private/secret")
    assert server.paths() == ["/robots.txt"]


async def test_an_unavailable_robots_txt_means_nothing_is_fetched_for_a_while(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    server.robots_status = 503
    async with new_session(FAST) as session:
        fetcher = Fetcher(FAST, session)
        for path in ("/a", "/b"):
            with pytest.raises(FetchError, match="robots.txt is unavailable"):
                await fetcher.fetch(f"{base}{path}")
    assert server.paths() == ["/robots.txt"]  # asked once, and no page


async def test_robots_txt_is_read_once_however_many_pages_wait_for_it(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    async with new_session(FAST) as session:
        fetcher = Fetcher(FAST, session)
        await asyncio.gather(*(fetcher.fetch(f"{base}/p{i}") for i in range(5)))
    assert server.paths().count("/robots.txt") == 1


async def test_redirect_within_site_is_followed(scripted: tuple[Scripted, str]) -> None:
    _, base = scripted
    page = await fetch_with(FAST, f"{base}/moved")
    assert page.final_url.endswith("/page") and page.url.endswith("/moved")


async def test_total_timeout(scripted: tuple[Scripted, str]) -> None:
    _, base = scripted
    with pytest.raises(FetchTimeout, match="timed out"):
        await fetch_with(replace(FAST, timeout=0.5), f"{base}/slow")


# ------------------------------------------------------------------ backoff, Retry-After, circuit breaker


async def test_retry_after_is_waited_out(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    server.flaky_left = 1
    page = await fetch_with(replace(FAST, retries=2), f"{base}/busy")
    assert "ok now" in page.text
    busy = [entry for entry in server.log if entry[0] == "/busy"]
    assert len(busy) == 2
    assert busy[1][2] - busy[0][3] >= 0.95  # Retry-After: 1


async def test_retry_after_holds_back_every_request_to_the_host(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    server.flaky_left = 1
    settings = replace(FAST, retries=1)
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        await asyncio.gather(fetcher.fetch(f"{base}/busy"), fetcher.fetch(f"{base}/other"))
    refused_end = next(entry[3] for entry in server.log if entry[0] == "/busy")
    (other_start,) = server.starts("/other")
    assert other_start - refused_end >= 0.95


async def test_a_retry_after_longer_than_allowed_pauses_the_host_instead_of_waiting(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    server.flaky_left = 5
    settings = replace(FAST, retries=3, max_retry_after=2.0)
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        started = time.monotonic()
        with pytest.raises(HTTPStatusError, match="Retry-After 3600s"):
            await fetcher.fetch(f"{base}/busy-long")
        assert time.monotonic() - started < 1.0  # not waited, not retried
        with pytest.raises(HostPaused, match="Retry-After"):
            await fetcher.fetch(f"{base}/page")
        (state,) = fetcher.host_states().values()
    assert server.paths().count("/busy-long") == 1 and "/page" not in server.paths()
    assert state.state == "paused" and state.paused_until is not None
    assert (state.paused_until - datetime.now(timezone.utc)).total_seconds() > 3500


async def test_backoff_grows_exponentially_per_host(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    settings = replace(FAST, retries=3, backoff=0.1, breaker_failures=10)
    async with new_session(settings) as session:
        with pytest.raises(HTTPStatusError, match="503"):
            await Fetcher(settings, session).fetch(f"{base}/down")
    starts = server.starts("/down")
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    assert len(gaps) == 3
    for attempt, gap in enumerate(gaps):
        base_wait = 0.1 * 2**attempt
        assert 0.5 * base_wait - 0.02 <= gap <= 1.5 * base_wait + 0.1, (attempt, gaps)


async def test_a_host_that_keeps_failing_is_paused_then_tried_again(scripted: tuple[Scripted, str], caplog: pytest.LogCaptureFixture) -> None:
    server, base = scripted
    settings = replace(FAST, breaker_failures=3, breaker_cooldown=0.5, backoff=0.01)
    caplog.set_level(logging.WARNING, logger="feedsvc.fetch")
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        for _ in range(3):
            with pytest.raises(HTTPStatusError):
                await fetcher.fetch(f"{base}/down")
        for path in ("/down", "/page"):  # the whole host is paused, not only the failing page
            with pytest.raises(HostPaused, match="paused until"):
                await fetcher.fetch(f"{base}{path}")
        assert server.paths().count("/down") == 3 and "/page" not in server.paths()
        (paused,) = fetcher.host_states().values()
        assert (paused.state, paused.consecutive_failures) == ("paused", 3)
        assert paused.last_error is not None and "503" in paused.last_error
        assert any("pausing requests" in r.getMessage() and "3 failed requests in a row" in r.getMessage() for r in caplog.records)

        await asyncio.sleep(0.55)
        assert fetcher.host_states()[paused.host].state == "probing"
        with pytest.raises(HTTPStatusError):  # the probe fails: paused again, for twice as long
            await fetcher.fetch(f"{base}/down")
        again = fetcher.host_states()[paused.host]
        assert again.state == "paused" and again.paused_until is not None
        assert 0.8 < (again.paused_until - datetime.now(timezone.utc)).total_seconds() <= 1.0

        await asyncio.sleep(1.05)
        page = await fetcher.fetch(f"{base}/page")  # the probe succeeds: the host is healthy again
        assert page.status == 200
        healthy = fetcher.host_states()[paused.host]
        assert (healthy.state, healthy.consecutive_failures, healthy.paused_until) == ("ok", 0, None)


async def test_a_missing_page_does_not_count_against_its_host(scripted: tuple[Scripted, str]) -> None:
    _, base = scripted
    settings = replace(FAST, breaker_failures=2)
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        for _ in range(4):
            with pytest.raises(HTTPStatusError, match="410"):
                await fetcher.fetch(f"{base}/gone")
        assert [s.state for s in fetcher.host_states().values()] == ["ok"]


async def test_one_request_at_a_time_per_host_with_minimum_interval(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    settings = replace(FAST, min_delay=0.2, per_host_concurrency=1)
    async with new_session(settings) as session:
        fetcher = Fetcher(settings, session)
        await asyncio.gather(*(fetcher.fetch(f"{base}/p{i}") for i in range(4)))
    pages = sorted((e for e in server.log if e[0].startswith("/p")), key=lambda e: e[2])
    assert len(pages) == 4
    for before, after in zip(pages, pages[1:]):
        assert after[2] >= before[3], "requests to one host overlapped"
        assert after[2] - before[2] >= 0.19, "minimum interval not kept"


async def test_crawl_delay_raises_the_interval(scripted: tuple[Scripted, str]) -> None:
    server, base = scripted
    server.robots = "User-agent: *\nCrawl-delay: 0.3\n"
    async with new_session(FAST) as session:
        fetcher = Fetcher(FAST, session)
        await fetcher.fetch(f"{base}/a")
        await fetcher.fetch(f"{base}/b")
        assert [s.delay for s in fetcher.host_states().values()] == [0.3]
    starts = [e[2] for e in server.log if e[0] in ("/a", "/b")]
    assert starts[1] - starts[0] >= 0.29


@pytest.mark.parametrize(
    "value, seconds",
    [("120", 120.0), ("Wed, 24 Apr 2019 10:01:00 GMT", 60.0), ("soon", None)],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    now = datetime(2019, 4, 24, 10, 0, tzinfo=timezone.utc)
    assert parse_retry_after(value, now) == seconds


# ------------------------------------------------------------------ answers that are not HTTP at all

RAW_ANSWERS = {
    "garbage": b"HELLO THERE\r\n\r\n",
    "closed-without-answer": b"",
    "corrupt-gzip": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: 20\r\n\r\n\x1f\x8b\x08\x00garbagegarbage!!",
    "huge-response-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 2\r\n\r\nhi",
    "bad-chunked-body": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
}


@pytest.fixture
async def raw_server() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        name = request_line.split()[1].decode().strip("/")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" if name == "robots.txt" else RAW_ANSWERS[name])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "name, words, outcome",
    [
        ("garbage", "not a valid HTTP response", "bad_response"),
        ("closed-without-answer", "connection lost before an answer", "connect_error"),
        ("corrupt-gzip", "body cut short or corrupt", "body_error"),
        ("huge-response-header", "not a valid HTTP response", "bad_response"),
        ("bad-chunked-body", "not a valid HTTP response", "bad_response"),
    ],
)
async def test_answers_that_are_not_http_become_clear_errors_counted_against_the_host(
    raw_server: str, name: str, words: str, outcome: str
) -> None:
    seen: list[str] = []
    async with new_session(FAST) as session:
        fetcher = Fetcher(FAST, session, observer=lambda host, status, seconds: seen.append(status))
        with pytest.raises(FetchError, match=words) as caught:
            await fetcher.fetch(f"{raw_server}/{name}")
        (state,) = fetcher.host_states().values()
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400  # one readable log line
    assert seen == ["404", outcome]
    assert (state.state, state.consecutive_failures) == ("failing", 1)


# ------------------------------------------------------------------ the fixture origin's fault modes

CAP = 200_000
ORIGIN_FETCH = FetchSettings(min_delay=0.0, timeout=1.0, connect_timeout=0.5, retries=0, backoff=0.01, max_bytes=CAP)


@pytest.mark.parametrize(
    "mode, options, error, words, outcome",
    [
        pytest.param("hang", {"seconds": 5}, FetchTimeout, "timed out", "timeout", id="no-answer"),
        pytest.param("drip", {"interval": 0.05}, FetchTimeout, "total timeout", "timeout", id="slow-drip"),
        pytest.param("reset", {}, FetchError, "body cut short", "body_error", id="reset-mid-body"),
        pytest.param("truncate", {}, FetchError, "content length", "body_error", id="shorter-than-content-length"),
        pytest.param("huge", {"size": 5_000_000}, TooLarge, "passed the 200000-byte cap", "too_large", id="over-the-cap"),
        pytest.param("huge_declared", {"size": 5_000_000}, TooLarge, "Content-Length 5000000", "too_large", id="declared-over-the-cap"),
        pytest.param("bomb", {"size": 50_000_000}, TooLarge, "gzip-inflated", "too_large", id="gzip-bomb"),
        pytest.param("binary", {}, UnsupportedContent, "binary data", "200", id="binary-as-html"),
        pytest.param("content_type", {"content_type": "application/pdf"}, UnsupportedContent, "application/pdf", "200", id="pdf"),
        pytest.param("redirect", {"location": "http://127.0.0.9:9/elsewhere.html"}, RedirectError, "another site", "302", id="off-site-redirect"),
    ],
)
async def test_origin_fault_modes_become_clear_errors(
    origin: Origin, mode: str, options: dict[str, Any], error: type[FetchError], words: str, outcome: str
) -> None:
    origin.set_fault("spacedaily", ARTICLE, mode, **options)
    seen: list[tuple[str, str, float]] = []
    async with new_session(ORIGIN_FETCH) as session:
        fetcher = Fetcher(ORIGIN_FETCH, session, observer=lambda host, status, seconds: seen.append((host, status, seconds)))
        started = time.monotonic()
        with pytest.raises(error, match=words) as caught:
            await fetcher.fetch(origin.url("spacedaily", ARTICLE))
        assert time.monotonic() - started < ORIGIN_FETCH.timeout + 1.0
    assert caught.value.url == origin.url("spacedaily", ARTICLE)
    assert [status for _, status, _ in seen] == ["200", outcome]  # robots.txt, then the page
    if isinstance(caught.value, TooLarge) and "abandoned after" in str(caught.value):
        read = int(str(caught.value).rsplit("abandoned after ", 1)[1].split()[0])
        assert read <= CAP + 65536, "the body was read past the cap instead of abandoned"


async def test_origin_status_faults_and_redirect_loop(origin: Origin) -> None:
    origin.set_status("spacedaily", "/a.html", 500)
    origin.set_status("spacedaily", "/b.html", 404)
    origin.set_fault("spacedaily", "/c.html", "redirect", location="/d.html")
    origin.set_fault("spacedaily", "/d.html", "redirect", location="/c.html")
    expected = {"/a.html": (HTTPStatusError, "HTTP 500"), "/b.html": (HTTPStatusError, "HTTP 404"), "/c.html": (RedirectError, "redirect loop")}
    async with new_session(ORIGIN_FETCH) as session:
        fetcher = Fetcher(ORIGIN_FETCH, session)
        for path, (error, words) in expected.items():
            with pytest.raises(error, match=words):
                await fetcher.fetch(origin.url("spacedaily", path))
    assert [r.path for r in origin.requests(site="spacedaily")] == ["/robots.txt", "/a.html", "/b.html", "/c.html", "/d.html"]


async def test_an_unreachable_host_times_out_at_connect_then_comes_back(origin: Origin) -> None:
    await origin.set_unreachable("spacedaily")
    async with new_session(ORIGIN_FETCH) as session:
        fetcher = Fetcher(ORIGIN_FETCH, session)
        started = time.monotonic()
        with pytest.raises(FetchError, match="connect timed out after 0.5s"):
            await fetcher.fetch(origin.url("spacedaily", ARTICLE))
        assert time.monotonic() - started < 1.5
        await origin.set_reachable("spacedaily")
        await asyncio.sleep(0.05)
    async with new_session(ORIGIN_FETCH) as session:
        page = await Fetcher(ORIGIN_FETCH, session).fetch(origin.url("spacedaily", ARTICLE))
    assert page.status == 200 and "Arianespace" in page.text


# ------------------------------------------------------------------ politeness through the real pipeline


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


DISALLOWED = "/reports/France_to_create_space_command_in_Toulouse_999.html"
THROTTLED = "/reports/Satellite_makers_brace_for_tariff_uncertainty_999.html"
CRAWL_DELAY = 0.25
MIN_DELAY = 0.15


async def test_a_full_scrape_is_polite_as_the_origins_request_log_shows(
    origin: Origin, tmp_path: Path, threads: ThreadPoolExecutor
) -> None:
    origin.set_page("spacewar", "/robots.txt", f"User-agent: *\nDisallow: {DISALLOWED}\nCrawl-delay: {CRAWL_DELAY}\n".encode())
    origin.set_status("spacedaily", THROTTLED, 429, {"Retry-After": "1"}, times=1)
    text = origin.feedsvc_config(tmp_path, ROOT / "config" / "rules", fetch={"min_delay": MIN_DELAY, "retries": 1, "per_host_concurrency": 1})
    settings = parse_settings(text, "polite.yaml", env={})
    async with runtime(settings, cpu=threads) as rt:
        reports = await asyncio.gather(*(rt.scraper.refresh(section) for section in settings.sections()))
    assert all(report.ok for report in reports), [r.errors for r in reports]
    milspace = next(r for r in reports if r.section_key == "spacewar/milspace")
    assert milspace.failed == 1 and "robots.txt" in milspace.errors[0]

    # No disallowed path fetched.
    assert origin.requests(path=DISALLOWED) == []
    for site, delay in (("spacewar", CRAWL_DELAY), ("spacedaily", MIN_DELAY)):
        log = sorted(origin.requests(site=site), key=lambda r: r.t_start)
        assert len(log) > 5
        assert log[0].path == "/robots.txt" and [r.path for r in log].count("/robots.txt") == 1
        for before, after in zip(log, log[1:]):
            # Never more than one request at a time to a host, and the minimum interval (robots.txt's
            # Crawl-delay where it is longer) kept between one answer and the next request.
            assert after.t_start - before.t_end >= delay, (site, before.path, after.path, after.t_start - before.t_end)
        for request in log:
            assert request.headers["User-Agent"] == "feedsvc-test/1.0 (+https://feeds.test/about)"

    # Retry-After waited out: the 429'd article asked again only after a second, and nothing
    # else was asked of that host in that second.
    refused, retried = origin.requests(path=THROTTLED)
    assert (refused.status, retried.status) == (429, 200)
    assert retried.t_start - refused.t_end >= 1.0
    during = [r for r in origin.requests(site="spacedaily") if refused.t_end < r.t_start < refused.t_end + 1.0]
    assert during == []
