"""The scrape benchmark ends its "full scrape" when every held section's refresh has ended,
not when the extraction counter stops: stories stored as copies move no story counter."""

from __future__ import annotations

import asyncio
import time

from bench.scraping import _watch_scrape


class Counters:
    """A daemon's /metrics, moved by the test as a scrape would move them."""

    def __init__(self) -> None:
        self.values = {"feedsvc_extractions_total": 0.0, "feedsvc_section_runs_total": 0.0,
                       "feedsvc_feed_renders_total": 0.0, "feedsvc_stories_stored_total": 0.0}

    async def metrics(self) -> dict[str, float]:
        return dict(self.values)


async def test_the_scrape_ends_when_every_section_refresh_has_ended() -> None:
    daemon = Counters()
    before = await daemon.metrics()
    finished = asyncio.Event()
    end: list[float] = []
    started = time.monotonic()
    watch = asyncio.create_task(_watch_scrape(daemon, before, 10, 2, finished, end))  # type: ignore[arg-type]
    daemon.values["feedsvc_extractions_total"] = 10  # every page extracted at once...
    await asyncio.sleep(2.5)  # ... then a long quiet store phase (copies: no counter moves)
    assert not finished.is_set()
    daemon.values["feedsvc_section_runs_total"] = 2
    await asyncio.wait_for(watch, timeout=10)
    assert finished.is_set()
    assert end[0] - started >= 2.5
