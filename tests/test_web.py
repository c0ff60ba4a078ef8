"""web: serving rendered feeds, pages, health and metrics over real HTTP (aiohttp test server)."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import brotli
import feedparser
import lxml.html
import pytest
from aiohttp.test_utils import TestClient
from lxml import etree
from prometheus_client import CollectorRegistry, Counter

from feedsvc.feedcache import FeedCache
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings, SiteConfig
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore
from feedsvc.web import REGISTRY_KEY, build_app, choose_coding, etag_matches

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PUBLIC = "http://feeds.example.test"

SETTINGS = Settings(
    storage="sqlite:///unused.db",
    listen_host="127.0.0.1",
    listen_port=0,
    public_url=PUBLIC,
    fetch=FetchSettings(),
    sites=(
        SiteConfig(
            id="spacewar",
            title="SpaceWar",
            url="https://www.spacewar.example/",
            rules=None,
            sections=(
                SectionConfig("spacewar", "nukewars", "Nuclear Wars", "https://www.spacewar.example/nukes.html", 1800.0),
                SectionConfig("spacewar", "slow", "Slow <&> Section", "https://www.spacewar.example/slow.xml", 36000.0),
            ),
        ),
        SiteConfig(
            id="marsdaily",
            title="Mars & Moon Daily",
            url="https://www.marsdaily.example/",
            rules=None,
            sections=(
                SectionConfig("marsdaily", "rovers", "Rovers", "https://www.marsdaily.example/rovers.html", 600.0),
            ),
        ),
    ),
    rules_dirs=(),
)
FEED_KEYS = ["all", "spacewar", "spacewar/nukewars", "spacewar/slow", "marsdaily", "marsdaily/rovers"]
CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
SECTION_ATOM = "/feeds/spacewar/nukewars.atom"
BODY = "<p>" + "Kim and Putin vowed to seek closer ties at their first talks. " * 40 + "</p>"

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'feeds.db'}")
    await s.migrate()
    url = "https://www.spacewar.example/reports/Kim_Putin_999.html"
    story = Article(key=url, url=url, title="Kim, Putin vow", body_html=BODY, author="Maria PANINA", published=NOW)
    await s.save_article(story, "spacewar", "spacewar/nukewars", NOW)
    yield s
    await s.close()


@pytest.fixture
async def cache() -> AsyncIterator[FeedCache]:
    c = FeedCache(SETTINGS)
    yield c
    c.close()


@pytest.fixture
async def client(aiohttp_client: MakeClient, store: SqlStore, cache: FeedCache) -> TestClient[Any, Any]:
    """A client of the app after the first refresh; responses are not auto-decompressed."""
    await cache.refresh(store)
    return await aiohttp_client(build_app(SETTINGS, store, cache), auto_decompress=False)


# ---------------------------------------------------------------- feeds


@pytest.mark.parametrize("key", FEED_KEYS)
@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
async def test_every_feed_is_served_in_every_format(client: TestClient[Any, Any], key: str, fmt: str) -> None:
    resp = await client.get(f"/feeds/{key}.{fmt}", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == CONTENT_TYPES[fmt]
    body = gzip.decompress(await resp.read())
    if fmt == "json":
        assert json.loads(body)["feed_url"] == f"{PUBLIC}/feeds/{key}.json"
    else:
        assert feedparser.parse(body).bozo == 0


async def test_section_feed_carries_the_full_text_and_validators(client: TestClient[Any, Any]) -> None:
    resp = await client.get(SECTION_ATOM, headers={"Accept-Encoding": "gzip"})
    parsed = feedparser.parse(gzip.decompress(await resp.read()))
    assert parsed.entries[0].content[0].value == BODY
    assert resp.headers["ETag"].startswith('W/"')
    assert resp.headers["Last-Modified"] == format_datetime(NOW, usegmt=True)
    assert resp.headers["Vary"] == "Accept-Encoding"


CACHE_CONTROL = [
    pytest.param("/feeds/spacewar/nukewars.atom", "public, max-age=900", id="half-of-30m"),
    pytest.param("/feeds/spacewar/slow.rss", "public, max-age=3600", id="capped-at-1h"),
    pytest.param("/feeds/marsdaily/rovers.json", "public, max-age=300", id="half-of-10m"),
    pytest.param("/feeds/spacewar.atom", "public, max-age=300", id="site"),
    pytest.param("/feeds/all.atom", "public, max-age=300", id="all"),
]


@pytest.mark.parametrize(("path", "expected"), CACHE_CONTROL)
async def test_cache_control_follows_the_refresh_interval(
    client: TestClient[Any, Any], path: str, expected: str
) -> None:
    resp = await client.get(path)
    assert resp.headers["Cache-Control"] == expected


ENCODINGS = [
    pytest.param("gzip, deflate", "gzip", id="gzip-never-deflate"),
    pytest.param("deflate, gzip;q=0.5", "gzip", id="deflate-preferred-still-gzip"),
    pytest.param("gzip, deflate, br", "br", id="br-when-asked"),
    pytest.param("br;q=0.5, gzip", "gzip", id="q-values"),
    pytest.param("*", "br", id="star"),
    pytest.param("identity", None, id="identity-only"),
    pytest.param("deflate", None, id="deflate-only"),
]


@pytest.mark.parametrize(("accept", "coding"), ENCODINGS)
async def test_content_coding_negotiation(client: TestClient[Any, Any], accept: str, coding: str | None) -> None:
    plain = await (await client.get(SECTION_ATOM, skip_auto_headers=["Accept-Encoding"])).read()
    resp = await client.get(SECTION_ATOM, headers={"Accept-Encoding": accept})
    assert resp.status == 200
    assert resp.headers.get("Content-Encoding") == coding
    assert resp.headers["Vary"] == "Accept-Encoding"
    body = await resp.read()
    decode = {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[coding]
    assert decode(body) == plain
    assert int(resp.headers["Content-Length"]) == len(body)


async def test_identity_when_no_accept_encoding(client: TestClient[Any, Any], cache: FeedCache) -> None:
    resp = await client.get(SECTION_ATOM, skip_auto_headers=["Accept-Encoding"])
    assert "Content-Encoding" not in resp.headers
    body = await resp.read()
    rendered = cache.get("spacewar/nukewars", "atom")
    assert rendered is not None and body == gzip.decompress(rendered.gzip_body)
    assert feedparser.parse(body).entries[0].content[0].value == BODY


async def test_nothing_acceptable_is_406(client: TestClient[Any, Any]) -> None:
    resp = await client.get(SECTION_ATOM, headers={"Accept-Encoding": "identity;q=0, deflate"})
    assert resp.status == 406


# ---------------------------------------------------------------- conditional GET


async def _etag(client: TestClient[Any, Any], path: str = SECTION_ATOM) -> str:
    return (await client.get(path)).headers["ETag"]


def _inm_variants(etag: str) -> dict[str, str]:
    opaque = etag.removeprefix("W/")
    return {
        "same": etag,
        "strong-form": opaque,
        "in-a-list": f'"nope", {etag} , "other"',
        "star": "*",
    }


@pytest.mark.parametrize("variant", ["same", "strong-form", "in-a-list", "star"])
async def test_if_none_match_gives_304_with_empty_body(client: TestClient[Any, Any], variant: str) -> None:
    etag = await _etag(client)
    resp = await client.get(SECTION_ATOM, headers={"If-None-Match": _inm_variants(etag)[variant]})
    assert resp.status == 304
    assert await resp.read() == b""
    assert resp.headers["ETag"] == etag
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert "Cache-Control" in resp.headers


async def test_other_etag_gives_200_even_with_a_matching_date(client: TestClient[Any, Any]) -> None:
    resp = await client.get(
        SECTION_ATOM,
        headers={"If-None-Match": '"stale", W/"older"', "If-Modified-Since": format_datetime(NOW, usegmt=True)},
    )
    assert resp.status == 200


IMS = [
    pytest.param(NOW, 304, id="same-second"),
    pytest.param(NOW + timedelta(hours=1), 304, id="later"),
    pytest.param(NOW - timedelta(seconds=1), 200, id="earlier"),
]


@pytest.mark.parametrize(("since", "status"), IMS)
async def test_if_modified_since(client: TestClient[Any, Any], since: datetime, status: int) -> None:
    resp = await client.get(SECTION_ATOM, headers={"If-Modified-Since": format_datetime(since, usegmt=True)})
    assert resp.status == status
    assert (await resp.read() == b"") is (status == 304)


async def test_invalid_if_modified_since_is_ignored(client: TestClient[Any, Any]) -> None:
    resp = await client.get(SECTION_ATOM, headers={"If-Modified-Since": "yesterday-ish"})
    assert resp.status == 200


async def test_etag_changes_when_the_feed_changes(
    client: TestClient[Any, Any], store: SqlStore, cache: FeedCache
) -> None:
    before = await _etag(client)
    url = "https://www.spacewar.example/reports/Second_999.html"
    later = NOW + timedelta(hours=1)
    await store.save_article(Article(key=url, url=url, title="Second", body_html="<p>Two.</p>"), "spacewar", "spacewar/nukewars", later)
    await cache.refresh(store)
    resp = await client.get(SECTION_ATOM, headers={"If-None-Match": before})
    assert resp.status == 200
    assert resp.headers["ETag"] != before
    again = await client.get(SECTION_ATOM, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304  # the headers made for the old body are not served with the new one
    assert again.headers["ETag"] == resp.headers["ETag"]
    assert again.headers["Last-Modified"] == resp.headers["Last-Modified"]


# ---------------------------------------------------------------- HEAD and errors


@pytest.mark.parametrize("accept", ["gzip", "br", None])
async def test_head_has_the_headers_and_no_body(client: TestClient[Any, Any], accept: str | None) -> None:
    kwargs: dict[str, Any] = (
        {"headers": {"Accept-Encoding": accept}} if accept else {"skip_auto_headers": ["Accept-Encoding"]}
    )
    get = await client.get(SECTION_ATOM, **kwargs)
    head = await client.head(SECTION_ATOM, **kwargs)
    assert head.status == 200
    assert await head.read() == b""
    for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Length"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert head.headers.get("Content-Encoding") == get.headers.get("Content-Encoding")


NOT_FOUND = [
    pytest.param("/feeds/nosuch.atom", id="unknown-site"),
    pytest.param("/feeds/spacewar/nosuch.rss", id="unknown-section"),
    pytest.param("/feeds/spacewar.xml", id="unknown-format"),
    pytest.param("/feeds/spacewar/nukewars.html", id="unknown-section-format"),
    pytest.param("/feeds/a/b/c.atom", id="too-deep"),
]


@pytest.mark.parametrize("path", NOT_FOUND)
async def test_unknown_feeds_are_404(client: TestClient[Any, Any], path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert len(await resp.read()) < 200


async def test_known_feed_before_the_first_refresh_is_503(
    aiohttp_client: MakeClient, store: SqlStore, cache: FeedCache
) -> None:
    client = await aiohttp_client(build_app(SETTINGS, store, cache))
    resp = await client.get(SECTION_ATOM)
    assert resp.status == 503
    assert resp.headers["Retry-After"]


# ---------------------------------------------------------------- pages


async def test_index_links_every_feed_with_autodiscovery(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    text = gzip.decompress(await resp.read()).decode()
    doc = lxml.html.fromstring(text)
    anchors = set(doc.xpath("//a/@href"))
    alternates = {
        (link.get("type"), link.get("href")) for link in doc.xpath("//head/link[@rel='alternate']")
    }
    for key in FEED_KEYS:
        for fmt in ("atom", "rss", "json"):
            assert f"{PUBLIC}/feeds/{key}.{fmt}" in anchors
        assert ("application/atom+xml", f"{PUBLIC}/feeds/{key}.atom") in alternates
    assert ("application/rss+xml", f"{PUBLIC}/feeds/all.rss") in alternates
    assert ("application/feed+json", f"{PUBLIC}/feeds/all.json") in alternates
    assert all(link.get("title") for link in doc.xpath("//head/link[@rel='alternate']"))
    assert "Mars &amp; Moon Daily" in text and "Slow &lt;&amp;&gt; Section" in text
    assert "<script" not in text


async def test_index_follows_the_cache(client: TestClient[Any, Any], store: SqlStore, cache: FeedCache) -> None:
    first = await client.get("/", skip_auto_headers=["Accept-Encoding"])
    etag = first.headers["ETag"]
    assert (await client.get("/", headers={"If-None-Match": etag})).status == 304
    url = "https://www.marsdaily.example/reports/Rover_999.html"
    await store.save_article(Article(key=url, url=url, title="Rover", body_html="<p>Wheels.</p>"), "marsdaily", "marsdaily/rovers", NOW)
    await cache.refresh(store)
    second = await client.get("/", headers={"If-None-Match": etag}, skip_auto_headers=["Accept-Encoding"])
    assert second.status == 200
    doc = lxml.html.fromstring(await second.read())
    row = doc.xpath("//section[@id='marsdaily']//tbody/tr")[0]
    assert row.xpath("string(td[3])") == "1"


async def test_opml_lists_every_feed_grouped_by_site(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/opml", skip_auto_headers=["Accept-Encoding"])
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/x-opml")
    root = etree.fromstring(await resp.read())
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title")
    again = await client.get("/opml", skip_auto_headers=["Accept-Encoding"])
    assert again.headers["ETag"] == resp.headers["ETag"]
    feeds = root.findall(".//outline[@xmlUrl]")
    assert sorted(o.get("xmlUrl") for o in feeds) == sorted(f"{PUBLIC}/feeds/{k}.atom" for k in FEED_KEYS)
    assert all(o.get("type") == "rss" and o.get("htmlUrl") and o.get("text") for o in feeds)
    groups = {g.get("text"): g for g in root.findall("body/outline") if g.get("xmlUrl") is None}
    assert set(groups) == {"SpaceWar", "Mars & Moon Daily"}
    assert len(groups["SpaceWar"].findall("outline")) == 3  # site feed + two sections


# ---------------------------------------------------------------- health and metrics


async def test_healthz(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.text()).strip() == "ok"


async def test_readyz_waits_for_the_first_refresh(
    aiohttp_client: MakeClient, store: SqlStore, cache: FeedCache
) -> None:
    client = await aiohttp_client(build_app(SETTINGS, store, cache))
    before = await client.get("/readyz")
    assert before.status == 503
    assert "not rendered" in await before.text()
    await cache.refresh(store)
    assert (await client.get("/readyz")).status == 200


async def test_readyz_reports_an_unusable_store(aiohttp_client: MakeClient, tmp_path: Path, cache: FeedCache) -> None:
    unmigrated = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        client = await aiohttp_client(build_app(SETTINGS, unmigrated, cache))
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert "store" in await resp.text()
    finally:
        await unmigrated.close()


async def test_metrics_count_requests_renders_and_stories(client: TestClient[Any, Any]) -> None:
    await client.get(SECTION_ATOM)
    await client.get("/feeds/nosuch.atom")
    text = await (await client.get("/metrics")).text()
    assert 'feedsvc_http_requests_total{route="/feeds/{site}/{section}.{fmt}",status="200"} 1.0' in text
    assert 'feedsvc_http_requests_total{route="/feeds/{site}.{fmt}",status="404"} 1.0' in text
    assert 'feedsvc_feed_renders_total{format="atom"} 6.0' in text
    assert 'feedsvc_feed_stories{feed="spacewar/nukewars"} 1.0' in text
    assert 'feedsvc_feed_stories{feed="marsdaily"} 0.0' in text
    assert "feedsvc_feed_cache_filled 1.0" in text


async def test_each_app_has_its_own_registry_and_accepts_a_shared_one(
    aiohttp_client: MakeClient, store: SqlStore, cache: FeedCache
) -> None:
    first = build_app(SETTINGS, store, cache)
    shared = CollectorRegistry()
    Counter("feedsvc_pipeline_runs", "runs of the pipeline", registry=shared).inc()
    second = build_app(SETTINGS, store, cache, registry=shared)
    assert first[REGISTRY_KEY] is not second[REGISTRY_KEY]
    assert second[REGISTRY_KEY] is shared
    client = await aiohttp_client(second)
    assert "feedsvc_pipeline_runs_total 1.0" in await (await client.get("/metrics")).text()


# ---------------------------------------------------------------- header rules, unit by unit

CODINGS = [
    pytest.param(None, True, "identity", id="no-header"),
    pytest.param("", True, "identity", id="empty-header"),
    pytest.param("gzip, deflate", True, "gzip", id="gzip-deflate"),
    pytest.param("gzip, deflate, br", True, "br", id="br"),
    pytest.param("gzip, deflate, br", False, "gzip", id="br-not-available"),
    pytest.param("x-gzip", True, "gzip", id="x-gzip"),
    pytest.param("GZIP;Q=0.8, identity;q=0.9", True, "identity", id="case-and-q"),
    pytest.param("br;q=0, gzip;q=0", True, "identity", id="all-refused"),
    pytest.param("*;q=0", True, None, id="star-refuses-identity"),
    pytest.param("*;q=0, identity", True, "identity", id="identity-explicit"),
    pytest.param("gzip;q=bogus", True, "identity", id="bad-q"),
]


@pytest.mark.parametrize(("header", "br", "expected"), CODINGS)
def test_choose_coding(header: str | None, br: bool, expected: str | None) -> None:
    assert choose_coding(header, br) == expected


ETAG_MATCHES = [
    pytest.param('W/"abc"', 'W/"abc"', True, id="weak-weak"),
    pytest.param('"abc"', 'W/"abc"', True, id="strong-weak"),
    pytest.param('W/"abc"', '"abc"', True, id="weak-strong"),
    pytest.param('"x", W/"abc"', 'W/"abc"', True, id="list"),
    pytest.param('"a,b", "abc"', '"abc"', True, id="comma-inside-quotes"),
    pytest.param("*", 'W/"abc"', True, id="star"),
    pytest.param('"abcd"', 'W/"abc"', False, id="other"),
    pytest.param("", 'W/"abc"', False, id="empty"),
]


@pytest.mark.parametrize(("header", "etag", "expected"), ETAG_MATCHES)
def test_etag_matches(header: str, etag: str, expected: bool) -> None:
    assert etag_matches(header, etag) is expected


# ---------------------------------------------------------------- ?limit=N


async def _stories(store: SqlStore, count: int, section: str = "spacewar/nukewars") -> None:
    for n in range(count):
        url = f"https://www.spacewar.example/reports/Story_{n}_999.html"
        published = NOW - timedelta(hours=n + 1)
        await store.save_article(
            Article(key=url, url=url, title=f"Story {n}", body_html=f"<p>Text {n}.</p>", published=published),
            "spacewar", section, NOW,
        )


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
async def test_limit_serves_the_first_entries(client: TestClient[Any, Any], store: SqlStore, cache: FeedCache, fmt: str) -> None:
    await _stories(store, 4)
    await cache.refresh(store)
    path = f"/feeds/spacewar/nukewars.{fmt}"
    full = await client.get(path, skip_auto_headers=["Accept-Encoding"])
    cut = await client.get(path + "?limit=2", skip_auto_headers=["Accept-Encoding"])
    assert cut.status == 200
    assert cut.headers["ETag"] != full.headers["ETag"]
    body = await cut.read()
    if fmt == "json":
        titles = [item["title"] for item in json.loads(body)["items"]]
    else:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0
        titles = [entry.title for entry in parsed.entries]
    assert titles == ["Kim, Putin vow", "Story 0"]
    again = await client.get(path + "?limit=2", headers={"If-None-Match": cut.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""
    everything = await client.get(path + "?limit=1000", skip_auto_headers=["Accept-Encoding"])
    assert everything.headers["ETag"] == full.headers["ETag"]


BAD_LIMITS = ["0", "-1", "abc", "1.5", "1001", "", "99999999999999999999"]


@pytest.mark.parametrize("value", BAD_LIMITS)
async def test_a_bad_limit_is_400(client: TestClient[Any, Any], value: str) -> None:
    resp = await client.get(SECTION_ATOM, params={"limit": value})
    assert resp.status == 400
    assert "limit" in await resp.text()


# ---------------------------------------------------------------- RFC 5005 archive pages


@pytest.fixture
async def archived(aiohttp_client: MakeClient, store: SqlStore) -> AsyncIterator[tuple[TestClient[Any, Any], FeedCache]]:
    """Six more stories in nukewars, archive pages of three: pages 1 and 2 are closed."""
    await _stories(store, 6)
    cache = FeedCache(SETTINGS, archive_page_size=3)
    await cache.refresh(store)
    client = await aiohttp_client(build_app(SETTINGS, store, cache), auto_decompress=False)
    yield client, cache
    cache.close()


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
async def test_archive_pages_are_served_immutable(
    archived: tuple[TestClient[Any, Any], FeedCache], fmt: str
) -> None:
    client, _ = archived
    path = f"/feeds/spacewar/nukewars/archive/1.{fmt}"
    resp = await client.get(path, skip_auto_headers=["Accept-Encoding"])
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["Content-Type"] == CONTENT_TYPES[fmt]
    body = await resp.read()
    if fmt == "json":
        assert len(json.loads(body)["items"]) == 3
    else:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0 and len(parsed.entries) == 3
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["self"] == f"{PUBLIC}{path}"
        assert links["current"] == f"{PUBLIC}/feeds/spacewar/nukewars.{fmt}"
    cond = await client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
    assert cond.status == 304 and await cond.read() == b""
    head = await client.head(path, headers={"Accept-Encoding": "gzip"})
    assert head.status == 200 and await head.read() == b""


async def test_the_current_feed_points_at_the_newest_archive_page(archived: tuple[TestClient[Any, Any], FeedCache]) -> None:
    client, _ = archived
    parsed = feedparser.parse(await (await client.get(SECTION_ATOM, skip_auto_headers=["Accept-Encoding"])).read())
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["prev-archive"] == f"{PUBLIC}/feeds/spacewar/nukewars/archive/2.atom"
    page2 = feedparser.parse(await (await client.get("/feeds/spacewar/nukewars/archive/2.atom", skip_auto_headers=["Accept-Encoding"])).read())
    assert {link.rel: link.href for link in page2.feed.links}["prev-archive"] == f"{PUBLIC}/feeds/spacewar/nukewars/archive/1.atom"
    site = await client.get("/feeds/spacewar/archive/1.rss")
    assert site.status == 200
    everything = await client.get("/feeds/all/archive/2.json")
    assert everything.status == 200


MISSING_PAGES = [
    pytest.param("/feeds/spacewar/nukewars/archive/3.atom", id="open-page"),
    pytest.param("/feeds/spacewar/nukewars/archive/99.atom", id="beyond"),
    pytest.param("/feeds/spacewar/nukewars/archive/0.atom", id="zero"),
    pytest.param("/feeds/spacewar/nukewars/archive/01.atom", id="leading-zero"),
    pytest.param("/feeds/spacewar/nukewars/archive/x.atom", id="not-a-number"),
    pytest.param("/feeds/spacewar/nosuch/archive/1.atom", id="unknown-section"),
    pytest.param("/feeds/marsdaily/rovers/archive/1.json", id="empty-feed"),
]


@pytest.mark.parametrize("path", MISSING_PAGES)
async def test_missing_archive_pages_are_404(archived: tuple[TestClient[Any, Any], FeedCache], path: str) -> None:
    client, _ = archived
    resp = await client.get(path)
    assert resp.status == 404


# ---------------------------------------------------------------- WebSub discovery


async def test_feeds_advertise_the_hub_in_a_link_header(aiohttp_client: MakeClient, store: SqlStore) -> None:
    settings = dataclasses.replace(SETTINGS, websub_hub="https://hub.example.test/")
    cache = FeedCache(settings)
    try:
        await cache.refresh(store)
        client = await aiohttp_client(build_app(settings, store, cache))
        for fmt in ("atom", "rss", "json"):
            resp = await client.get(f"/feeds/spacewar/nukewars.{fmt}")
            links = {link["rel"]: str(link["url"]) for link in resp.links.values()}
            assert links == {"hub": "https://hub.example.test/", "self": f"{PUBLIC}/feeds/spacewar/nukewars.{fmt}"}
        plain = await (await aiohttp_client(build_app(SETTINGS, store, FeedCache(SETTINGS)))).get("/healthz")
        assert "Link" not in plain.headers
    finally:
        cache.close()
