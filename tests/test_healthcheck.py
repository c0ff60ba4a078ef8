"""The container HEALTHCHECK command: where it looks for the service, and what it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from feedsvc.healthcheck import DEFAULT_LISTEN, listen_address, main, probe_url


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
        ("127.0.0.1:9000", "http://127.0.0.1:9000/healthz"),
        ("[::]:8080", "http://127.0.0.1:8080/healthz"),
        ("[::1]:8080", "http://[::1]:8080/healthz"),
        ("::1:8080", "http://[::1]:8080/healthz"),
        ("feeds.internal:80", "http://feeds.internal:80/healthz"),
    ],
    ids=["wildcard", "loopback", "ipv6-wildcard", "ipv6-loopback", "bare-ipv6", "hostname"],
)
def test_the_probe_asks_where_the_daemon_listens_wildcards_on_loopback(listen: str, url: str) -> None:
    assert probe_url(listen) == url


def test_the_listen_address_comes_from_the_environment_then_the_config(tmp_path: Path) -> None:
    assert listen_address({"FEEDSVC_LISTEN": "0.0.0.0:7000"}) == "0.0.0.0:7000"
    (tmp_path / "good.yaml").write_text(
        "listen: 127.0.0.1:9123\nsites:\n  - {id: a, title: A, url: 'http://a.test/', sections: "
        "[{id: b, title: B, url: 'http://a.test/b.html'}]}\n",
        encoding="utf-8",
    )
    assert listen_address({"FEEDSVC_CONFIG": str(tmp_path / "good.yaml")}) == "127.0.0.1:9123"
    assert listen_address({"FEEDSVC_CONFIG": str(tmp_path / "missing.yaml")}) == DEFAULT_LISTEN


@pytest.fixture
async def service() -> AsyncIterator[str]:
    """A stand-in service: /healthz answers 200, /readyz 503."""
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(status=503, text="store unreachable\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_exit_0_only_for_a_200(service: str) -> None:
    env = {"FEEDSVC_LISTEN": service}
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, lambda: main([], env)) == 0
    assert await loop.run_in_executor(None, lambda: main(["/readyz"], env)) == 1
    host = service.rpartition(":")[0]
    assert await loop.run_in_executor(None, lambda: main([], {"FEEDSVC_LISTEN": f"{host}:1"})) == 1
