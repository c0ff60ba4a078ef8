"""Builds the running parts from Settings and runs them: the daemon, one scrape, one extraction.

``Runtime`` owns every long-lived object (HTTP session, store, CPU pool, feed
cache) and closes them in reverse order; nothing is global.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from feedsvc.config import load_settings
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.feedcache import FeedCache
from feedsvc.fetch import Fetcher, new_session
from feedsvc.models import Article, FetchSettings, SectionConfig, Settings
from feedsvc.pipeline import Scraper, SectionReport, extract_page
from feedsvc.rules.book import RuleBook
from feedsvc.schedule import build_scheduler
from feedsvc.store.base import Store
from feedsvc.store.open import open_store
from feedsvc.urls import canonical_url, same_site
from feedsvc.web import build_app

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0


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


def cpu_pool(workers: int | None = None) -> ProcessPoolExecutor:
    """Extraction and cleaning run here, off the event loop, one process per core."""
    count = workers or max(1, min(4, os.cpu_count() or 1))
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"))


def rule_dirs(settings: Settings) -> list[str]:
    """The configured rule folders, first wins."""
    return list(settings.rules_dirs)


@contextlib.asynccontextmanager
async def runtime(settings: Settings, *, cpu: Executor | None = None) -> AsyncIterator[Runtime]:
    store = open_store(settings.storage)
    pool = cpu or cpu_pool()
    session = new_session(settings.fetch)
    try:
        await store.migrate()
        rules = RuleBook.load(rule_dirs(settings))
        for problem in rules.problems:
            log.warning("rules: %s", problem)
        fetcher = Fetcher(settings.fetch, session)
        cache = FeedCache(settings)
        scraper = Scraper(settings, store, fetcher, rules, pool, on_change=lambda: cache.refresh(store))
        try:
            yield Runtime(settings, store, session, fetcher, rules, pool, cache, scraper)
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


async def run_daemon(settings: Settings, *, stop_timeout: float = STOP_TIMEOUT) -> int:
    """Serve feeds and refresh sections on schedule until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with runtime(settings) as rt:
        await rt.cache.refresh(rt.store)
        app = build_app(settings, rt.store, rt.cache)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=stop_timeout / 2)
        await runner.setup()
        site = web.TCPSite(runner, settings.listen_host, settings.listen_port)
        await site.start()
        log.info("serving on http://%s:%d/ (public URL %s)", settings.listen_host, settings.listen_port, settings.public_url)
        refresher = asyncio.create_task(rt.cache.run_refresher(rt.store))
        inflight: set[asyncio.Task[object]] = set()

        async def refresh_job(section: SectionConfig) -> None:
            task = asyncio.current_task()
            if task is not None:
                inflight.add(task)
            try:
                await rt.scraper.refresh(section)
            except asyncio.CancelledError:
                # Only a stop cancels a refresh: what it committed stays, the rest is redone next run.
                log.info("refresh of %s abandoned at stop", section.key, extra={"section": section.key})
            finally:
                if task is not None:
                    inflight.discard(task)

        scheduler = build_scheduler(settings.sections(), refresh_job, jitter=settings.jitter)
        scheduler.start()
        try:
            await stop.wait()
            log.info("stopping: finishing in-flight refreshes (at most %.0fs)", stop_timeout)
        finally:
            scheduler.pause()  # no new runs; the running ones get stop_timeout to finish
            await _drain(inflight, stop_timeout)
            scheduler.shutdown(wait=False)
            refresher.cancel()
            await runner.cleanup()
    return 0


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
