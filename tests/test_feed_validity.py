"""Every feed served for the end-to-end origin, read the way subscribers read it.

Each Atom and RSS feed is read by feedparser (bozo 0) and by atoma (an
independent reader); each JSON Feed is validated against a JSON Schema written
from the JSON Feed 1.1 specification and read by atoma. In all three formats
every entry has id, link, title, author, published, updated and full content,
and the three formats carry the same stories. The validator rules checked here
are the W3C Feed Validation Service's for what feedsvc writes (self link to
the document's own URL, RSS channel description, RFC 822 dates, guid
isPermaLink="false" for urn ids, no duplicate ids, atom:updated in every entry,
plain-text titles). Archive pages (RFC 5005) are paged back to the oldest, and
a conditional request gets 304 across a restart of the service.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import atoma
import feedparser
import jsonschema
import lxml.html
import pytest
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree

from feedsvc.config import parse_settings
from feedsvc.feedcache import FeedCache
from feedsvc.models import Settings
from feedsvc.render import FORMATS
from feedsvc.service import cpu_pool, runtime
from feedsvc.store.open import open_store
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
PUBLIC = "http://feeds.test"
HUB = "https://hub.feeds.test/"
ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
PAGE_SIZE = 4  # archive pages small enough that the origin's sections fill some
ABSOLUTE = re.compile(r"^\w+:")
# The W3C validator's HTML scans: relative references (ContainsRelRef) and unsafe markup (SecurityRisk).
HREFS = re.compile(r"""<(?:a\s+[^>]*href|img\s+[^>]*src)=(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
UNSAFE = re.compile(r"<(script|meta|embed|object|iframe|style)\b|\son\w+=|\sstyle=", re.IGNORECASE)
RFC822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
TAG = re.compile(r"<[A-Za-z/][^>]*>")


def config_for(origin: Origin, data_dir: Path) -> Settings:
    text = origin.feedsvc_config(
        data_dir, ROOT / "config" / "rules", fetch={"timeout": 10}, top={"public_url": PUBLIC, "websub_hub": HUB}
    )
    return parse_settings(text, "validity.yaml", env={})


@dataclass(frozen=True)
class Entry:
    """One entry as a reader sees it, whatever the format."""

    id: str
    link: str
    title: str
    author: str
    published: datetime
    updated: datetime
    content: str
    image: str | None


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = cpu_pool(2)
    yield executor
    executor.shutdown()


@dataclass
class Served:
    settings: Settings
    client: TestClient[Any, Any]
    cache: FeedCache


@pytest.fixture
async def served(origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor) -> AsyncIterator[Served]:
    settings = config_for(origin, tmp_path)
    async with runtime(settings, cpu=pool) as rt:
        for section in settings.sections():
            report = await rt.scraper.refresh(section)
            assert report.ok, report.errors
    store = open_store(settings.storage)
    cache = FeedCache(settings, archive_page_size=PAGE_SIZE)
    try:
        await cache.refresh(store)
        client = TestClient(TestServer(build_app(settings, store, cache)))
        await client.start_server()
        try:
            yield Served(settings, client, cache)
        finally:
            await client.close()
    finally:
        cache.close()
        await store.close()


def feed_keys(settings: Settings) -> list[str]:
    return ["all", *(site.id for site in settings.sites), *(sec.key for sec in settings.sections())]


async def fetch(client: TestClient[Any, Any], path: str) -> bytes:
    response = await client.get(path)
    assert response.status == 200, path
    return await response.read()


# ---------------------------------------------------------------- readers


def read_atom(body: bytes, url: str) -> list[Entry]:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
    other = atoma.parse_atom_bytes(body)
    assert [e.id_ for e in other.entries] == [e.id for e in parsed.entries]
    entries = []
    for fp, at in zip(parsed.entries, other.entries, strict=True):
        enclosures = [link.href for link in fp.links if link.rel == "enclosure"]
        entry = Entry(
            id=fp.id,
            link=fp.link,
            title=fp.title,
            author=fp.author,
            published=_dt(fp.published_parsed),
            updated=_dt(fp.updated_parsed),
            content=at.content.value,  # as served; feedparser's copy is sanitized (re-serialized)
            image=enclosures[0] if enclosures else None,
        )
        assert _text(fp.content[0].value) == _text(entry.content)
        assert (at.title.value, at.authors[0].name) == (entry.title, entry.author)
        assert (at.published, at.updated) == (entry.published, entry.updated)
        entries.append(entry)
    return entries


def read_rss(body: bytes, url: str) -> list[Entry]:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
    other = atoma.parse_rss_bytes(body)
    assert [i.guid for i in other.items] == [e.id for e in parsed.entries]
    entries = []
    for fp, at in zip(parsed.entries, other.items, strict=True):
        entry = Entry(
            id=fp.id,
            link=fp.link,
            title=fp.title,
            author=fp.author,
            published=_dt(fp.published_parsed),
            updated=_dt(fp.updated_parsed),  # dcterms:modified
            content=at.content_encoded,  # as served; feedparser's copy is sanitized (re-serialized)
            image=fp.media_content[0]["url"] if fp.get("media_content") else None,
        )
        assert _text(fp.content[0].value) == _text(entry.content)
        assert (at.title, at.link, at.pub_date) == (entry.title, entry.link, entry.published)
        assert at.enclosures == []  # no <enclosure>: RSS requires a length, media:content instead
        entries.append(entry)
    return entries


def read_json(body: bytes, url: str) -> list[Entry]:
    feed = json.loads(body)
    jsonschema.validate(feed, SCHEMA)
    other = atoma.parse_json_feed_bytes(body)
    entries = []
    for item, at in zip(feed["items"], other.items, strict=True):
        entry = Entry(
            id=item["id"],
            link=item["url"],
            title=item["title"],
            author=item["authors"][0]["name"],
            published=datetime.fromisoformat(item["date_published"]),
            updated=datetime.fromisoformat(item["date_modified"]),
            content=item["content_html"],
            image=item.get("image"),
        )
        assert (at.id_, at.url, at.title, at.content_html) == (entry.id, entry.link, entry.title, entry.content)
        assert (at.date_published, at.date_modified, at.author.name) == (entry.published, entry.updated, entry.author)
        entries.append(entry)
    return entries


READERS = {"atom": read_atom, "rss": read_rss, "json": read_json}


def _dt(parsed: Any) -> datetime:
    return datetime(*parsed[:6], tzinfo=UTC)


def _text(html: str) -> str:
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


# ---------------------------------------------------------------- validator rules


def check_atom_rules(body: bytes, url: str) -> None:
    root = etree.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.findtext(f"{ATOM}{name}"), name
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    links = {(x.get("rel"), x.get("href")) for x in root.findall(f"{ATOM}link")}
    assert ("self", url) in links
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        ids.append(entry.findtext(f"{ATOM}id"))
        for name in ("id", "title", "updated", "published"):
            assert entry.findtext(f"{ATOM}{name}"), (url, name)
        assert entry.find(f"{ATOM}title").get("type") in (None, "text")  # type: ignore[union-attr]
        assert not TAG.search(entry.findtext(f"{ATOM}title") or "")
        assert entry.findtext(f"{ATOM}updated") >= entry.findtext(f"{ATOM}published")  # type: ignore[operator]
        assert entry.find(f"{ATOM}content").get("type") == "html"  # type: ignore[union-attr]
        alternates = [x for x in entry.findall(f"{ATOM}link") if x.get("rel") in (None, "alternate")]
        assert len(alternates) == 1
    assert len(ids) == len(set(ids)), url


def check_rss_rules(body: bytes, url: str) -> None:
    root = etree.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for name in ("title", "link", "description"):
        assert channel.findtext(name), name
    self_links = [x for x in channel.findall(f"{ATOM}link") if x.get("rel") == "self"]
    assert [(x.get("href"), x.get("type")) for x in self_links] == [(url, "application/rss+xml")]
    assert RFC822.match(channel.findtext("lastBuildDate") or ""), channel.findtext("lastBuildDate")
    guids = []
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid is not None and guid.text
        guids.append(guid.text)
        assert guid.get("isPermaLink") == ("false" if guid.text.startswith("urn:") else guid.get("isPermaLink"))
        assert RFC822.match(item.findtext("pubDate") or ""), item.findtext("pubDate")
        parsedate_to_datetime(item.findtext("pubDate"))
        assert item.find("author") is None  # RSS <author> must be an e-mail address: dc:creator instead
        assert not TAG.search(item.findtext("title") or "")
        assert not TAG.search(item.findtext("description") or "")  # the teaser is plain text
        media = item.find("{http://search.yahoo.com/mrss/}content")
        if media is not None:
            assert media.get("medium") == "image" and media.get("type", "").startswith("image/")
    assert len(guids) == len(set(guids)), url


# ---------------------------------------------------------------- the specifications


async def test_every_feed_is_valid_complete_and_the_same_in_all_three_formats(
    served: Served, origin: Origin, manifest: dict[str, Any]
) -> None:
    checked = 0
    for key in feed_keys(served.settings):
        by_format: dict[str, list[Entry]] = {}
        for fmt in FORMATS:
            url = f"{PUBLIC}/feeds/{key}.{fmt}"
            body = await fetch(served.client, f"/feeds/{key}.{fmt}")
            if fmt == "atom":
                check_atom_rules(body, url)
            elif fmt == "rss":
                check_rss_rules(body, url)
            by_format[fmt] = READERS[fmt](body, url)
        atom, rss, jsf = by_format["atom"], by_format["rss"], by_format["json"]
        assert atom, key
        assert atom == rss == jsf, key  # same stories, same order, same fields
        for entry in atom:
            assert entry.id.startswith("urn:uuid:")
            for ref in (a or b for a, b in HREFS.findall(entry.content)):
                assert ABSOLUTE.match(ref), (key, entry.link, ref)
            assert not UNSAFE.search(entry.content), (key, entry.link)
            assert entry.link.startswith("http://127.0.0.")
            assert entry.title and entry.author and _text(entry.content)
            assert entry.updated >= entry.published
            checked += 1
    assert checked > 40

    # Full content: each section's articles carry their first and last sentence.
    sections = {(sec["site"], sec["id"]): sec for sec in manifest["sections"]}
    articles = {(a["site"], a["path"]): a for a in manifest["articles"]}
    for (site, section_id), section in sections.items():
        entries = read_json(await fetch(served.client, f"/feeds/{site}/{section_id}.json"), "")
        by_link = {entry.link: entry for entry in entries}
        for path in section["articles"]:
            article = articles[(site, path)]
            entry = by_link[origin.url(site, path)]
            assert article["first_sentence"][:60] in _text(entry.content)
            assert article["last_sentence"][-60:] in _text(entry.content)
            expected_author = article["author"] or article["agency"]
            assert entry.author == expected_author


async def test_lead_images_go_out_with_their_type(served: Served, origin: Origin, manifest: dict[str, Any]) -> None:
    with_images = [a for a in manifest["articles"] if a["lead_image"]]
    assert with_images
    for article in with_images:
        section = next(s for s in manifest["sections"] if s["site"] == article["site"] and article["path"] in s["articles"])
        path = f"/feeds/{section['site']}/{section['id']}"
        link = origin.url(article["site"], article["path"])
        for fmt in FORMATS:
            body = await fetch(served.client, f"{path}.{fmt}")
            entry = next(e for e in READERS[fmt](body, "") if e.link == link)
            assert entry.image == article["lead_image"], fmt
        atom = feedparser.parse(await fetch(served.client, f"{path}.atom"))
        assert next(e for e in atom.entries if e.link == link).enclosures[0].type == "image/jpeg"
        rss = feedparser.parse(await fetch(served.client, f"{path}.rss"))
        assert next(e for e in rss.entries if e.link == link).media_content[0]["type"] == "image/jpeg"


async def test_feeds_advertise_the_hub_and_themselves(served: Served) -> None:
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(await fetch(served.client, f"/feeds/all.{fmt}"))
        links = {link.rel: link.href for link in parsed.feed.links}
        assert links["hub"] == HUB and links["self"] == f"{PUBLIC}/feeds/all.{fmt}"
    assert json.loads(await fetch(served.client, "/feeds/all.json"))["hubs"] == [{"type": "WebSub", "url": HUB}]


async def test_a_reader_pages_back_through_every_stored_story(served: Served) -> None:
    store = open_store(served.settings.storage)
    try:
        paged_feeds = 0
        for key in feed_keys(served.settings):
            stored = {story.id for story in await store.stories_for(key, 10_000)}
            for fmt in FORMATS:
                seen: set[str] = set()
                url: str | None = f"{PUBLIC}/feeds/{key}.{fmt}"
                pages = 0
                while url is not None:
                    response = await served.client.get(url.removeprefix(PUBLIC))
                    assert response.status == 200, url
                    body = await response.read()
                    if pages:
                        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
                    entries = READERS[fmt](body, url)
                    seen.update(entry.id for entry in entries)
                    url = _prev_archive(fmt, body)
                    if pages and fmt != "json":
                        assert _is_archive(fmt, body)
                    pages += 1
                assert seen == stored, (key, fmt)
            paged_feeds += pages > 1
        assert paged_feeds >= 3  # the origin fills archive pages of four in most feeds
    finally:
        await store.close()


def _prev_archive(fmt: str, body: bytes) -> str | None:
    if fmt == "json":
        value: str | None = json.loads(body).get("next_url")
        return value
    root = etree.fromstring(body)
    parent = root if fmt == "atom" else root.find("channel")
    assert parent is not None
    return next((x.get("href") for x in parent.findall(f"{ATOM}link") if x.get("rel") == "prev-archive"), None)


def _is_archive(fmt: str, body: bytes) -> bool:
    root = etree.fromstring(body)
    parent = root if fmt == "atom" else root.find("channel")
    return parent is not None and parent.find(f"{HISTORY}archive") is not None


async def test_an_unchanged_feed_is_304_across_a_restart(served: Served) -> None:
    paths = [f"/feeds/{key}.{fmt}" for key in feed_keys(served.settings) for fmt in FORMATS]
    before = {}
    for path in paths:
        response = await served.client.get(path)
        before[path] = (response.headers["ETag"], response.headers["Last-Modified"])
    await served.client.close()

    # A restart: a new store connection, a new feed cache, a new app, over the same SQLite file.
    store = open_store(served.settings.storage)
    cache = FeedCache(served.settings, archive_page_size=PAGE_SIZE)
    try:
        await cache.refresh(store)
        client = TestClient(TestServer(build_app(served.settings, store, cache)))
        await client.start_server()
        try:
            for path, (etag, last_modified) in before.items():
                by_etag = await client.get(path, headers={"If-None-Match": etag})
                assert by_etag.status == 304, path
                assert await by_etag.read() == b""
                assert by_etag.headers["ETag"] == etag
                by_date = await client.get(path, headers={"If-Modified-Since": last_modified})
                assert by_date.status == 304, path
        finally:
            await client.close()
    finally:
        cache.close()
        await store.close()


# ---------------------------------------------------------------- the schema itself


BAD_FEEDS = [
    pytest.param({"version": "https://jsonfeed.org/version/1.1", "title": "t"}, id="no-items"),
    pytest.param({"version": "https://jsonfeed.org/version/1", "title": "t", "items": []}, id="old-version"),
    pytest.param({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1"}]}, id="no-content"),
    pytest.param({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [], "colour": 1}, id="unknown-key"),
    pytest.param(
        {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1", "content_text": "x", "date_published": "25 Apr 2019"}]},
        id="bad-date",
    ),
    pytest.param({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [], "authors": [{}]}, id="empty-author"),
    pytest.param({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [], "hubs": [{"type": "WebSub"}]}, id="hub-without-url"),
]


@pytest.mark.parametrize("feed", BAD_FEEDS)
def test_the_schema_refuses_what_the_spec_forbids(feed: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(feed, SCHEMA)


def test_the_schema_accepts_the_specs_own_example_shape() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "My Example Feed",
            "home_page_url": "https://example.org/",
            "feed_url": "https://example.org/feed.json",
            "items": [
                {"id": "2", "content_text": "This is a second item.", "url": "https://example.org/second-item"},
                {"id": "1", "content_html": "<p>Hello, world!</p>", "url": "https://example.org/initial-post"},
            ],
        },
        SCHEMA,
    )
