"""Faults at the origin lose nothing: every fault mode, scraped through the real pipeline.

Each test starts from a full scrape of the fixture origin (stories stored, feeds
served), then makes the origin misbehave and scrapes again, concurrently, as the
daemon does. What must hold, whatever the fault:

- the stories stored before are all still there, unchanged (same id, content, times);
- every feed served before still serves its entries unchanged; feeds of sources not
  touched by the fault are byte-for-byte the same (same ETag);
- the fault is reported: a log line naming the URL and what went wrong, a counted
  failure (pipeline counters, ``/metrics``), the section's last error on ``/status``;
- isolation: a failing article never fails its section (a good article listed next
  to it is stored in the same run), a failing section or site never stops the others;
- a passing fault is got over: once it is gone, the next run takes what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from feedsvc.config import parse_settings
from feedsvc.pipeline import SectionReport
from feedsvc.service import Runtime, observe, runtime
from feedsvc.urls import canonical_url
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
ORIGIN_TREE = Path(__file__).parent / "fixtures" / "origin"
CAP = 300_000
FAST = {
    "min_delay": 0.0, "timeout": 1.0, "connect_timeout": 0.5, "retries": 1, "backoff": 0.02,
    "max_bytes": CAP, "max_retry_after": 2, "breaker_failures": 5, "breaker_cooldown": 1,
}
LISTING = "/Space_Industry.xml"  # spacedaily/industry, an RSS feed: new articles are added to it
SECTION_PAGE = "/Nuclear_Weapons.html"  # spacewar/nukewars, an HTML section page
GOOD = "/reports/Lunar_rover_prototype_completes_desert_trials_999.html"
BAD = "/reports/Ground_station_adds_third_tracking_antenna_999.html"
CURLY = "“We’re ready,” said Jean-Yves Le Drian in São Paulo — naïvely…"
GOOD_TEXT = [
    "A prototype lunar rover completed three weeks of driving trials in the Mojave desert, its builders said on Thursday, covering 140 kilometres over dunes, gravel and basalt flows.",
    "The six-wheeled vehicle carried a drill and a ground-penetrating radar of the kind a later mission would use to look for water ice near the Moon's south pole.",
    "Engineers deliberately drove it into soft sand twice to test a recovery mode in which the wheels walk the chassis forward one axle at a time.",
    "The company plans a second prototype with heated battery enclosures next year and says it has held talks with two lander companies about a ride to the surface.",
    "Funding for the trials came from a space agency development contract worth 4.2 million dollars awarded in 2018.",
]
BAD_TEXT = [
    "Engineers at a ground station in the Atacama desert finished installing a new tracking antenna on Friday, the operator said, the third such dish to enter service this year.",
    f"{CURLY} The antenna will follow polar-orbiting weather satellites and relay their imagery to forecasters within minutes of each pass.",
    "The operator expects the dish to handle forty passes a day once calibration ends, roughly doubling the station's capacity for low-Earth-orbit customers.",
    "Local officials welcomed the investment, which brought fifty construction jobs to the region over eighteen months of work on the foundations and control building.",
    "A fourth antenna is planned for 2021, pending approval of an environmental review that covers nesting sites of protected birds near the perimeter fence.",
]


def article_page(title: str, paragraphs: list[str], *, meta_charset: str | None = "utf-8") -> str:
    """A page in the network's template (headline cell, byline, dateline, <br><br> paragraphs)."""
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={meta_charset}">' if meta_charset else ""
    body = "<br><br>\n".join(paragraphs)
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head>{meta}<title>{title}</title></head><body>
<table width="100%" border="0"><tr><td width="130">&nbsp;</td><td valign="top">
<table width="100%"><tr><td>
<font face="Arial" size="2" color="#990000"><b>SPACE INDUSTRY</b></font>
<h1>{title}</h1>
<font face="Arial" size="2"><b>By Test Writer</b></font><br>
<font face="Arial" size="2">Santiago, Chile (SPX) Apr 26, 2019</font>
</td></tr></table><br>
<span style="font-size: 14px;">
{body}<br><br>
</span>
<br><b>Related Links</b><br><a href="/">SpaceDaily</a><br>
</td></tr></table></body></html>
"""


def malformed_page(title: str, paragraphs: list[str]) -> str:
    """The same story in broken markup: unclosed and misnested tags, stray end tags, duplicate
    and unquoted attributes, bare entities, no <head>/</body>/</html>, an unterminated comment."""
    body = "<br><br>\n".join(f"<p class=x><b>{p}" if i % 2 else f"<i>{p}</b></div>" for i, p in enumerate(paragraphs))
    return f"""<html><title>{title}</title><meta charset=utf-8></head>
<body bgcolor=#fff bgcolor=#000>
<table width=100%><tr><td valign=top>
<table><tr><td><h1>{title}</h2>
<font size=2><b>By Test Writer</font><br>
<font size="2">Santiago, Chile (SPX) Apr 26, 2019
</td></tr></table></td><br></center>
<span style=font-size:14px>
{body}<br><br>
</tr></table></table></span></td> AT&T &nbsp &copy
<br><b>Related Links<br><a href=/>SpaceDaily</a><br><!-- unterminated comment
"""


BAD_TITLE = "Ground station adds third tracking antenna"
GOOD_TITLE = "Lunar rover prototype completes desert trials"


# ------------------------------------------------------------------ the service under test


@dataclass
class Snapshot:
    stories: dict[str, tuple[Any, ...]]  # key -> the stored row
    feeds: dict[str, tuple[int, str, bytes]]  # path -> (status, ETag, body)


@dataclass
class Service:
    rt: Runtime
    client: TestClient[Any, Any]
    origin: Origin
    db: Path

    async def scrape(self) -> dict[str, SectionReport]:
        """Every section at once, as the daemon's scheduler runs them."""
        reports = await asyncio.gather(*(self.rt.scraper.refresh(section) for section in self.rt.settings.sections()))
        await self.rt.cache.refresh(self.rt.store)
        return {report.section_key: report for report in reports}

    def stories(self) -> dict[str, tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            rows = conn.execute("SELECT key, id, title, content_hash, content_html, published, updated, first_seen FROM stories").fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}

    def feed_paths(self) -> list[str]:
        keys = ["all", *(site.id for site in self.rt.settings.sites), *(s.key for s in self.rt.settings.sections())]
        return [f"/feeds/{key}.{fmt}" for key in keys for fmt in ("atom", "rss", "json")]

    async def feeds(self) -> dict[str, tuple[int, str, bytes]]:
        served = {}
        for path in self.feed_paths():
            response = await self.client.get(path)
            served[path] = (response.status, response.headers.get("ETag", ""), await response.read())
        return served

    async def snapshot(self) -> Snapshot:
        return Snapshot(self.stories(), await self.feeds())

    async def status(self) -> dict[str, Any]:
        response = await self.client.get("/status.json")
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document

    async def metrics(self) -> str:
        response = await self.client.get("/metrics")
        return await response.text()

    def list_articles(self, *items: tuple[str, str]) -> None:
        """Add (path, title) items at the top of the RSS listing of spacedaily/industry."""
        listing = (self.origin.root / "spacedaily" / LISTING.lstrip("/")).read_text(encoding="utf-8")
        new = "".join(
            f"<item>\n<title>{title}</title>\n<link>{path}</link>\n<description>{title}.</description>\n"
            f"<pubDate>Fri, 26 Apr 2019 0{index}:00:00 GMT</pubDate>\n</item>\n"
            for index, (path, title) in enumerate(items, start=1)
        )
        marker = "<item>"
        head, _, tail = listing.partition(marker)
        self.origin.set_page("spacedaily", LISTING, (head + new + marker + tail).encode("utf-8"))

    def url(self, path: str, site: str = "spacedaily") -> str:
        return self.origin.url(site, path)


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@contextlib.asynccontextmanager
async def running_service(
    origin: Origin, data_dir: Path, threads: ThreadPoolExecutor, *, scrape: bool, **fetch: object
) -> AsyncIterator[Service]:
    """The service on ``data_dir``, serving its feeds; ``scrape``: after a first full scrape."""
    text = origin.feedsvc_config(data_dir, ROOT / "config" / "rules", fetch={**FAST, **fetch})
    settings = parse_settings(text, "faults.yaml", env={})
    async with runtime(settings, cpu=threads) as rt:
        app = build_app(settings, rt.store, rt.cache)
        observe(app, rt)
        client = TestClient(TestServer(app))
        await client.start_server()
        running = Service(rt, client, origin, data_dir / "feedsvc.db")
        try:
            if scrape:
                reports = await running.scrape()
                assert all(report.ok and not report.failed for report in reports.values()), reports
            else:
                await rt.cache.refresh(rt.store)
            yield running
        finally:
            await client.close()


# One origin and one first full scrape for the whole module (the scrape is the slow part):
# each test gets the origin rolled back to its first state and a copy of the scraped store.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_origin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Origin]:
    root = tmp_path_factory.mktemp("faults") / "origin"
    shutil.copytree(ORIGIN_TREE, root)
    async with Origin(root) as served:
        yield served


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scraped_store(shared_origin: Origin, tmp_path_factory: pytest.TempPathFactory, threads: ThreadPoolExecutor) -> Path:
    """A store holding a first full scrape of the origin (closed, so its WAL is folded in)."""
    data_dir = tmp_path_factory.mktemp("scraped")
    async with running_service(shared_origin, data_dir, threads, scrape=True):
        pass
    return data_dir


@pytest_asyncio.fixture(loop_scope="module")
async def pristine_origin(shared_origin: Origin) -> AsyncIterator[Origin]:
    saved = shared_origin.checkpoint()
    try:
        yield shared_origin
    finally:
        await shared_origin.rollback(saved)


@contextlib.asynccontextmanager
async def service_on_copy(origin: Origin, scraped: Path, tmp_path: Path, threads: ThreadPoolExecutor, **fetch: object) -> AsyncIterator[Service]:
    data_dir = tmp_path / "data"
    shutil.copytree(scraped, data_dir)
    async with running_service(origin, data_dir, threads, scrape=False, **fetch) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def service(pristine_origin: Origin, scraped_store: Path, tmp_path: Path, threads: ThreadPoolExecutor) -> AsyncIterator[Service]:
    async with service_on_copy(pristine_origin, scraped_store, tmp_path, threads) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def touchy_service(pristine_origin: Origin, scraped_store: Path, tmp_path: Path, threads: ThreadPoolExecutor) -> AsyncIterator[Service]:
    """A circuit breaker that opens after 2 failed requests, for 1 s; no retries."""
    async with service_on_copy(pristine_origin, scraped_store, tmp_path, threads, breaker_failures=2, breaker_cooldown=1, retries=0) as running:
        yield running


def entries(body: bytes) -> dict[str, tuple[str, str, str]]:
    """Atom entries: id -> (title, updated, content)."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return {e.id: (e.title, e.updated, e.content[0].value) for e in parsed.entries}


def text_of(html: str) -> str:
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())


def assert_nothing_lost(before: Snapshot, after: Snapshot, *, untouched: tuple[str, ...]) -> None:
    """Stored stories unchanged, feeds still serving their entries, untouched feeds identical."""
    for key, row in before.stories.items():
        assert after.stories.get(key) == row, f"stored story {key} changed or vanished"
    for path, (status, etag, body) in before.feeds.items():
        now_status, now_etag, now_body = after.feeds[path]
        assert now_status == status == 200, path
        if path.endswith(".atom"):
            old, new = entries(body), entries(now_body)
            for entry_id, entry in old.items():
                assert new.get(entry_id) == entry, f"{path}: entry {entry_id} changed or vanished"
        if path.startswith(untouched):
            assert (now_etag, now_body) == (etag, body), f"{path} changed"


def failure_logged(caplog: pytest.LogCaptureFixture, url: str, words: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("feedsvc") and url in r.getMessage() and words.lower() in r.getMessage().lower()
    ]


def host_of(service: Service, site: str = "spacedaily") -> str:
    return service.origin.base_url(site).split("//", 1)[1]


def counter(metrics: str, name: str) -> float:
    line = next(line for line in metrics.splitlines() if line.startswith(name + " ") or line == name)
    return float(line.rsplit(" ", 1)[1])


# ------------------------------------------------------------------ the fault table

Apply = Callable[[Service], Awaitable[None] | None]


@dataclass(frozen=True)
class Fault:
    apply: Apply
    words: str  # in the error, the log line and the status page
    stored: bool = False  # survivable: the article is stored all the same, correctly
    passing: bool = True  # a later run takes the article once the fault is gone


def _fault(mode: str, **options: object) -> Apply:
    return lambda svc: svc.origin.set_fault("spacedaily", BAD, mode, **options)


def _status(code: int, headers: dict[str, str] | None = None) -> Apply:
    return lambda svc: svc.origin.set_status("spacedaily", BAD, code, headers)


def _loop(svc: Service) -> None:
    svc.origin.set_fault("spacedaily", BAD, "redirect", location="/reports/Loop_999.html")
    svc.origin.set_fault("spacedaily", "/reports/Loop_999.html", "redirect", location=BAD)


def _to_configured_site(svc: Service) -> None:
    svc.origin.set_page("spacewar", "/reports/Moved_999.html", article_page(BAD_TITLE, BAD_TEXT).encode("utf-8"))
    svc.origin.set_fault("spacedaily", BAD, "redirect", location=svc.url("/reports/Moved_999.html", site="spacewar"))


def _served(body: bytes, content_type: str) -> Apply:
    return lambda svc: svc.origin.set_page("spacedaily", BAD, body, content_type)


CP1252_UNDECLARED = article_page(BAD_TITLE, BAD_TEXT, meta_charset=None).encode("cp1252")
FAULTS = {
    "no-answer": Fault(_fault("hang", seconds=5), "timed out"),
    "slow-drip": Fault(_fault("drip", interval=0.05), "total timeout"),
    "reset-mid-body": Fault(_fault("reset"), "body cut short"),
    "truncated-body": Fault(_fault("truncate"), "content length"),
    "http-500": Fault(_status(500), "HTTP 500"),
    "http-503": Fault(_status(503), "HTTP 503"),
    "retry-after-too-long": Fault(_status(503, {"Retry-After": "3600"}), "Retry-After 3600s", passing=False),
    "gone-404": Fault(_status(404), "HTTP 404", passing=False),
    "gone-410": Fault(_status(410), "HTTP 410", passing=False),
    "redirect-loop": Fault(_loop, "redirect loop"),
    "redirect-off-site": Fault(_fault("redirect", location="http://127.0.0.9:9/x.html"), "another site"),
    "redirect-to-configured-site": Fault(_to_configured_site, "", stored=True),
    "not-html": Fault(_fault("content_type", content_type="application/pdf"), "application/pdf", passing=False),
    "over-size-cap": Fault(_fault("huge", size=5_000_000), "cap"),
    "declared-over-size-cap": Fault(_fault("huge_declared", size=5_000_000), "Content-Length 5000000"),
    "gzip-bomb": Fault(_fault("bomb", size=50_000_000), "gzip-inflated"),
    "binary-as-html": Fault(_fault("binary"), "binary data", passing=False),
    "no-article-in-page": Fault(_served(b"<html><body><div></div></body></html>", "text/html"), "", passing=False),
    "malformed-html": Fault(_served(malformed_page(BAD_TITLE, BAD_TEXT).encode("utf-8"), "text/html"), "", stored=True),
    "undeclared-charset": Fault(_served(CP1252_UNDECLARED, "text/html"), "", stored=True),
    "http-says-utf8-body-cp1252": Fault(_served(CP1252_UNDECLARED, "text/html; charset=utf-8"), "", stored=True),
    "meta-says-utf8-body-cp1252": Fault(_served(article_page(BAD_TITLE, BAD_TEXT).encode("cp1252"), "text/html"), "", stored=True),
    "http-says-latin1-body-utf8": Fault(
        _served(article_page(BAD_TITLE, BAD_TEXT, meta_charset=None).encode("utf-8"), "text/html; charset=iso-8859-1"), "", stored=True
    ),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_a_faulty_article_costs_only_itself(service: Service, caplog: pytest.LogCaptureFixture, name: str) -> None:
    fault = FAULTS[name]
    before = await service.snapshot()
    failures_before = service.rt.scraper.counters.article_failures
    service.origin.set_page("spacedaily", GOOD, article_page(GOOD_TITLE, GOOD_TEXT).encode("utf-8"))
    service.origin.set_page("spacedaily", BAD, article_page(BAD_TITLE, BAD_TEXT).encode("utf-8"))
    service.list_articles((GOOD, GOOD_TITLE), (BAD, BAD_TITLE))
    applied = fault.apply(service)
    if applied is not None:
        await applied
    caplog.set_level(logging.INFO)

    reports = await service.scrape()

    assert all(report.ok for report in reports.values()), {k: r.errors for k, r in reports.items()}
    after = await service.snapshot()
    assert_nothing_lost(before, after, untouched=("/feeds/spacewar",))
    new_keys = set(after.stories) - set(before.stories)
    good, bad = canonical_url(service.url(GOOD)), canonical_url(service.url(BAD))
    assert good in new_keys, "the good article next to the faulty one was not stored"
    industry = reports["spacedaily/industry"]
    if fault.stored:
        assert bad in new_keys and industry.failed == 0, industry.errors
        body = text_of(after.stories[bad][3])
        for paragraph in BAD_TEXT:
            assert paragraph in body, f"{paragraph[:40]!r} lost from the stored story"
        assert "\ufffd" not in body and "â€" not in body
        assert after.stories[bad][1].startswith(BAD_TITLE)  # broken markup may pull the byline into the headline
        return
    assert new_keys == {good}
    assert industry.failed == 1 and fault.words.lower() in industry.errors[0].lower(), industry.errors
    assert failure_logged(caplog, service.url(BAD), fault.words), "no clear log line for the fault"
    assert service.rt.scraper.counters.article_failures == failures_before + 1
    assert counter(await service.metrics(), "feedsvc_article_failures_total") == failures_before + 1
    status = next(s for s in (await service.status())["sections"] if s["key"] == "spacedaily/industry")
    assert status["state"] == "ok" and service.url(BAD) in status["last_error"] and status["last_error_at"]
    # Served feeds gained the good story only.
    industry_feed = entries(after.feeds["/feeds/spacedaily/industry.atom"][2])
    assert GOOD_TITLE in {title for title, _, _ in industry_feed.values()}
    assert BAD_TITLE not in {title for title, _, _ in industry_feed.values()}

    if fault.passing:  # the fault goes away: the next run takes the article it missed
        for path in (BAD, "/reports/Loop_999.html"):
            service.origin.clear_fault("spacedaily", path)
            service.origin.clear_status("spacedaily", path)
        await asyncio.sleep(FAST["backoff"] * 3)  # type: ignore[operator]
        again = await service.scrape()
        assert again["spacedaily/industry"].ok and again["spacedaily/industry"].failed == 0, again["spacedaily/industry"].errors
        assert bad in service.stories()


SECTION_FAULTS = {
    "no-answer": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "hang", seconds=5), "timed out"),
    "slow-drip": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "drip", interval=0.05), "total timeout"),
    "reset-mid-body": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "reset"), "body cut short"),
    "truncated-body": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "truncate"), "content length"),
    "http-502": (lambda o: o.set_status("spacewar", SECTION_PAGE, 502), "HTTP 502"),
    "gone-404": (lambda o: o.set_status("spacewar", SECTION_PAGE, 404), "HTTP 404"),
    "redirect-loop": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "redirect", location=SECTION_PAGE), "redirect loop"),
    "redirect-off-site": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "redirect", location="http://127.0.0.9:9/"), "another site"),
    "not-html": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "content_type", content_type="image/jpeg"), "image/jpeg"),
    "over-size-cap": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "huge", size=5_000_000), "cap"),
    "gzip-bomb": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "bomb", size=50_000_000), "gzip-inflated"),
    "binary-as-html": (lambda o: o.set_fault("spacewar", SECTION_PAGE, "binary"), "binary data"),
}


@pytest.mark.parametrize("name", list(SECTION_FAULTS))
async def test_a_faulty_section_page_fails_its_section_only_and_feeds_keep_serving(
    service: Service, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    apply, words = SECTION_FAULTS[name]
    before = await service.snapshot()
    success_before = next(s for s in (await service.status())["sections"] if s["key"] == "spacewar/nukewars")["last_success"]
    apply(service.origin)
    caplog.set_level(logging.INFO)

    reports = await service.scrape()

    nukewars = reports.pop("spacewar/nukewars")
    assert not nukewars.ok and words.lower() in nukewars.errors[0].lower(), nukewars.errors
    assert all(report.ok for report in reports.values()), "a failing section stopped another"
    after = await service.snapshot()
    assert after.stories == before.stories
    assert_nothing_lost(before, after, untouched=("/feeds/",))  # every feed byte-for-byte the same
    assert failure_logged(caplog, service.url(SECTION_PAGE, site="spacewar"), words)
    metrics = await service.metrics()
    assert counter(metrics, 'feedsvc_section_runs_total{result="failed"}') == 1
    status = next(s for s in (await service.status())["sections"] if s["key"] == "spacewar/nukewars")
    assert status["state"] == "failing" and words.lower() in status["last_error"].lower()
    assert status["last_success"] == success_before and status["last_run"]["ok"] is False


async def test_an_unreachable_site_stops_only_itself_and_is_taken_up_again(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    before = await service.snapshot()
    await service.origin.set_unreachable("spacedaily")
    caplog.set_level(logging.INFO)

    reports = await service.scrape()

    assert not reports["spacedaily/industry"].ok
    assert "connect timed out" in reports["spacedaily/industry"].errors[0]
    assert reports["spacewar/nukewars"].ok and reports["spacewar/milspace"].ok
    after = await service.snapshot()
    assert after.stories == before.stories
    assert_nothing_lost(before, after, untouched=("/feeds/",))
    assert failure_logged(caplog, service.url(LISTING), "connect timed out")
    assert counter(await service.metrics(), f'feedsvc_fetches_total{{host="{host_of(service)}",status="timeout"}}') >= 1

    await service.origin.set_reachable("spacedaily")
    service.origin.set_page("spacedaily", GOOD, article_page(GOOD_TITLE, GOOD_TEXT).encode("utf-8"))
    service.list_articles((GOOD, GOOD_TITLE))
    await asyncio.sleep(FAST["breaker_cooldown"] + 0.05)  # type: ignore[operator]  # an unreachable robots.txt is retried after this
    again = await service.scrape()
    assert again["spacedaily/industry"].ok and again["spacedaily/industry"].created >= 1
    assert canonical_url(service.url(GOOD)) in service.stories()


async def test_a_host_that_keeps_failing_is_paused_not_hammered_and_shown_on_status(touchy_service: Service) -> None:
    service = touchy_service
    paths = [f"/reports/Broken_story_{n}_999.html" for n in range(4)]
    for path in paths:
        service.origin.set_status("spacedaily", path, 503)
    service.list_articles(*((path, f"Broken story {n}") for n, path in enumerate(paths)))

    reports = await service.scrape()

    industry = reports["spacedaily/industry"]
    assert industry.ok and industry.failed == 4
    asked = [r.path for r in service.origin.requests(site="spacedaily") if r.path in paths]
    assert len(asked) == 2, f"a failing host was asked {len(asked)} times, not paused after 2: {asked}"
    assert sum("paused until" in error for error in industry.errors) == 2
    host = next(h for h in (await service.status())["hosts"] if h["host"] == host_of(service))
    assert host["state"] == "paused" and host["paused_until"] and host["consecutive_failures"] == 2
    metrics = await service.metrics()
    assert f'feedsvc_host_state{{host="{host["host"]}",state="paused"}} 1.0' in metrics

    for path in paths:
        service.origin.clear_status("spacedaily", path)
        service.origin.set_page("spacedaily", path, article_page(f"Broken story {path[-9]}", [p.replace("rover", f"rover {path[-9]}") for p in GOOD_TEXT]).encode("utf-8"))
    await asyncio.sleep(1.05)
    again = await service.scrape()
    assert again["spacedaily/industry"].ok and again["spacedaily/industry"].failed == 0, again["spacedaily/industry"].errors
    host = next(h for h in (await service.status())["hosts"] if h["host"] == host["host"])
    assert host["state"] == "ok" and host["consecutive_failures"] == 0


async def test_an_article_that_disappears_stays_in_the_store_and_the_feeds(service: Service) -> None:
    before = await service.snapshot()
    gone = "/reports/Arianespace_books_three_Vega_C_launches_999.html"
    service.origin.remove_page("spacedaily", gone)
    service.origin.set_page("spacedaily", GOOD, article_page(GOOD_TITLE, GOOD_TEXT).encode("utf-8"))
    service.list_articles((GOOD, GOOD_TITLE))

    reports = await service.scrape()

    assert all(report.ok for report in reports.values())
    after = await service.snapshot()
    assert canonical_url(service.url(gone)) in after.stories
    assert_nothing_lost(before, after, untouched=("/feeds/spacewar",))
