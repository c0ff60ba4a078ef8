"""Nothing is wasted on an unchanged source: a refresh of an unchanged origin costs
only conditional requests.

After a first scrape of the local origin, every section is refreshed again with
nothing changed at the origin. Each "zero" of the refresh is read where it
happens: article fetches and section requests from the origin's request log,
section-page parses from the scraper's counters, feed re-renders from the feed
cache's counters, store writes from the scraper's counters and from the SQL
statements the store sent. Each test also checks that the same reading is not
zero for the first scrape, so that a zero means "no work", not "not counted".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedsvc.config import parse_settings
from feedsvc.models import Settings
from feedsvc.service import cpu_pool, runtime
from feedsvc.store.sql import SqlStore
from origin import LoggedRequest, Origin

ROOT = Path(__file__).resolve().parents[1]
# Written only to record a section's run (when it started, whether it failed): the turns of
# several replicas depend on it (feedsvc.leasing). Every other table holds stories and feeds.
RUN_RECORD_TABLES = frozenset({"section_runs"})


def settings_for(origin: Origin, data_dir: Path) -> Settings:
    text = origin.feedsvc_config(data_dir, ROOT / "config" / "rules", fetch={"timeout": 10})
    return parse_settings(text, "zero_work.yaml", env={})


@dataclass(frozen=True)
class Work:
    """What one pass (every section refreshed once, then the feeds) cost."""

    requests: list[LoggedRequest]  # as the origin logged them
    section_paths: frozenset[str]
    section_fetches: int
    section_parses: int
    article_fetches: int
    extractions: int
    store_writes: int
    renders: int
    tables_written: dict[str, int]  # table -> INSERT/UPDATE/DELETE statements

    @property
    def other_requests(self) -> list[LoggedRequest]:
        """Requests for anything but a section page and robots.txt: articles (and their further pages)."""
        return [r for r in self.requests if r.path not in self.section_paths and r.path != "/robots.txt"]


@dataclass(frozen=True)
class Passes:
    first: Work
    unchanged: Work


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = cpu_pool(2)
    yield executor
    executor.shutdown()


@pytest.fixture
async def passes(origin: Origin, tmp_path: Path, pool: ProcessPoolExecutor) -> AsyncIterator[Passes]:
    settings = settings_for(origin, tmp_path)
    section_paths = frozenset(s.url.removeprefix(origin.base_url(s.site_id)) for s in settings.sections())
    async with runtime(settings, cpu=pool) as rt:
        assert isinstance(rt.store, SqlStore)
        store = rt.store
        counters, cache = rt.scraper.counters, rt.cache

        async def one_pass() -> Work:
            origin.clear_log()
            before = (counters.section_fetches, counters.section_parses, counters.article_fetches,
                      counters.extractions, counters.store_writes, sum(cache.renders.values()))
            statements_before = dict(store.statements)
            for section in settings.sections():
                report = await rt.scraper.refresh(section)
                assert report.ok, report.errors
            await cache.refresh(store)
            after = (counters.section_fetches, counters.section_parses, counters.article_fetches,
                     counters.extractions, counters.store_writes, sum(cache.renders.values()))
            written: dict[str, int] = {}
            for (verb, table), count in store.statements.items():
                delta = count - statements_before.get((verb, table), 0)
                if verb in ("INSERT", "UPDATE", "DELETE") and delta:
                    written[table] = written.get(table, 0) + delta
            d = [a - b for a, b in zip(after, before, strict=True)]
            return Work(list(origin.log), section_paths, d[0], d[1], d[2], d[3], d[4], d[5], written)

        await cache.refresh(store)  # the start: empty feeds rendered once
        first = await one_pass()
        unchanged = await one_pass()
        yield Passes(first, unchanged)


def _article_requests_logged(work: Work) -> int:
    return len(work.other_requests)


def _article_fetches_counted(work: Work) -> int:
    return work.article_fetches + work.extractions


def _section_parses(work: Work) -> int:
    return work.section_parses


def _feed_renders(work: Work) -> int:
    return work.renders


def _story_and_feed_writes(work: Work) -> int:
    return work.store_writes + sum(n for table, n in work.tables_written.items() if table not in RUN_RECORD_TABLES)


ZEROS: list[tuple[str, Callable[[Work], int]]] = [
    ("article-requests-at-the-origin", _article_requests_logged),
    ("article-fetches-and-extractions-counted", _article_fetches_counted),
    ("section-page-parses", _section_parses),
    ("feed-re-renders", _feed_renders),
    ("store-writes", _story_and_feed_writes),
]


@pytest.mark.parametrize("reading", [z[1] for z in ZEROS], ids=[z[0] for z in ZEROS])
async def test_an_unchanged_refresh_costs_none_of_it(passes: Passes, reading: Callable[[Work], int]) -> None:
    assert reading(passes.first) > 0, "the first scrape must show the work, or a zero proves nothing"
    assert reading(passes.unchanged) == 0


async def test_an_unchanged_refresh_sends_only_conditional_requests_answered_304(passes: Passes) -> None:
    work = passes.unchanged
    sections = [r for r in work.requests if r.path in work.section_paths]
    assert len(sections) == len(work.section_paths) == work.section_fetches
    for request in sections:
        assert request.status == 304, request.path
        assert "If-None-Match" in request.headers or "If-Modified-Since" in request.headers, request.path
    assert work.other_requests == []


async def test_the_only_write_of_an_unchanged_refresh_is_each_sections_run_record(passes: Passes) -> None:
    assert set(passes.unchanged.tables_written) <= RUN_RECORD_TABLES
    assert sum(passes.unchanged.tables_written.values()) <= len(passes.unchanged.section_paths)
    assert {"stories", "story_sections", "feeds"} <= set(passes.first.tables_written)
