"""The daemon's roles, probes and logs, run as an operator runs them: `feedsvc run` processes.

- ``role: serve`` fetches nothing and serves what another replica stores;
  ``role: scrape`` refreshes sections and answers only ``/healthz`` and ``/readyz``.
- ``/healthz`` is liveness (the process answers); ``/readyz`` is readiness (store
  reachable, migrations applied, config loaded, feeds rendered) and follows the store.
- Logs are JSON lines with the stable keys ``site``, ``section``, ``url``, ``status``,
  ``duration_ms`` when not on a terminal.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import feedparser

from daemon import SECTIONS, config_text, start_daemon
from feedsvc.store.migrations import LATEST_VERSION
from origin import Origin


def write_config(origin: Origin, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "feedsvc.yaml"
    storage = f"sqlite:///{tmp_path / 'data' / 'feedsvc.db'}"
    path.write_text(config_text(origin, storage, extra="stop_timeout: 2s\n" + extra), encoding="utf-8")
    return path


async def entries_of(body: bytes) -> int:
    return len(feedparser.parse(body).entries)


async def test_a_serve_replica_fetches_nothing_and_serves_what_a_scrape_replica_stores(
    origin: Origin, tmp_path: Path
) -> None:
    config = write_config(origin, tmp_path, extra="role: serve\n")
    server = await start_daemon("serve", config, tmp_path)
    scraper = None
    try:
        await server.wait_ready()
        await asyncio.sleep(1.0)
        assert origin.log == [], "a serve-only replica fetched from the origin"
        status, _, body = await server.get("/feeds/spacewar/nukewars.atom")
        assert status == 200 and await entries_of(body) == 0

        # The same config, turned into a scraper by the environment.
        scraper = await start_daemon(
            "scrape", config, tmp_path, env={"FEEDSVC_ROLE": "scrape", "FEEDSVC_LOG_LEVEL": "DEBUG"}
        )
        await scraper.wait_ready()
        for path, expected in [("/healthz", 200), ("/readyz", 200), ("/feeds/all.atom", 404), ("/", 404), ("/opml", 404)]:
            assert (await scraper.get(path))[0] == expected, path

        deadline = time.monotonic() + 60
        while True:
            status, _, body = await server.get("/feeds/spacewar/nukewars.atom")
            if await entries_of(body) >= 6:
                break
            assert time.monotonic() < deadline, "the serve replica never showed the scraped stories"
            await asyncio.sleep(0.5)
        # Sections start a few seconds apart: wait for every section page to be fetched.
        section_paths = {path for _, _, path in SECTIONS}
        while not section_paths <= {r.path for r in origin.log}:
            assert time.monotonic() < deadline, "the scrape replica never fetched every section page"
            await asyncio.sleep(0.3)
        while len(_section_lines(scraper.log_lines())) < len(SECTIONS) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
    finally:
        codes = [await server.stop()] + ([await scraper.stop()] if scraper else [])
    assert codes == [0] * len(codes), "a replica did not stop cleanly on SIGTERM"
    assert scraper is not None
    assert not [line for line in server.log_lines() if line["logger"].startswith(("feedsvc.pipeline", "feedsvc.fetch"))]
    assert any("scraping, probes" in line["msg"] for line in scraper.log_lines())
    _assert_stable_log_keys(scraper.log_lines())


async def test_readyz_follows_the_store_and_healthz_only_the_process(origin: Origin, tmp_path: Path) -> None:
    daemon = await start_daemon("serve", write_config(origin, tmp_path, extra="role: serve\n"), tmp_path)
    database = tmp_path / "data" / "feedsvc.db"
    try:
        await daemon.wait_ready()
        with sqlite3.connect(database) as conn:  # as if an older feedsvc had made the store
            (latest,) = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
            assert latest >= LATEST_VERSION
            conn.execute("DELETE FROM schema_migrations WHERE version = ?", (latest,))
        status, headers, body = await daemon.get("/readyz")
        assert status == 503 and b"run migrate" in body
        assert headers["Cache-Control"] == "no-store"
        assert (await daemon.get("/healthz"))[0] == 200, "liveness must not depend on the store"
        with sqlite3.connect(database) as conn:
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, 'restored', '2024-01-01T00:00:00.000000Z')",
                (latest,),
            )
        assert (await daemon.get("/readyz"))[0] == 200
    finally:
        assert await daemon.stop() == 0


def _assert_stable_log_keys(lines: list[dict[str, Any]]) -> None:
    """JSON lines; each section run's summary and each fetch carry the stable keys."""
    assert lines and all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    summaries = _section_lines(lines)
    assert {line["section"] for line in summaries} == {f"{site}/{section}" for site, section, _ in SECTIONS}
    for line in summaries:
        assert line["site"] == line["section"].split("/")[0]
        assert line["url"].startswith("http://127.0.0.")
        assert line["status"] == 200
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] >= 0
    fetches = [line for line in lines if line["logger"] == "feedsvc.fetch" and "duration_ms" in line]
    assert {line["url"] for line in fetches} >= {line["url"] for line in summaries}, "a section page fetch not logged"
    assert all(line["status"] in (200, 304, 404) for line in fetches if "status" in line)


def _section_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-run summary of each section (one per section for a first run)."""
    return [line for line in lines if line["logger"] == "feedsvc.pipeline" and "duration_ms" in line]
