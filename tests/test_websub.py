"""websub: the hub is pinged (hub.mode=publish) for every feed that changed, against a real local hub."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from feedsvc.feedcache import FeedCache
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings, SiteConfig
from feedsvc.render import FORMATS
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore
from feedsvc.web import NOTIFIER_KEY, build_app
from feedsvc.websub import HubNotifier, topic_urls

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PUBLIC = "http://feeds.example.test"
MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Hub:
    """A WebSub hub stand-in: records every publish ping, answers ``status``."""

    status: int = 204
    pings: list[dict[str, str]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.pings.append({k: str(v) for k, v in form.items()})
        self.content_types.append(request.content_type)
        self.user_agents.append(request.headers.get("User-Agent", ""))
        return web.Response(status=self.status)

    def topics(self) -> list[str]:
        return sorted(ping["hub.url"] for ping in self.pings)


@pytest.fixture
async def hub() -> AsyncIterator[tuple[Hub, str]]:
    recorder = Hub()
    app = web.Application()
    app.router.add_post("/hub", recorder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield recorder, str(server.make_url("/hub"))
    await server.close()


def settings_with(hub_url: str | None) -> Settings:
    return Settings(
        storage="sqlite:///unused.db",
        listen_host="127.0.0.1",
        listen_port=0,
        public_url=PUBLIC,
        fetch=FetchSettings(user_agent="feedsvc-test/1.0"),
        sites=(
            SiteConfig(
                id="spacewar",
                title="SpaceWar",
                url="https://www.spacewar.example/",
                rules=None,
                sections=(
                    SectionConfig("spacewar", "nukewars", "Nuclear Wars", "https://www.spacewar.example/n.html", 1800.0),
                    SectionConfig("spacewar", "missiles", "Missiles", "https://www.spacewar.example/m.html", 1800.0),
                ),
            ),
        ),
        rules_dirs=(),
        websub_hub=hub_url,
    )


def article(n: int) -> Article:
    url = f"https://www.spacewar.example/reports/Story_{n}_999.html"
    return Article(key=url, url=url, title=f"Story {n}", body_html=f"<p>Story {n}.</p>", published=NOW)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'feeds.db'}")
    await s.migrate()
    await s.save_article(article(1), "spacewar", "spacewar/nukewars", NOW)
    yield s
    await s.close()


async def test_changed_feeds_are_published_to_the_hub(
    aiohttp_client: MakeClient, store: SqlStore, hub: tuple[Hub, str]
) -> None:
    recorder, hub_url = hub
    settings = settings_with(hub_url)
    cache = FeedCache(settings)
    try:
        app = build_app(settings, store, cache)
        client = await aiohttp_client(app)
        notifier = app[NOTIFIER_KEY]

        await cache.refresh(store)  # first fill after a start: nothing to tell
        await notifier.drain()
        assert recorder.pings == []

        await store.save_article(article(2), "spacewar", "spacewar/missiles", NOW + timedelta(minutes=5))
        await cache.refresh(store)
        await notifier.drain()
        changed = ["all", "spacewar", "spacewar/missiles"]
        assert recorder.topics() == sorted(f"{PUBLIC}/feeds/{key}.{fmt}" for key in changed for fmt in FORMATS)
        assert all(ping["hub.mode"] == "publish" for ping in recorder.pings)
        assert set(recorder.content_types) == {"application/x-www-form-urlencoded"}
        assert set(recorder.user_agents) == {"feedsvc-test/1.0"}

        # The hub then fetches a topic and finds the new story there.
        resp = await client.get("/feeds/spacewar/missiles.json")
        assert [item["title"] for item in (await resp.json(content_type=None))["items"]] == ["Story 2"]

        recorder.pings.clear()
        await cache.refresh(store)  # nothing changed: no ping
        await notifier.drain()
        assert recorder.pings == []
        metrics = await (await client.get("/metrics")).text()
        assert 'feedsvc_websub_pings_total{result="sent"} 9.0' in metrics
    finally:
        cache.close()


async def test_no_hub_configured_means_no_notifier(aiohttp_client: MakeClient, store: SqlStore) -> None:
    cache = FeedCache(settings_with(None))
    try:
        app = build_app(settings_with(None), store, cache)
        await aiohttp_client(app)
        assert app.get(NOTIFIER_KEY) is None
    finally:
        cache.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_failed_pings_are_counted_not_raised(hub: tuple[Hub, str]) -> None:
    recorder, hub_url = hub
    recorder.status = 500
    async with aiohttp.ClientSession() as session:
        refusing = HubNotifier(hub_url, session)
        assert await refusing.publish([f"{PUBLIC}/feeds/all.atom", f"{PUBLIC}/feeds/all.rss"]) == 0
        assert (refusing.counts.sent, refusing.counts.failed) == (0, 2)
        assert refusing.counts.last_error == "HTTP 500"
        unreachable = HubNotifier(f"http://127.0.0.1:{_closed_port()}/hub", session, timeout=2.0)
        assert await unreachable.publish([f"{PUBLIC}/feeds/all.atom"]) == 0
        assert unreachable.counts.failed == 1
        recorder.status = 202
        accepting = HubNotifier(hub_url, session)
        assert await accepting.publish([f"{PUBLIC}/feeds/all.json"]) == 1
        assert accepting.counts.sent == 1


def test_topics_are_every_format_of_each_known_feed() -> None:
    cache = FeedCache(settings_with(None))
    try:
        urls = topic_urls(cache.infos, ["spacewar/nukewars", "nosuch"])
        assert urls == [f"{PUBLIC}/feeds/spacewar/nukewars.{fmt}" for fmt in FORMATS]
    finally:
        cache.close()


def test_hub_setting_reaches_every_feed() -> None:
    cache = FeedCache(settings_with("https://hub.example.test/"))
    try:
        assert {info.hub_url for info in cache.infos.values()} == {"https://hub.example.test/"}
        assert dataclasses.replace(settings_with(None)).websub_hub is None
    finally:
        cache.close()
