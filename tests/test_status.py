"""/status (HTML and JSON) and /metrics after real scrapes of the fixture origin."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from feedsvc.config import parse_settings
from feedsvc.service import Runtime, ScheduledRefreshes, observe, runtime
from feedsvc.status import StatusBoard, attach_status, prefers_json
from feedsvc.store.base import SectionRun
from feedsvc.store.open import open_store
from feedsvc.web import build_app
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NUKEWARS = "spacewar/nukewars"


def run(minute: int, ok: bool, error: str | None = None) -> SectionRun:
    return SectionRun(NUKEWARS, T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute, seconds=30), ok, error, 1 if ok else 0)


@pytest.mark.parametrize(
    "runs, last_ok, last_error, error_at",
    [
        pytest.param([], None, None, None, id="never-run"),
        pytest.param([run(0, True)], 0, None, None, id="one-success"),
        pytest.param([run(0, True), run(5, False, "HTTP 503")], 0, "HTTP 503", 5, id="success-then-failure"),
        pytest.param([run(0, False, "timed out"), run(5, True)], 5, "timed out", 0, id="failure-then-success-keeps-the-error"),
        pytest.param([run(5, True), run(0, False, "old")], 5, "old", 0, id="out-of-order"),
        pytest.param([run(0, True), run(0, True), run(5, False, "x"), run(5, False, "x")], 0, "x", 5, id="same-run-twice"),
        pytest.param([run(0, True, "1 article failed: HTTP 404")], 0, "1 article failed: HTTP 404", 0, id="success-with-article-errors"),
    ],
)
def test_the_board_keeps_last_run_last_success_and_last_error(
    runs: list[SectionRun], last_ok: int | None, last_error: str | None, error_at: int | None
) -> None:
    board = StatusBoard()
    for each in runs:
        board.record(each)
    seen = board.history(NUKEWARS)
    assert seen.last_success == (None if last_ok is None else T0 + timedelta(minutes=last_ok, seconds=30))
    assert seen.last_error == last_error
    assert seen.last_error_at == (None if error_at is None else T0 + timedelta(minutes=error_at, seconds=30))
    if runs:
        assert seen.last_run == max(runs, key=lambda r: r.finished)


@pytest.mark.parametrize(
    "accept, json_wanted",
    [
        ("application/json", True),
        ("application/json, text/html;q=0.5", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),  # a browser
        ("*/*", False),  # curl
        ("", False),
        ("text/html;q=0.2, application/json;q=0.4", True),
        ("application/json;q=0", False),
    ],
)
def test_accept_header_chooses_json_or_html(accept: str, json_wanted: bool) -> None:
    assert prefers_json(accept) is json_wanted


# ------------------------------------------------------------------ served, after real scrapes


@dataclass
class Served:
    rt: Runtime
    client: TestClient[Any, Any]
    origin: Origin
    db: Path


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture
async def served(origin: Origin, tmp_path: Path, threads: ThreadPoolExecutor) -> AsyncIterator[Served]:
    fetch = {"timeout": 1.0, "connect_timeout": 0.5, "retries": 0}
    settings = parse_settings(origin.feedsvc_config(tmp_path, ROOT / "config" / "rules", fetch=fetch), "status.yaml", env={})
    async with runtime(settings, cpu=threads) as rt:
        app = build_app(settings, rt.store, rt.cache)
        observe(app, rt)
        attach_status(app, next_runs=ScheduledRefreshes(rt).next_runs)  # the daemon's scheduler, not started
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            yield Served(rt, client, origin, tmp_path / "feedsvc.db")
        finally:
            await client.close()


async def scrape(served: Served) -> None:
    await asyncio.gather(*(served.rt.scraper.refresh(section) for section in served.rt.settings.sections()))
    await served.rt.cache.refresh(served.rt.store)


async def status_json(served: Served, path: str = "/status.json", **headers: str) -> dict[str, Any]:
    response = await served.client.get(path, headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    document: dict[str, Any] = await response.json()
    return document


def by_key(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {section["key"]: section for section in document["sections"]}


async def test_status_before_any_run_lists_every_section_as_pending(served: Served) -> None:
    sections = by_key(await status_json(served))
    assert list(sections) == [section.key for section in served.rt.settings.sections()]
    for section in sections.values():
        assert section["state"] == "pending" and section["last_run"] is None and section["last_success"] is None
        assert section["next_run"] is not None  # from the scheduler's jobs


async def test_status_after_a_scrape_shows_runs_stories_and_next_runs(served: Served) -> None:
    before = datetime.now(UTC)
    await scrape(served)
    document = await status_json(served)
    with contextlib.closing(sqlite3.connect(served.db)) as conn:
        stored = dict(conn.execute("SELECT section_key, COUNT(*) FROM story_sections GROUP BY section_key").fetchall())
    for key, section in by_key(document).items():
        assert section["state"] == "ok"
        assert section["last_run"]["ok"] is True and section["last_run"]["new_stories"] > 0
        finished = datetime.fromisoformat(section["last_run"]["finished"].replace("Z", "+00:00"))
        assert before - timedelta(seconds=1) <= finished <= datetime.now(UTC) + timedelta(seconds=1)
        assert section["last_success"] == section["last_run"]["finished"]
        assert section["stories"] == stored[key] > 0
        assert section["last_error"] is None
        assert section["next_run"] is not None
    hosts = {host["host"]: host for host in document["hosts"]}
    assert set(hosts) == {served.origin.base_url(site).split("//")[1] for site in ("spacewar", "spacedaily")}
    assert all(host["state"] == "ok" for host in hosts.values())


async def test_a_failing_section_shows_its_error_and_keeps_its_last_success(served: Served) -> None:
    await scrape(served)
    first = by_key(await status_json(served))[NUKEWARS]
    served.origin.set_status("spacewar", "/Nuclear_Weapons.html", 503)
    await scrape(served)
    section = by_key(await status_json(served))[NUKEWARS]
    assert section["state"] == "failing"
    assert "HTTP 503" in section["last_error"] and section["last_error_at"] == section["last_run"]["finished"]
    assert section["last_success"] == first["last_success"]
    assert section["stories"] == first["stories"]
    others = [s for key, s in by_key(await status_json(served)).items() if key != NUKEWARS]
    assert all(s["state"] == "ok" for s in others)


@pytest.mark.parametrize(
    "path, headers, json_expected",
    [
        ("/status", {}, False),
        ("/status", {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, False),
        ("/status", {"Accept": "application/json"}, True),
        ("/status?format=json", {}, True),
        ("/status?format=html", {"Accept": "application/json"}, False),
        ("/status.json", {}, True),
    ],
)
async def test_html_for_people_json_for_machines(served: Served, path: str, headers: dict[str, str], json_expected: bool) -> None:
    await scrape(served)
    response = await served.client.get(path, headers=headers)
    assert response.status == 200 and response.headers["Vary"] == "Accept"
    if json_expected:
        assert response.headers["Content-Type"].startswith("application/json")
        assert {s["key"] for s in (await response.json())["sections"]} == {s.key for s in served.rt.settings.sections()}
        return
    assert response.headers["Content-Type"].startswith("text/html")
    page = lxml.html.document_fromstring(await response.text())
    rows = page.xpath("//table[1]//tr[td]")
    assert [row.xpath("string(td[1]/a)") for row in rows] == [s.key for s in served.rt.settings.sections()]
    assert all(row.xpath("string(td[2])") == "ok" for row in rows)
    assert page.xpath("//script") == []


async def test_status_rejects_a_bad_format_and_answers_head(served: Served) -> None:
    response = await served.client.get("/status?format=xml")
    assert response.status == 400 and "format must be one of html, json" in await response.text()
    head = await served.client.head("/status.json")
    assert head.status == 200 and await head.read() == b""


async def test_status_still_answers_when_the_store_is_unreachable(served: Served, tmp_path: Path) -> None:
    await scrape(served)
    down = open_store("postgresql://postgres@127.0.0.1:9/feedsvc")  # nothing listens on port 9
    try:
        attach_status(served.client.app, runs=down.last_runs)
        document = await status_json(served)
    finally:
        await down.close()
    assert document["store"] != "ok" and "failed" in document["store"]
    assert all(section["state"] == "ok" for section in document["sections"])  # what this process saw


async def test_metrics_count_fetches_stories_failures_and_requests(served: Served) -> None:
    served.origin.set_status("spacewar", "/reports/France_to_create_space_command_in_Toulouse_999.html", 404)
    served.origin.set_page("spacedaily", "/reports/Arianespace_books_three_Vega_C_launches_999.html", b"<html><body></body></html>")
    await scrape(served)
    await served.client.get("/feeds/all.atom")
    await served.client.get("/feeds/nowhere.atom")
    response = await served.client.get("/metrics")
    assert response.status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    with contextlib.closing(sqlite3.connect(served.db)) as conn:
        (stories,) = conn.execute("SELECT COUNT(*) FROM stories").fetchone()
    spacewar = served.origin.base_url("spacewar").split("//")[1]
    spacewar_200 = sum(1 for r in served.origin.requests(site="spacewar") if r.status == 200)
    assert value("feedsvc_fetches_total", host=spacewar, status="200") == spacewar_200
    assert value("feedsvc_fetches_total", host=spacewar, status="404") == 1
    assert value("feedsvc_fetch_duration_seconds_count", host=spacewar) == len(served.origin.requests(site="spacewar"))
    assert value("feedsvc_stories_stored_total", kind="new") == stories
    assert value("feedsvc_article_failures_total") == 2
    assert value("feedsvc_extraction_failures_total") == 1
    assert value("feedsvc_section_runs_total", result="ok") == 3
    assert value("feedsvc_host_state", host=spacewar, state="ok") == 1
    assert value("feedsvc_http_requests_total", route="/feeds/all.{fmt}", status="200") == 1
    assert value("feedsvc_feed_renders_total", format="atom") >= 1
