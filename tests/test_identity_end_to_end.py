"""Each story once, end to end: scrape the fixture origin, serve the feeds, read them as a reader does.

The origin carries cross-site wire copies (the US-Japan story on SpaceDaily, the
Alcantara story on SpaceWar), companion stories (one of them, the Plesetsk launch,
also a standalone page on the other site); tests add re-posts, redirects and
corrections at run time. A story is named by its first sentence (the manifest's
``first_sentence``): copies share it, different stories do not.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import feedparser
import lxml.html
import pytest
from aiohttp.test_utils import TestClient, TestServer

from feedsvc.config import parse_settings
from feedsvc.models import Settings
from feedsvc.pipeline import Scraper, SectionReport
from feedsvc.service import Runtime, cpu_pool, runtime
from feedsvc.urls import canonical_url
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
START = datetime(2019, 4, 25, 12, 0, tzinfo=UTC)
SEED_PATH = "/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"
TOULOUSE_PATH = "/reports/France_to_create_space_command_in_Toulouse_999.html"
BRI_PATH = "/reports/China_invites_North_Korea_to_Belt_and_Road_summit_999.html"
VEGA_PATH = "/reports/Arianespace_books_three_Vega_C_launches_999.html"


# ---------------------------------------------------------------- the world: origin, clock, runtime, server


def builder() -> ModuleType:
    """tests/fixtures/build_origin.py, to render extra pages the way the fixture pages are rendered."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    return importlib.import_module("build_origin")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings_for(origin: Origin, data_dir: Path, extra: str) -> Settings:
    top = {"recheck_after": "6h", "recheck_per_run": 50, "recheck_for": "3d"}
    text = origin.feedsvc_config(data_dir, ROOT / "config" / "rules", fetch={"timeout": 10}, top=top)
    return parse_settings(text + extra + "\n", "identity.yaml", env={})


@dataclass
class World:
    origin: Origin
    rt: Runtime
    scraper: Scraper
    clock: Clock
    client: TestClient[Any, Any]

    async def scrape(self) -> list[SectionReport]:
        reports = [await self.scraper.refresh(section) for section in self.rt.settings.sections()]
        for report in reports:
            assert report.ok, report.errors
        await self.rt.cache.refresh(self.rt.store)
        return reports

    async def feed(self, key: str, fmt: str = "atom") -> Any:
        response = await self.client.get(f"/feeds/{key}.{fmt}")
        assert response.status == 200, key
        parsed = feedparser.parse(await response.read())
        assert parsed.bozo == 0, (key, parsed.get("bozo_exception"))
        return parsed

    def touch(self, site: str, path: str) -> None:
        """Change a listing's bytes (not its items), so the next run parses it again."""
        page = self.origin.root / site / path.lstrip("/")
        self.origin.set_page(site, path, page.read_bytes() + b"\n<!-- refreshed -->\n")


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = cpu_pool(2)
    yield executor
    executor.shutdown()


@asynccontextmanager
async def world(origin: Origin, data_dir: Path, pool: ProcessPoolExecutor, extra: str = "") -> AsyncIterator[World]:
    settings = settings_for(origin, data_dir, extra)
    clock = Clock(START)
    async with runtime(settings, cpu=pool) as rt:
        scraper = Scraper(settings, rt.store, rt.fetcher, rt.rules, rt.cpu, clock=clock)
        client = TestClient(TestServer(build_app(settings, rt.store, rt.cache)))
        await client.start_server()
        try:
            yield World(origin, rt, scraper, clock, client)
        finally:
            await client.close()


@pytest.fixture
async def scraped(origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor) -> AsyncIterator[World]:
    async with world(origin, tmp_path, pool) as made:
        await made.scrape()
        yield made


# ---------------------------------------------------------------- what the manifest says the stories are


def text_of(html: str) -> str:
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


def stories_by_feed(manifest: dict[str, Any]) -> dict[str, set[str]]:
    """Feed key -> the stories (first sentences) it must hold: listed articles and their companions."""
    feeds: dict[str, set[str]] = {"all": set()}
    for article in manifest["articles"]:
        names = {article["first_sentence"], *(c["first_sentence"] for c in article["companions"])}
        for section in article["sections"]:
            for key in ("all", article["site"], f"{article['site']}/{section}"):
                feeds.setdefault(key, set()).update(names)
    return feeds


def entries_holding(parsed: Any, sentence: str) -> list[Any]:
    return [entry for entry in parsed.entries if sentence[:60] in text_of(entry.content[0].value)]


def article(manifest: dict[str, Any], site: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in manifest["articles"] if (a["site"], a["path"]) == (site, path))
    return found


# ---------------------------------------------------------------- each story once


async def assert_each_story_once(world: World, manifest: dict[str, Any], fmt: str = "atom") -> None:
    """Every feed (all, each site, each section) holds each of its stories in exactly one entry."""
    for key, wanted in stories_by_feed(manifest).items():
        parsed = await world.feed(key, fmt)
        for sentence in wanted:
            held = entries_holding(parsed, sentence)
            assert len(held) == 1, f"{key}.{fmt}: {len(held)} entries of {sentence[:60]!r}"
        assert len(parsed.entries) == len(wanted), f"{key}.{fmt}: {len(parsed.entries)} entries, {len(wanted)} stories"
        assert len({entry.id for entry in parsed.entries}) == len(parsed.entries)


async def test_every_feed_holds_each_of_its_stories_exactly_once(scraped: World, manifest: dict[str, Any]) -> None:
    for fmt in ("atom", "rss"):
        await assert_each_story_once(scraped, manifest, fmt)


async def test_a_cross_site_copy_is_one_entry_in_merged_feeds_and_its_own_sites_copy_in_a_section(
    scraped: World, manifest: dict[str, Any]
) -> None:
    original = article(manifest, "spacewar", "/reports/US_and_Japan_agree_to_deepen_missile_defence_cooperation_999.html")
    copy = article(manifest, "spacedaily", "/reports/US_Japan_agree_to_deepen_missile_defense_cooperation_999.html")
    original_url, copy_url = (scraped.origin.url(a["site"], a["path"]) for a in (original, copy))
    (in_all,) = entries_holding(await scraped.feed("all"), original["first_sentence"])
    assert in_all.link == original_url  # the copy seen first is the primary
    assert "Also published at" in in_all.content[0].value and copy_url in in_all.content[0].value
    (in_industry,) = entries_holding(await scraped.feed("spacedaily/industry"), copy["first_sentence"])
    assert (in_industry.link, in_industry.title) == (copy_url, copy["title"])  # a section keeps its own site's copy
    assert original_url in in_industry.content[0].value
    (in_nukewars,) = entries_holding(await scraped.feed("spacewar/nukewars"), original["first_sentence"])
    assert in_nukewars.link == original_url
    assert in_industry.published_parsed == in_all.published_parsed  # one story, one published time


async def test_a_companion_story_and_its_standalone_page_are_one_story_linking_to_the_page(
    scraped: World, manifest: dict[str, Any]
) -> None:
    host = article(manifest, "spacedaily", "/reports/Russias_launch_industry_hunts_for_new_customers_as_Western_orders_dry_up_999.html")
    (companion,) = host["companions"]
    standalone = article(manifest, "spacewar", "/reports/Russia_launches_military_navigation_satellite_from_Plesetsk_999.html")
    assert companion["first_sentence"] == standalone["first_sentence"]
    page = scraped.origin.url("spacewar", standalone["path"])
    for key in ("all", "spacedaily", "spacedaily/industry", "spacewar/milspace"):
        (entry,) = entries_holding(await scraped.feed(key), companion["first_sentence"])
        assert entry.link == page, key


async def test_the_companion_seen_first_becomes_the_standalone_story_keeping_its_id(
    origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor, manifest: dict[str, Any]
) -> None:
    standalone = article(manifest, "spacewar", "/reports/Russia_launches_military_navigation_satellite_from_Plesetsk_999.html")
    async with world(origin, tmp_path, pool) as w:
        sections = {s.key: s for s in w.rt.settings.sections()}
        await w.scraper.refresh(sections["spacedaily/industry"])  # the host page of the companion first
        await w.rt.cache.refresh(w.rt.store)
        (before,) = entries_holding(await w.feed("all"), standalone["first_sentence"])
        assert "#" in before.link
        w.clock.advance(hours=1)
        await w.scrape()
        (after,) = entries_holding(await w.feed("all"), standalone["first_sentence"])
        assert (after.id, after.published) == (before.id, before.published)
        assert after.link == origin.url("spacewar", standalone["path"])


# ---------------------------------------------------------------- corrections in place


async def test_a_correction_updates_the_entry_in_place(scraped: World, manifest: dict[str, Any]) -> None:
    story = article(manifest, "spacewar", TOULOUSE_PATH)
    (before,) = entries_holding(await scraped.feed("all"), story["first_sentence"])
    page = (scraped.origin.root / "spacewar" / TOULOUSE_PATH.lstrip("/")).read_bytes()
    corrected = page.replace(b"about 220 personnel", b"about 250 personnel")
    assert corrected != page
    scraped.origin.set_page("spacewar", TOULOUSE_PATH, corrected)
    scraped.clock.advance(hours=7)  # past recheck_after
    scraped.origin.clear_log()

    reports = await scraped.scrape()

    assert all(report.not_modified for report in reports)  # no listing changed: the re-check found it
    (fetch,) = scraped.origin.requests(TOULOUSE_PATH)
    assert fetch.status == 200 and "If-None-Match" in fetch.headers
    others = [r for r in scraped.origin.requests() if r.path.startswith("/reports/") and r.path != TOULOUSE_PATH]
    assert others and all(r.status == 304 for r in others)  # unchanged pages cost a 304
    for key in ("all", "spacewar", "spacewar/milspace"):
        (after,) = entries_holding(await scraped.feed(key), story["first_sentence"])
        assert (after.id, after.published) == (before.id, before.published)
        assert after.updated_parsed > before.updated_parsed
        assert "about 250 personnel" in after.content[0].value
        assert "about 220 personnel" not in after.content[0].value
    await assert_each_story_once(scraped, manifest)  # no second entry anywhere


async def test_a_cosmetic_change_is_no_correction(scraped: World, manifest: dict[str, Any]) -> None:
    story = article(manifest, "spacewar", BRI_PATH)
    (before,) = entries_holding(await scraped.feed("spacewar/nukewars"), story["first_sentence"])
    page = (scraped.origin.root / "spacewar" / BRI_PATH.lstrip("/")).read_bytes()
    first_break = page.index(b"<br><br>", page.index(b"China said Friday"))
    cosmetic = (
        page[:first_break].replace(b"China said Friday", b"China  said \n Friday")
        + b"<br><br>Viewed 1,234 times<br><br>"
        + b'<table align="center"><tr><td><font size="1" color="#999999">Advertisement</font></td></tr></table>'
        + page[first_break:]
    )
    scraped.origin.set_page("spacewar", BRI_PATH, cosmetic)
    scraped.clock.advance(hours=7)
    scraped.origin.clear_log()

    await scraped.scrape()

    assert [r.status for r in scraped.origin.requests(BRI_PATH)] == [200]  # fetched again ...
    (after,) = entries_holding(await scraped.feed("spacewar/nukewars"), story["first_sentence"])
    assert (after.id, after.published, after.updated) == (before.id, before.published, before.updated)  # ... unchanged
    assert after.content[0].value == before.content[0].value


async def test_stories_are_re_checked_only_when_due_and_only_for_a_while(scraped: World) -> None:
    scraped.origin.clear_log()
    scraped.clock.advance(hours=1)
    await scraped.scrape()
    assert not [r for r in scraped.origin.requests() if r.path.startswith("/reports/")]  # not due yet
    scraped.clock.advance(days=4)  # past recheck_for: old stories are left alone
    await scraped.scrape()
    assert not [r for r in scraped.origin.requests() if r.path.startswith("/reports/")]


# ---------------------------------------------------------------- stable dates, re-posts, redirects


async def test_a_repost_with_a_new_date_does_not_make_the_story_look_new(
    scraped: World, manifest: dict[str, Any]
) -> None:
    build = builder()
    seed = article(manifest, "spacewar", SEED_PATH)
    (original,) = entries_holding(await scraped.feed("all"), seed["first_sentence"])
    repost = replace(
        build.SEED,
        path="/reports/Kim_and_Putin_pledge_closer_ties_999.html",
        title="Kim and Putin pledge closer ties",
        dateline="Vladivostok, Russia (AFP) April 26, 2019",
        sections=("milspace",),
        last_modified="Fri, 26 Apr 2019 08:00:00 GMT",
    )
    stories = (*build.STORIES, repost)
    by_path = {(s.site, s.path): s for s in stories}
    scraped.origin.set_page("spacewar", repost.path, build.render_article(repost, by_path))
    milspace = next(s for s in build.SECTIONS if s.id == "milspace")
    members = [repost, *(s for s in build.STORIES if s.site == "spacewar" and "milspace" in s.sections)]
    scraped.origin.set_page("spacewar", milspace.pages[0][1], build.render_section_html(milspace, members))
    scraped.clock.advance(days=1)

    await scraped.scrape()

    (in_milspace,) = entries_holding(await scraped.feed("spacewar/milspace"), seed["first_sentence"])
    assert in_milspace.link == scraped.origin.url("spacewar", repost.path)
    assert in_milspace.published == original.published  # the story's time, not the re-post's
    for key in ("all", "spacewar"):
        (entry,) = entries_holding(await scraped.feed(key), seed["first_sentence"])
        assert (entry.id, entry.link) == (original.id, original.link)


async def test_a_redirected_link_is_an_alias_and_is_not_fetched_again(scraped: World) -> None:
    origin = scraped.origin
    listing = "/Space_Industry.xml"
    old, moved, new_home = "/reports/Old_address_999.html", "/reports/Moved_999.html", "/reports/New_home_999.html"
    origin.set_status("spacedaily", old, 301, {"Location": VEGA_PATH})  # to a stored story
    origin.set_status("spacedaily", moved, 301, {"Location": new_home})  # to a page not stored yet
    build = builder()
    home = replace(build.REFUELLING, path=new_home, title="Fuel depot startup picks launch provider", teaser_of=None, body="""
Orbital Depot Systems, the Colorado company building a refuelling tanker for satellites, said Thursday it had chosen an Indian rocket to launch its first demonstration mission in 2021.

The tanker will fly as a secondary payload on a Polar Satellite Launch Vehicle from Sriharikota, the company said, after a competition that also drew bids from European and American launch firms.

Executives said the Indian offer combined a suitable orbit, a fixed date and a price well below that of a dedicated small launcher.

The company plans to offer hydrazine and xenon to satellites fitted with a standard port, and has signed letters of intent with six operators.
""")
    origin.set_page("spacedaily", new_home, build.render_article(home, {}))

    def add_items(*paths: str) -> None:
        feed = (origin.root / "spacedaily" / listing.lstrip("/")).read_bytes()
        items = b"".join(
            b"<item><title>Moved story</title><link>%s</link><description>Teaser ...</description>"
            b"<pubDate>Thu, 25 Apr 2019 14:00:00 GMT</pubDate></item>\n" % path.encode() for path in paths
        )
        origin.set_page("spacedaily", listing, feed.replace(b"</channel>", items + b"</channel>"))

    before = len((await scraped.feed("spacedaily/industry")).entries)
    add_items(old, moved)
    origin.clear_log()
    await scraped.scrape()
    assert [r.status for r in origin.requests(old)] == [301] and [r.status for r in origin.requests(moved)] == [301]
    assert len((await scraped.feed("spacedaily/industry")).entries) == before + 1  # only the new page is a story
    states = await scraped.rt.store.key_states(
        [canonical_url(origin.url("spacedaily", path)) for path in (old, moved, new_home)]
    )
    assert len(states) == 3 and all(state.live for state in states.values())

    add_items(new_home)  # the new page listed under its own address: known, not fetched
    origin.clear_log()
    await scraped.scrape()
    assert origin.requests(old) == origin.requests(moved) == origin.requests(new_home) == []
    assert len((await scraped.feed("spacedaily/industry")).entries) == before + 1


# ---------------------------------------------------------------- retention and tombstones


async def test_stories_past_retention_leave_and_are_not_taken_in_again(
    origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor, manifest: dict[str, Any]
) -> None:
    async with world(origin, tmp_path, pool, extra="retention_items: 4\nretention_age: 30d") as w:
        await w.scrape()
        nukewars = await w.feed("spacewar/nukewars")
        assert len(nukewars.entries) == 4  # the newest four stay
        kept = {entry.link for entry in nukewars.entries}
        gone = [a for a in manifest["articles"] if a["sections"] == ["nukewars"] and w.origin.url("spacewar", a["path"]) not in kept]
        assert gone
        for listing in ("/Nuclear_Weapons.html", "/Military_Space_News.html"):
            w.touch("spacewar", listing)
        origin.clear_log()
        await w.scrape()
        assert all(origin.requests(a["path"]) == [] for a in gone)  # tombstoned: not fetched again ...
        links = {entry.link for entry in (await w.feed("spacewar/nukewars")).entries}
        assert not links & {w.origin.url("spacewar", a["path"]) for a in gone}  # ... nor listed again

        w.clock.advance(days=31)  # every story is past the age limit
        await w.scrape()
        assert (await w.feed("all")).entries == []
        w.touch("spacedaily", "/Space_Industry.xml")
        for listing in ("/Nuclear_Weapons.html", "/Military_Space_News.html"):
            w.touch("spacewar", listing)
        origin.clear_log()
        await w.scrape()
        assert not [r for r in origin.requests() if r.path.startswith("/reports/")]
        assert (await w.feed("all")).entries == []
