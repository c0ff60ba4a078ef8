"""End to end: scrape the local Space Media Network origin, serve the feeds, read them as a reader does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import feedparser
import pytest
from aiohttp.test_utils import TestClient, TestServer

from feedsvc.config import parse_settings
from feedsvc.models import Settings
from feedsvc.service import Runtime, cpu_pool, runtime
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
BOILERPLATE = ("Related Links", "Thanks for being here", "read more", "Disqus", "Share this article", "The content herein", "adsbygoogle", "Billed Monthly")


def config_for(origin: Origin, data_dir: Path) -> Settings:
    return parse_settings(origin.feedsvc_config(data_dir, ROOT / "config" / "rules", fetch={"timeout": 10}), "e2e.yaml", env={})


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = cpu_pool(2)
    yield executor
    executor.shutdown()


@pytest.fixture
async def scraped(origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor) -> AsyncIterator[tuple[Runtime, TestClient[Any, Any]]]:
    settings = config_for(origin, tmp_path)
    async with runtime(settings, cpu=pool) as rt:
        for section in settings.sections():
            report = await rt.scraper.refresh(section)
            assert report.ok, report.errors
        await rt.cache.refresh(rt.store)
        client = TestClient(TestServer(build_app(settings, rt.store, rt.cache)))
        await client.start_server()
        try:
            yield rt, client
        finally:
            await client.close()


async def read_feed(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, path
    parsed = feedparser.parse(await response.read())
    assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
    return parsed


def expected_articles(manifest: dict[str, Any], site: str, section: str) -> list[dict[str, Any]]:
    listing = next(s for s in manifest["sections"] if s["site"] == site and s["id"] == section)
    by_path = {a["path"]: a for a in manifest["articles"] if a["site"] == site}
    return [by_path[path] for path in listing["articles"]]


@pytest.mark.parametrize("fmt", ["atom", "rss"])
async def test_every_section_feed_has_each_article_once_in_full_and_clean(
    scraped: tuple[Runtime, TestClient[Any, Any]], origin: Origin, manifest: dict[str, Any], fmt: str
) -> None:
    _, client = scraped
    for section in manifest["sections"]:
        parsed = await read_feed(client, f"/feeds/{section['site']}/{section['id']}.{fmt}")
        by_link = {}
        for entry in parsed.entries:
            assert entry.link not in by_link, f"{entry.link} twice in {section['id']}"
            by_link[entry.link] = entry
        for article in expected_articles(manifest, section["site"], section["id"]):
            entry = by_link.get(origin.url(article["site"], article["path"]))
            assert entry is not None, f"{article['path']} missing from {section['id']}"
            content = entry.content[0].value
            assert entry.title == article["title"]
            assert article["first_sentence"][:60] in _text(content)
            assert article["last_sentence"][-60:] in _text(content)
            for junk in (*BOILERPLATE, *article["must_not_contain"]):
                assert junk not in content, f"{junk!r} in {article['path']}"
            assert entry.id.startswith("urn:uuid:")
            if article["author"]:
                assert entry.author == article["author"]
            assert entry.published_parsed[:3] == tuple(int(part) for part in article["date"].split("-"))


async def test_companion_stories_are_entries_of_their_own(
    scraped: tuple[Runtime, TestClient[Any, Any]], origin: Origin, manifest: dict[str, Any]
) -> None:
    _, client = scraped
    parsed = await read_feed(client, "/feeds/spacewar/nukewars.atom")
    titles = [entry.title for entry in parsed.entries]
    seed = next(a for a in manifest["articles"] if a["path"].startswith("/reports/Kim_Putin"))
    for companion in seed["companions"]:
        assert titles.count(companion["title"]) == 1
        entry = parsed.entries[titles.index(companion["title"])]
        assert companion["first_sentence"][:50] in _text(entry.content[0].value)
        assert entry.link.startswith(origin.url("spacewar", seed["path"]) + "#")


async def test_site_and_all_feeds_hold_each_story_once(scraped: tuple[Runtime, TestClient[Any, Any]]) -> None:
    _, client = scraped
    for path in ("/feeds/spacewar.atom", "/feeds/all.atom", "/feeds/all.rss"):
        parsed = await read_feed(client, path)
        ids = [entry.id for entry in parsed.entries]
        assert len(ids) == len(set(ids)), path
        assert ids


async def test_second_scrape_of_an_unchanged_origin_costs_only_304s(
    scraped: tuple[Runtime, TestClient[Any, Any]], origin: Origin
) -> None:
    rt, _ = scraped
    before = (rt.scraper.counters.section_parses, rt.scraper.counters.article_fetches, rt.scraper.counters.extractions)
    origin.clear_log()
    for section in rt.settings.sections():
        report = await rt.scraper.refresh(section)
        assert report.ok and report.not_modified
    after = (rt.scraper.counters.section_parses, rt.scraper.counters.article_fetches, rt.scraper.counters.extractions)
    assert after == before
    requests = origin.requests()
    assert len(requests) == len(rt.settings.sections())
    for request in requests:
        assert request.status == 304
        assert "If-None-Match" in request.headers or "If-Modified-Since" in request.headers


def _text(html: str) -> str:
    import lxml.html

    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())
