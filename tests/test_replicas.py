"""Three replicas of `feedsvc run` on one PostgreSQL behave as one service.

Real processes (role ``both``, each with its own scheduler) against a fresh
PostgreSQL database and the local fixture origin, with short intervals. What
the origin's request log and the replicas' HTTP answers must show:

- no section page is fetched twice within one interval (give or take the slack
  ``feedsvc.leasing.due_slack`` allows for scheduling latency), yet every
  section keeps being refreshed;
- every replica serves identical feeds (same ETag, same bytes) for every feed;
- a story stored by one replica is served by all within a few seconds;
- killing (SIGKILL) the replica holding a section's lease hands the section to
  another replica within the lease time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import feedparser
import pytest

from daemon import SECTIONS, Daemon, config_text, start_daemon
from feedsvc.leasing import due_slack
from origin import Origin
from test_store import _postgres_backend

log = logging.getLogger(__name__)
T = TypeVar("T")

EVERY = 3.0  # seconds between refreshes of a section
LEASE = 4.0  # lease_time
REPLICAS = 3
TIMING_SLACK = 0.05  # the origin times requests on its monotonic clock, replicas on the wall clock
RENDER_LAG = 5.0 + 2.5  # FeedCache.run_refresher polls every 5 s; rendering and HTTP take the rest
FEED_KEYS = ["all", "spacewar", "spacedaily", *(f"{site}/{section}" for site, section, _ in SECTIONS)]
FORMATS = ("atom", "rss", "json")
HELD_BACK = "spacedaily", "/Space_Industry.xml"  # its last item is published mid-test


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async for backend in _postgres_backend():
        yield backend.url


@dataclass(frozen=True)
class HeldBack:
    """The summary feed's last item, left out of the feed until the test publishes it."""

    full_feed: bytes
    path: str  # the article's path on the origin
    title: str


@pytest.fixture
def held_back(origin: Origin, manifest: dict[str, Any]) -> HeldBack:
    site, feed_path = HELD_BACK
    full_feed = (origin.root / site / feed_path.lstrip("/")).read_bytes()
    items = list(re.finditer(rb"<item>.*?</item>\s*", full_feed, flags=re.DOTALL))
    last = items[-1]
    link = re.search(rb"<link>([^<]+)</link>", last.group(0))
    assert link is not None
    path = urlsplit(link.group(1).decode()).path
    origin.set_page(site, feed_path, full_feed[: last.start()] + full_feed[last.end() :])
    title = next(a["title"] for a in manifest["articles"] if a["site"] == site and a["path"] == path)
    return HeldBack(full_feed, path, title)


@pytest.fixture
async def replicas(
    origin: Origin, postgres_url: str, tmp_path: Path, held_back: HeldBack
) -> AsyncIterator[list[Daemon]]:
    config = tmp_path / "feedsvc.yaml"
    config.write_text(
        config_text(origin, postgres_url, every=f"{EVERY:g}s", extra=f"lease_time: {LEASE:g}s\nstop_timeout: 3s\n"),
        encoding="utf-8",
    )
    # DEBUG: every fetch, lease refusal and skipped turn is in tmp_path/replica*.log for a post-mortem.
    env = {"FEEDSVC_LOG_LEVEL": "DEBUG"}
    started = [await start_daemon(f"replica{i}", config, tmp_path, env=env) for i in range(REPLICAS)]
    try:
        await asyncio.gather(*(replica.wait_ready() for replica in started))
        yield started
    finally:
        await asyncio.gather(*(replica.stop() for replica in started))


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres_url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_three_replicas_share_one_postgres_as_one_service(
    origin: Origin, replicas: list[Daemon], db: asyncpg.Connection, held_back: HeldBack
) -> None:
    group = replicas
    started = time.monotonic()

    # ---- steady state: every section refreshed, never twice in an interval
    await _wait_for(lambda: _all_sections_ran(db), timeout=60)  # first runs: cold CPU pools
    warm = time.monotonic()
    await asyncio.sleep(3 * EVERY)
    for site, _, path in SECTIONS:
        fetches = [t for t in _fetch_times(origin, site, path) if t > warm]
        assert len(fetches) >= 2, f"{path} fetched {len(fetches)} times in {3 * EVERY:g}s"
    _assert_once_per_interval(origin)
    await _assert_identical_feeds(group)

    # ---- a story stored by one replica is served by all within a few seconds
    origin.set_page(*HELD_BACK, held_back.full_feed)
    await _wait_for(lambda: _stored(db, held_back.path), timeout=3 * EVERY + 10)
    stored_at = time.monotonic()
    lags = await asyncio.gather(*(_seen_after(replica, held_back.title, stored_at) for replica in group))
    log.info("new story stored, then served by every replica after %s s", [round(lag, 2) for lag in lags])
    assert max(lags) <= RENDER_LAG, lags

    # ---- SIGKILL the replica holding a lease: another takes the section over in time
    site, section, path = SECTIONS[0]
    key = f"{site}/{section}"
    origin.set_delay(site, path, 3.0)  # the next refresh of this section lasts 3 s
    holder = await _wait_for(lambda: _steady_holder(db, key), timeout=3 * EVERY + 5)
    victim = next(r for r in group if r.pid == _pid_of(holder))
    await victim.kill()
    killed_at = time.monotonic()
    victim.reap()
    new_holder = await _wait_for(lambda: _other_holder(db, key, holder), timeout=LEASE + 5)
    taken_at = time.monotonic()
    log.info("lease of %s: %s killed, %s took over after %.2f s", key, holder, new_holder, taken_at - killed_at)
    assert taken_at - killed_at <= LEASE + 1.0
    assert _pid_of(new_holder) in {r.pid for r in group if r is not victim}
    await _wait_for(lambda: _fetched_after(origin, site, path, killed_at), timeout=10)
    takeover_fetch = min(t for t in _fetch_times(origin, site, path) if t > killed_at)
    assert takeover_fetch - killed_at <= LEASE + 1.0
    origin.set_delay(site, path, 0.0)

    # ---- the survivors keep every section going and still agree
    resumed = time.monotonic()
    await asyncio.sleep(2 * EVERY + 1)
    for site, _, path in SECTIONS:
        assert _fetch_times(origin, site, path)[-1] > resumed, f"{path} not refreshed after the kill"
    _assert_once_per_interval(origin)
    await _assert_identical_feeds([r for r in group if r is not victim])
    runs = {r.name: sum(1 for line in r.log_lines() if line["logger"] == "feedsvc.pipeline" and "duration_ms" in line)
            for r in group}
    log.info("whole run %.1f s; section page fetches (shortest gap): %s; section runs by replica: %s",
             time.monotonic() - started,
             {path: (len(times), round(min(b - a for a, b in zip(times, times[1:])), 2))
              for site, _, path in SECTIONS for times in [_fetch_times(origin, site, path)]},
             runs)
    assert sum(1 for count in runs.values() if count) >= 2, f"one replica did all the work: {runs}"


# ---------------------------------------------------------------- checks


def _fetch_times(origin: Origin, site: str, path: str) -> list[float]:
    return sorted(r.t_start for r in origin.requests(path=path, site=site, method="GET"))


def _assert_once_per_interval(origin: Origin) -> None:
    shortest = EVERY - due_slack(EVERY) - TIMING_SLACK
    for site, _, path in SECTIONS:
        times = _fetch_times(origin, site, path)
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert gaps and min(gaps) >= shortest, f"{path} fetched {min(gaps):.2f}s apart (interval {EVERY:g}s): {gaps}"


async def _assert_identical_feeds(group: list[Daemon], timeout: float = RENDER_LAG + EVERY) -> None:
    """Every replica answers every feed with the same ETag and bytes (after at most one
    refresher pass: a refresh may have landed just now)."""
    deadline = time.monotonic() + timeout
    while True:
        answers = {}
        for key in FEED_KEYS:
            for fmt in FORMATS:
                path = f"/feeds/{key}.{fmt}"
                answers[path] = [await replica.get(path) for replica in group]
        differing = [
            path for path, got in answers.items()
            if {status for status, _, _ in got} != {200}
            or len({(headers.get("ETag"), body) for _, headers, body in got}) != 1
        ]
        if not differing:
            break
        if time.monotonic() > deadline:
            shown = {path: [(status, headers.get("ETag"), len(body)) for status, headers, body in answers[path]] for path in differing}
            raise AssertionError(f"replicas disagree: {shown}")
        await asyncio.sleep(0.5)
    for key in FEED_KEYS:
        entries = feedparser.parse(answers[f"/feeds/{key}.atom"][0][2]).entries
        assert entries, f"/feeds/{key}.atom has no entries"


# ---------------------------------------------------------------- database and feed probes


async def _stored(db: asyncpg.Connection, path: str) -> bool | None:
    found: bool | None = await db.fetchval("SELECT true FROM stories WHERE url LIKE $1", f"%{path}")
    return found


async def _all_sections_ran(db: asyncpg.Connection) -> bool:
    done = await db.fetchval("SELECT count(*) FROM section_runs WHERE ok")
    return bool(done == len(SECTIONS))


async def _steady_holder(db: asyncpg.Connection, key: str) -> str | None:
    """The holder of a lease on ``key`` that has been held for a while (a refresh running)."""
    first = await db.fetchval("SELECT holder FROM section_leases WHERE section_key = $1 AND expires_at > now()", key)
    if first is None:
        return None
    await asyncio.sleep(0.5)
    again = await db.fetchval("SELECT holder FROM section_leases WHERE section_key = $1", key)
    return first if again == first else None


async def _other_holder(db: asyncpg.Connection, key: str, old: str) -> str | None:
    holder: str | None = await db.fetchval("SELECT holder FROM section_leases WHERE section_key = $1", key)
    return holder if holder not in (None, old) else None


async def _fetched_after(origin: Origin, site: str, path: str, moment: float) -> bool | None:
    return any(t > moment for t in _fetch_times(origin, site, path)) or None


async def _seen_after(replica: Daemon, title: str, since: float) -> float:
    async def served() -> bool | None:
        status, _, body = await replica.get("/feeds/spacedaily/industry.atom")
        return (status == 200 and any(e.title == title for e in feedparser.parse(body).entries)) or None

    await _wait_for(served, timeout=RENDER_LAG + 5)
    return time.monotonic() - since


async def _wait_for(probe: Callable[[], Awaitable[T | None]], *, timeout: float, every: float = 0.1) -> T:
    """Poll ``probe()`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await probe()
        if value is not None and value is not False:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"gave up waiting after {timeout}s")


def _pid_of(holder: str) -> int:
    return int(holder.split(":")[1])
