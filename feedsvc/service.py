"""Builds the running parts from Settings and runs them: the daemon, one scrape, one extraction.

``Runtime`` owns every long-lived object (HTTP session, store, CPU pool, feed
cache) and closes them in reverse order; nothing is global.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from feedsvc import heap
from feedsvc.config import load_settings
from feedsvc.errors import ConfigError, FeedsvcError, StoreError
from feedsvc.feedcache import FeedCache
from feedsvc.fetch import Fetcher, new_session
from feedsvc.leasing import SectionTurns
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings
from feedsvc.pipeline import Scraper, SectionReport, extract_page, prepare_cpu_worker
from feedsvc.reextract import reextract_changed
from feedsvc.rules.book import RuleBook
from feedsvc.schedule import build_scheduler, run_again_at
from feedsvc.store.base import Store
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore
from feedsvc.urls import canonical_url, same_site
from feedsvc.metrics import FetchMetrics, register_metrics
from feedsvc.status import StatusBoard, attach_status
from feedsvc.web import REGISTRY_KEY, build_app, build_probe_app

log = logging.getLogger(__name__)

# Graceful stop: in-flight refreshes get ``stop_timeout`` (config), open HTTP requests
# STOP_HTTP_TIMEOUT; the container's grace period must cover both (docker-compose.yml).
STOP_HTTP_TIMEOUT = 2.0
TAKEOVER_DELAY = 0.2  # seconds after another replica's lease expiry before trying again
WORKER_NICENESS = 5  # added to the CPU pool workers' nice value: a third of the serving process's CPU weight


@dataclass
class Runtime:
    settings: Settings
    store: Store
    session: aiohttp.ClientSession
    fetcher: Fetcher
    rules: RuleBook
    cpu: Executor
    cache: FeedCache
    scraper: Scraper
    board: StatusBoard = field(default_factory=StatusBoard)  # what /status shows of each section's runs
    fetch_metrics: FetchMetrics = field(default_factory=FetchMetrics)


def cpu_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Extraction, cleaning and feed rendering run here, off the event loop, one process
    per core. The workers run at a lower CPU priority (``WORKER_NICENESS``): when every
    core is busy scraping, the process serving feeds still gets the CPU first."""
    count = workers or max(1, min(4, os.cpu_count() or 1))
    return ProcessPoolExecutor(
        max_workers=count, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_cpu_worker, initargs=(WORKER_NICENESS,),
    )


def _start_cpu_worker(niceness: int) -> None:
    os.nice(niceness)
    prepare_cpu_worker()


def rule_dirs(settings: Settings) -> list[str]:
    """The configured rule folders, first wins."""
    return list(settings.rules_dirs)


@contextlib.asynccontextmanager
async def runtime(settings: Settings, *, cpu: Executor | None = None, serve: bool = True) -> AsyncIterator[Runtime]:
    """Every long-lived part; ``serve=False`` (a scrape-only replica) renders no feeds."""
    store = open_store(settings.storage)
    pool = cpu or cpu_pool()
    session = new_session(settings.fetch)
    try:
        await store.migrate()
        rules = RuleBook.load(rule_dirs(settings))
        for problem in rules.problems:
            log.warning("rules: %s", problem)
        if settings.role in ("both", "scrape"):  # stories stored under rules that changed since: re-extract them
            await reextract_changed(settings, store, rules, pool, extract_page)
        board, fetch_metrics = StatusBoard(), FetchMetrics()
        # Pages are decoded in the CPU pool too: charset detection is CPU work, and the libraries
        # it loads would stay in this process's memory.
        fetcher = Fetcher(settings.fetch, session, observer=fetch_metrics.observe, decode_in=pool)
        cache = FeedCache(settings, executor=pool)  # rendering holds the GIL: not in a thread of this process
        on_change = (lambda: cache.refresh(store)) if serve else None
        scraper = Scraper(settings, store, fetcher, rules, pool, on_change=on_change, on_run=board.record)
        try:
            yield Runtime(settings, store, session, fetcher, rules, pool, cache, scraper, board, fetch_metrics)
        finally:
            cache.close()
    finally:
        await session.close()
        if cpu is None:
            pool.shutdown(wait=False, cancel_futures=True)
        await store.close()


async def scrape_once(settings: Settings, only: Sequence[str] | None = None, *, progress: bool = False) -> int:
    """One refresh of every (or the named) section; 0 only if every section refreshed."""
    sections = _select(settings, only)
    async with runtime(settings) as rt:
        reports = await asyncio.gather(*(_refresh_with_progress(rt, section, progress) for section in sections))
        await rt.cache.refresh(rt.store)
    failed = [r for r in reports if not r.ok]
    total_new = sum(r.created for r in reports)
    print(f"{len(reports)} sections refreshed, {len(failed)} failed, {total_new} new stories", file=sys.stderr)
    return 1 if failed else 0


async def _refresh_with_progress(rt: Runtime, section: SectionConfig, progress: bool) -> SectionReport:
    if progress:
        print(f"  {section.key}: fetching {section.url}", file=sys.stderr)
    report = await rt.scraper.refresh(section)
    if progress or not report.ok:
        state = "unchanged (304)" if report.not_modified else (
            f"{report.discovered} listed, {report.fetched} fetched, {report.created} new, {report.changed} changed, {report.failed} failed"
        )
        mark = "ok" if report.ok else "FAILED"
        detail = f": {report.errors[0]}" if report.errors and not report.ok else ""
        print(f"  {section.key}: {mark}, {state}{detail}", file=sys.stderr)
    return report


def _select(settings: Settings, only: Sequence[str] | None) -> list[SectionConfig]:
    sections = list(settings.sections())
    if not only:
        return sections
    keys = {s.key for s in sections}
    unknown = [key for key in only if key not in keys]
    if unknown:
        raise ConfigError([f"unknown section {key!r} (known: {', '.join(sorted(keys))})" for key in unknown])
    return [s for s in sections if s.key in only]


async def run_daemon(settings: Settings, *, stop_timeout: float | None = None) -> int:
    """Run this replica's role until SIGTERM or SIGINT.

    ``both`` and ``serve`` serve feeds, re-rendering them when the store's feed
    versions move (whoever wrote the stories); ``both`` and ``scrape`` refresh
    sections on schedule, in turns with the other replicas (``feedsvc.leasing``);
    ``scrape`` answers only ``/healthz`` and ``/readyz``.
    """
    if stop_timeout is None:
        stop_timeout = settings.stop_timeout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    serves = settings.role in ("both", "serve")
    scrapes = settings.role in ("both", "scrape")
    async with runtime(settings, serve=serves) as rt:
        if serves:
            # Serve at once what was rendered before the restart (the refresher's first pass
            # re-renders what changed since); with nothing kept, render before answering.
            if not await rt.cache.restore(rt.store):
                await rt.cache.refresh(rt.store)
            app = build_app(settings, rt.store, rt.cache)
            observe(app, rt)
        else:
            app = build_probe_app(settings, rt.store)
        # Start-up's objects (modules, settings, restored feeds) leave the garbage collector's view:
        # a full collection would walk all of them (~50 ms) and stall whatever is being served.
        gc.freeze()
        heap.trim()  # what restoring the feeds freed goes back to the system
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=min(STOP_HTTP_TIMEOUT, stop_timeout / 2))
        await runner.setup()
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
        await site.start()
        log.info(
            "%s on http://%s:%d/ (public URL %s)",
            {"both": "serving and scraping", "serve": "serving", "scrape": "scraping, probes"}[settings.role],
            settings.listen_host, settings.listen_port, settings.public_url,
        )
        refresher = asyncio.create_task(rt.cache.run_refresher(rt.store)) if serves else None
        refreshing = ScheduledRefreshes(rt) if scrapes else None
        if refreshing is not None and serves:
            attach_status(app, next_runs=refreshing.next_runs)
        if refreshing is not None:
            refreshing.start()
        try:
            await stop.wait()
            log.info("stopping: finishing in-flight refreshes (at most %.0fs)", stop_timeout)
        finally:
            if refreshing is not None:
                await refreshing.stop(stop_timeout)
            if refresher is not None:
                refresher.cancel()
            await runner.cleanup()
    return 0


def observe(app: web.Application, rt: Runtime) -> None:
    """Connect ``/metrics`` and ``/status`` of a feed-serving app to the runtime's parts."""
    statements = rt.store.statements if isinstance(rt.store, SqlStore) else None
    register_metrics(app[REGISTRY_KEY], fetch=rt.fetch_metrics, counters=rt.scraper.counters, hosts=rt.fetcher.host_states,
                     statements=statements)
    attach_status(app, board=rt.board, runs=rt.store.last_runs, hosts=rt.fetcher.host_states)


class ScheduledRefreshes:
    """The write side of a replica: one scheduled job per section, run in turns."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self.turns = SectionTurns(rt.store, lease_time=rt.settings.lease_time)
        self._inflight: set[asyncio.Task[object]] = set()
        self._scheduler = build_scheduler(rt.settings.sections(), self.job, jitter=rt.settings.jitter)

    def start(self) -> None:
        log.info("refreshing %d sections in turns as %s", len(self._rt.settings.sections()), self.turns.holder)
        self._scheduler.start()

    async def job(self, section: SectionConfig) -> None:
        """One scheduled (or extra) run: refresh the section if it is this replica's turn."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            turn = await self.turns.run(section, self._rt.scraper.refresh)
        except asyncio.CancelledError:
            # Only a stop cancels a refresh: what it committed stays, the rest is redone next run.
            log.info("refresh of %s abandoned at stop", section.key, extra={"section": section.key})
            return
        except StoreError as exc:
            log.warning("section %s not refreshed: %s", section.key, exc, extra={"section": section.key})
            return
        finally:
            if task is not None:
                self._inflight.discard(task)
        if turn.retry_at is not None and self._scheduler.running:
            # HELD_ELSEWHERE: try again the moment the other replica's lease runs out (if it
            # died, take over). DONE_RECENTLY: try again when the section is due.
            when = max(turn.retry_at, datetime.now(UTC)) + timedelta(seconds=TAKEOVER_DELAY)
            if run_again_at(self._scheduler, section, self.job, when):
                log.debug("section %s: %s, trying again at %s", section.key, turn.outcome.value, when.isoformat(),
                          extra={"section": section.key})

    def next_runs(self) -> dict[str, datetime | None]:
        """Each section's next scheduled run (an extra run counts when it comes first)."""
        runs: dict[str, datetime | None] = {}
        for job in self._scheduler.get_jobs():
            key, when = job.id.partition("#")[0], job.next_run_time
            current = runs.get(key)
            runs[key] = when if current is None or (when is not None and when < current) else current
        return runs

    async def stop(self, timeout: float) -> None:
        self._scheduler.pause()  # no new runs; the running ones get ``timeout`` to finish
        await _drain(self._inflight, timeout)
        self._scheduler.shutdown(wait=False)


async def _drain(tasks: set[asyncio.Task[object]], timeout: float) -> None:
    """Give in-flight refreshes up to ``timeout`` seconds, then cancel them."""
    pending = {t for t in tasks if not t.done()}
    if not pending:
        return
    _, still = await asyncio.wait(pending, timeout=timeout)
    for task in still:
        task.cancel()
    if still:
        log.warning("abandoned %d refreshes still running after %.0fs", len(still), timeout)
        await asyncio.wait(still, timeout=1.0)


async def extract_one(source: str, *, page_url: str | None, rules_name: str | None, config_path: str | None) -> Article:
    """Fetch (for a URL) or read (a file), then extract and clean one page."""
    settings = _settings_for_tools(config_path)
    book = RuleBook.load(rule_dirs(settings))
    is_url = urlsplit(source).scheme in ("http", "https")
    if is_url:
        async with new_session(settings.fetch) as session:
            page = await Fetcher(settings.fetch, session).fetch(source)
        text, url = page.text, page.final_url
    else:
        from feedsvc.charset import decode

        try:
            body = Path(source).read_bytes()
        except OSError as exc:
            raise FeedsvcError(f"cannot read {source}: {exc.strerror or exc}") from exc
        text = decode(body, None)[0]
        url = page_url or Path(source).resolve().as_uri()
    rules_name = rules_name or _configured_rules(settings, url)
    if rules_name:
        rules = book.by_name(rules_name)
        if rules is None:
            raise FeedsvcError(f"no rule file named {rules_name!r} in {', '.join(rule_dirs(settings))}")
    else:
        rules = book.for_url(url)
    return extract_page(text, url, canonical_url(url), rules, book.global_rules)


def _configured_rules(settings: Settings, url: str) -> str | None:
    """The rule file the config names for the site ``url`` belongs to."""
    return next((site.rules for site in settings.sites if site.rules and same_site(url, site.url)), None)


def _settings_for_tools(config_path: str | None) -> Settings:
    """The config when there is one; tools work without it (default fetch settings, bundled rules)."""
    try:
        return load_settings(config_path)
    except ConfigError:
        if config_path:
            raise
        return Settings(
            storage="sqlite:///data/feedsvc.db", listen_host="127.0.0.1", listen_port=8080,
            public_url="http://127.0.0.1:8080", fetch=FetchSettings(), sites=(), rules_dirs=("config/rules",),
        )
