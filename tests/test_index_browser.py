"""The index page in a real headless browser (Chromium from the Debian packages).

Chromium loads ``/`` from a running server; the test reads the rendered DOM
(``--dump-dom``), finds every feed's links in all three formats and every
feed's ``<link rel="alternate">`` autodiscovery tag, and saves a screenshot to
``tests/artifacts/index.png`` for a person to look at. Without Chromium the
test is skipped, except in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from aiohttp import web

from feedsvc.feedcache import FeedCache
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings, SiteConfig
from feedsvc.render import FORMATS, MEDIA_TYPES
from feedsvc.store.open import open_store
from feedsvc.web import build_app

ARTIFACTS = Path(__file__).parent / "artifacts"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BROWSER_TIMEOUT = 90.0
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install -y chromium; .ci/run installs it in CI)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings_for(port: int) -> Settings:
    def section(site: str, sid: str, title: str, every: float = 1800.0) -> SectionConfig:
        return SectionConfig(site, sid, title, f"https://www.{site}.example/{sid}.html", every)

    return Settings(
        storage="sqlite:///unused.db",
        listen_host="127.0.0.1",
        listen_port=port,
        public_url=f"http://127.0.0.1:{port}",
        fetch=FetchSettings(),
        sites=(
            SiteConfig("spacewar", "SpaceWar", "https://www.spacewar.example/", None, (
                section("spacewar", "nukewars", "Nuclear Wars"),
                section("spacewar", "milspace", "Military Space News"),
                section("spacewar", "missiles", "Missile Defense"),
            )),
            SiteConfig("spacedaily", "SpaceDaily", "https://www.spacedaily.example/", None, (
                section("spacedaily", "industry", "Space Industry"),
                section("spacedaily", "launchers", "Launch Vehicles"),
            )),
            SiteConfig("terradaily", "TerraDaily", "https://www.terradaily.example/", None, (
                section("terradaily", "climate", "Climate Science"),
            )),
        ),
        rules_dirs=(),
    )


@pytest.fixture
async def site_url(tmp_path: Path) -> AsyncIterator[tuple[str, Settings]]:
    port = free_port()
    settings = settings_for(port)
    store = open_store(f"sqlite:///{tmp_path / 'feeds.db'}")
    await store.migrate()
    n = 0
    for section in settings.sections()[:-1]:  # the last section stays empty
        for _ in range(3):
            n += 1
            url = f"https://www.{section.site_id}.example/reports/Story_{n}_999.html"
            article = Article(key=url, url=url, title=f"Story {n}", body_html=f"<p>Story {n}.</p>", published=NOW)
            await store.save_article(article, section.site_id, section.key, NOW + timedelta(minutes=n))
    cache = FeedCache(settings)
    await cache.refresh(store)
    runner = web.AppRunner(build_app(settings, store, cache))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/", settings
    finally:
        await runner.cleanup()
        cache.close()
        await store.close()


async def chromium(tmp_path: Path, *args: str) -> bytes:
    assert CHROMIUM is not None, "Chromium must be installed in CI (.ci/run installs the Debian package)"
    profile = tmp_path / "chromium-profile"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), BROWSER_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


async def test_the_index_in_a_browser_links_and_announces_every_feed(
    site_url: tuple[str, Settings], tmp_path: Path
) -> None:
    url, settings = site_url
    dom = lxml.html.fromstring(await chromium(tmp_path, "--dump-dom", url))
    base = settings.public_url
    keys = ["all", *(site.id for site in settings.sites), *(sec.key for sec in settings.sections())]

    anchors = {a.get("href") for a in dom.xpath("//body//a[@href]")}
    alternates = {(link.get("type"), link.get("href")) for link in dom.xpath("//head/link[@rel='alternate']")}
    for key in keys:
        for fmt in FORMATS:
            assert f"{base}/feeds/{key}.{fmt}" in anchors, (key, fmt)
        assert (MEDIA_TYPES["atom"], f"{base}/feeds/{key}.atom") in alternates, key
    assert all(link.get("title") for link in dom.xpath("//head/link[@rel='alternate']"))
    assert f"{base}/opml" in anchors
    assert dom.xpath("string(//title)")
    assert not dom.xpath("//script")  # works without JavaScript
    text = " ".join(dom.text_content().split())
    for site in settings.sites:
        assert site.title in text
        for sec in site.sections:
            assert sec.title in text

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "index.png"
    shot.unlink(missing_ok=True)
    await chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a page was drawn, not a blank
