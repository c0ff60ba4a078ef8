"""Nothing a client sends breaks the service or reaches outside its data.

The app is served as the daemon serves it (``web.AppRunner`` + ``TCPSite``), and the
requests are written on raw sockets where a client library would refuse to send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from feedsvc.config import parse_settings
from feedsvc.service import observe, runtime
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Live:
    host: str
    port: int
    data_dir: Path

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture
async def live(origin: Origin, tmp_path: Path, threads: ThreadPoolExecutor) -> AsyncIterator[Live]:
    data_dir = tmp_path / "data"
    settings = parse_settings(origin.feedsvc_config(data_dir, ROOT / "config" / "rules"), "live.yaml", env={})
    async with runtime(settings, cpu=threads) as rt:
        await rt.cache.refresh(rt.store)  # empty feeds: what matters here is what the routes accept
        app = build_app(settings, rt.store, rt.cache)
        observe(app, rt)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            yield Live(host, port, data_dir)
        finally:
            await runner.cleanup()


async def raw(live: Live, request: bytes, *, read: int = 65536) -> bytes:
    """Send raw bytes; return what the server answers before it closes or goes quiet."""
    reader, writer = await asyncio.open_connection(live.host, live.port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(read), timeout=2.0)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and len(b"".join(chunks)) > 12:
                break
        return b"".join(chunks)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            pass


def status_of(answer: bytes) -> int:
    assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), answer[:80]
    return int(answer.split(b" ", 2)[1])


async def still_serving(live: Live) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{live.base}/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/nowhere.atom",
        "/feeds/spacewar/nowhere.rss",
        "/feeds/nowhere/nukewars.json",
        "/feeds/spacewar/nukewars.xml",
        "/feeds/spacewar/nukewars/more.atom",
        "/feeds/spacewar/nukewars.atom/",
        "/feeds/",
        "/nothing-here",
    ],
)
async def test_unknown_feed_paths_are_404(live: Live, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(live.base + path) as response:
        assert response.status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.atom?limit=abc",
        "/feeds/all.atom?limit=0",
        "/feeds/all.rss?limit=-3",
        "/feeds/spacewar/nukewars.json?limit=99999999999999999999",
        "/status?format=xml",
        "/status?format=",
    ],
)
async def test_bad_query_values_are_400(live: Live, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(live.base + path) as response:
        assert response.status == 400
        assert len(await response.read()) < 1000


@pytest.mark.parametrize(
    "request_bytes, statuses",
    [
        pytest.param(b"GET /feeds/all.atom?" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", {400, 414}, id="huge-url"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n", {400, 431}, id="huge-header"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n", {400, 431}, id="too-many-headers"
        ),
        pytest.param(b"POST /feeds/all.atom HTTP/1.1\r\nHost: t\r\nContent-Length: 50000000\r\n\r\n" + b"z" * 100_000, {405}, id="post-huge-body"),
        pytest.param(b"DELETE /feeds/all.atom HTTP/1.1\r\nHost: t\r\n\r\n", {405}, id="delete"),
        pytest.param(b"PUT /status HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", {405}, id="put"),
        pytest.param(b"GARBAGE\r\n\r\n", {400}, id="not-http"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", {400}, id="negative-length"),
    ],
)
async def test_oversize_and_malformed_requests_are_refused(live: Live, request_bytes: bytes, statuses: set[int]) -> None:
    answer = await raw(live, request_bytes)
    assert status_of(answer) in statuses, answer[:200]
    await still_serving(live)


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/../../../../etc/passwd",
        "/feeds/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/feeds/..%2f..%2f..%2fetc%2fpasswd.atom",
        "/feeds/spacewar/..%2F..%2F..%2F..%2Fetc%2Fpasswd.atom",
        "/feeds/%2E%2E%5C%2E%2E%5Cconfig%5Cfeedsvc.yaml",
        "//etc/passwd",
        "/static/../config/feedsvc.yaml",
        "/feeds/spacewar/nukewars.atom%00.yaml",
        "/data/feedsvc.db",
        "/feedsvc.db",
    ],
)
async def test_no_path_reaches_a_file(live: Live, path: str) -> None:
    answer = await raw(live, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    assert status_of(answer) in (400, 404)
    assert b"root:" not in answer and b"SQLite format" not in answer and b"storage:" not in answer


async def test_requests_write_nothing_outside_the_data_directory(live: Live, tmp_path: Path) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.name.endswith(("-wal", "-shm")))
    for path in ("/feeds/../../x", "/status?format=json", "/feeds/all.atom?limit=1", "/opml", "/metrics", "/"):
        await raw(live, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    await raw(live, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.name.endswith(("-wal", "-shm")))
    assert after == before
    assert all(path.parts[0] in ("data", "origin") for path in after)
