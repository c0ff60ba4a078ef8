"""The write side: refresh one section end to end.

Order, as in DESIGN.md: fetch the section page (conditional GET: an unchanged
page costs a 304 and no parsing) -> discover references -> keep only keys the
store does not know (known ones just gain the section) -> fetch each new
article -> extract and clean it in the CPU pool (joining further pages) ->
store it and its companion stories, one transaction each.

One failing article is logged and counted and never fails its section; the
section page's validators are kept only when every article was dealt with, so
an article that failed for a passing reason is tried again on the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

from feedsvc.clean import clean_body, text_of
from feedsvc.discover import discover
from feedsvc.errors import ExtractError, FeedsvcError, FetchError, HTTPStatusError, RobotsDisallowed, UnsupportedContent
from feedsvc.extract import extract_article, join_pages
from feedsvc.fetch import FEED_ACCEPT, Fetcher
from feedsvc.models import Article, ArticleRef, SectionConfig, Settings, SiteConfig
from feedsvc.rules.book import RuleBook
from feedsvc.rules.model import SiteRules
from feedsvc.store.base import SectionRun, Store
from feedsvc.urls import canonical_url

log = logging.getLogger(__name__)

MAX_PAGES = 10  # pages joined per multi-page article
_SUMMARY_CHARS = 300
T = TypeVar("T")


# ------------------------------------------------------------------ CPU work (runs in a worker process)


def extract_page(html: str, url: str, key: str, rules: SiteRules | None, global_rules: SiteRules | None) -> Article:
    """Extract and clean one page; companions get keys under ``key``. Picklable, pure."""
    article = extract_article(html, url, rules, global_rules)
    companions = []
    for companion in article.companions:
        # A companion lives inside its host page: its key and link point there, with its own fragment.
        fragment = companion.key.rpartition("#")[2] or "companion"
        companions.append(_finish(companion, f"{key}#{fragment}", f"{url}#{fragment}", url))
    return replace(_finish(article, key, url, url), companions=tuple(companions))


def _finish(article: Article, key: str, link: str, base_url: str) -> Article:
    body = clean_body(article.body_html, base_url)
    summary = article.summary or _summary(text_of(body))
    return replace(article, key=key, url=link, body_html=body, summary=summary)


def _summary(text: str) -> str:
    if len(text) <= _SUMMARY_CHARS:
        return text
    cut = text[:_SUMMARY_CHARS].rsplit(" ", 1)[0]
    return cut + " …"


# ------------------------------------------------------------------ the orchestrator


@dataclass
class SectionReport:
    section_key: str
    ok: bool = True
    not_modified: bool = False
    discovered: int = 0
    fetched: int = 0
    created: int = 0
    changed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class ScrapeCounters:
    """Process-wide counts of the work done (read by /metrics and the benchmarks)."""

    section_fetches: int = 0
    section_not_modified: int = 0
    section_parses: int = 0
    article_fetches: int = 0
    article_failures: int = 0
    extractions: int = 0
    stories_created: int = 0
    stories_changed: int = 0
    store_writes: int = 0


class Scraper:
    """Refreshes sections: everything the write side needs, passed in."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        rules: RuleBook,
        cpu: Executor | None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_change: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._fetcher = fetcher
        self._rules = rules
        self._cpu = cpu
        self._clock = clock
        self._on_change = on_change
        self.counters = ScrapeCounters()

    def rules_for(self, site: SiteConfig, url: str) -> SiteRules | None:
        if site.rules:
            named = self._rules.by_name(site.rules)
            if named is not None:
                return named
            log.warning("site %s names rule file %r, which no rule folder holds", site.id, site.rules)
        return self._rules.for_url(url)

    async def refresh(self, section: SectionConfig) -> SectionReport:
        """Refresh one section; never raises for a fault at the origin."""
        site = self._settings.site(section.site_id)
        if site is None:
            raise ValueError(f"section {section.key} names an unknown site")
        report = SectionReport(section.key)
        started = self._clock()
        try:
            complete = await self._refresh(site, section, report)
        except FeedsvcError as exc:
            report.ok = False
            report.errors.append(str(exc))
            complete = False
            log.warning("section %s failed: %s", section.key, exc, extra={"section": section.key})
        await self._store.record_run(
            SectionRun(section.key, started, self._clock(), report.ok, "; ".join(report.errors[:3]) or None, report.created, report.changed)
        )
        if report.created or report.changed or not complete:
            log.info(
                "section %s: %d discovered, %d fetched, %d new, %d changed, %d failed",
                section.key, report.discovered, report.fetched, report.created, report.changed, report.failed,
                extra={"section": section.key},
            )
        if self._on_change is not None and (report.created or report.changed or report.discovered):
            result = self._on_change()
            if asyncio.iscoroutine(result):
                await result
        return report

    async def _refresh(self, site: SiteConfig, section: SectionConfig, report: SectionReport) -> bool:
        rules = self.rules_for(site, section.url)
        validators = await self._store.get_validators(section.url)
        self.counters.section_fetches += 1
        page = await self._fetcher.fetch(
            section.url, validators, accept=FEED_ACCEPT, headers=_headers(rules), allowed_hosts=_hosts(site)
        )
        if page.not_modified:
            self.counters.section_not_modified += 1
            report.not_modified = True
            return True
        self.counters.section_parses += 1
        refs = await self._cpu_call(discover, page, rules, site.url)
        report.discovered = len(refs)
        refs = refs[: self._settings.max_articles_per_run]
        by_key = {canonical_url(ref.url): ref for ref in refs}
        known = await self._store.known_keys(by_key)
        now = self._clock()
        for key in known:
            if await self._store.add_to_section(key, section.key, now):
                self.counters.store_writes += 1
        outcomes = await asyncio.gather(
            *(self._take(site, section, key, ref, rules, report) for key, ref in by_key.items() if key not in known)
        )
        complete = all(outcomes)
        if complete and page.validators:
            await self._store.put_validators(section.url, page.validators, self._clock())
        return complete

    async def _take(
        self, site: SiteConfig, section: SectionConfig, key: str, ref: ArticleRef, rules: SiteRules | None, report: SectionReport
    ) -> bool:
        """Fetch, extract and store one new article. False when it should be tried again."""
        try:
            article = await self._article(site, key, ref, rules, report)
        except (HTTPStatusError, RobotsDisallowed, UnsupportedContent, ExtractError) as exc:
            permanent = not isinstance(exc, HTTPStatusError) or exc.status in (404, 410)
            self._failed(report, section, ref, exc)
            return permanent
        except FetchError as exc:
            self._failed(report, section, ref, exc)
            return False
        now = self._clock()
        for story in (article, *article.companions):
            result = await self._store.save_article(story, site.id, section.key, now)
            self.counters.store_writes += 1
            if result.created:
                report.created += 1
                self.counters.stories_created += 1
            elif result.changed:
                report.changed += 1
                self.counters.stories_changed += 1
        return True

    async def _article(self, site: SiteConfig, key: str, ref: ArticleRef, rules: SiteRules | None, report: SectionReport) -> Article:
        page = await self._fetcher.fetch(ref.url, headers=_headers(rules), allowed_hosts=_hosts(site))
        self.counters.article_fetches += 1
        report.fetched += 1
        global_rules = self._rules.global_rules
        article = await self._cpu_call(extract_page, page.text, page.final_url, key, rules, global_rules)
        self.counters.extractions += 1
        pages: list[Article] = []
        seen = {page.final_url}
        next_url = article.next_page_url
        while next_url and next_url not in seen and len(pages) + 1 < MAX_PAGES:
            seen.add(next_url)
            more = await self._fetcher.fetch(next_url, headers=_headers(rules), allowed_hosts=_hosts(site))
            self.counters.article_fetches += 1
            extra = await self._cpu_call(extract_page, more.text, more.final_url, key, rules, global_rules)
            self.counters.extractions += 1
            pages.append(extra)
            next_url = extra.next_page_url
        if pages:
            article = join_pages(article, pages)
        return _with_listing_facts(article, ref)

    def _failed(self, report: SectionReport, section: SectionConfig, ref: ArticleRef, exc: Exception) -> None:
        report.failed += 1
        report.errors.append(str(exc))
        self.counters.article_failures += 1
        log.warning("article skipped: %s", exc, extra={"section": section.key, "url": ref.url})

    async def _cpu_call(self, func: Callable[..., T], *args: Any) -> T:
        if self._cpu is None:
            return func(*args)
        return await asyncio.get_running_loop().run_in_executor(self._cpu, func, *args)


def _with_listing_facts(article: Article, ref: ArticleRef) -> Article:
    """Fill what the page lacks from its listing: an exact feed time, the teaser."""
    published = article.published
    if published is None and ref.published is not None:
        same_day = article.published_day is None or article.published_day == ref.published.date()
        published = ref.published if same_day else None
    day = article.published_day or ref.published_day
    summary = ref.teaser or article.summary
    return replace(article, published=published, published_day=day, summary=summary)


def _headers(rules: SiteRules | None) -> dict[str, str]:
    return dict(rules.http_header) if rules else {}


def _hosts(site: SiteConfig) -> list[str]:
    host = urlsplit(site.url).netloc
    return [host, host[4:] if host.startswith("www.") else f"www.{host}"]

