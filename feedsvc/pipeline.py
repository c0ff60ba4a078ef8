"""The write side: refresh one section end to end.

Order, as in DESIGN.md: fetch the section page (conditional GET: an unchanged
page costs a 304 and no parsing) -> discover references -> keep only keys the
store does not know (known ones, own keys or aliases, just gain the section;
tombstoned ones are skipped) -> fetch each new article -> extract and clean it
in the CPU pool (joining further pages) and fingerprint it (dedupe) -> store it
and its companion stories, one transaction each (the store recognises copies of
stored stories there) -> re-check stored articles that are due (conditional GET;
a changed text updates the story in place) -> apply retention (tombstones).

One failing article is logged and counted and never fails its section; the
section page's validators are kept only when every article was dealt with, so
an article that failed for a passing reason is tried again on the next run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from feedsvc.clean import text_of
from feedsvc.dedupe import Fingerprint, fingerprint, judge, revises
from feedsvc.discover import discover
from feedsvc.errors import ExtractError, FeedsvcError, FetchError, HTTPStatusError, RobotsDisallowed, StoreError, UnsupportedContent
from feedsvc.extract import extract_article, join_pages, single_page_url
from feedsvc.fetch import FEED_ACCEPT, Fetcher
from feedsvc.models import Article, ArticleRef, SectionConfig, Settings, SiteConfig, Validators
from feedsvc.rules.book import RuleBook
from feedsvc.rules.model import SiteRules
from feedsvc.store.base import Identity, Recheck, Retention, SectionRun, Store
from feedsvc.urls import canonical_url

log = logging.getLogger(__name__)

MAX_PAGES = 10  # pages joined per multi-page article
_SUMMARY_CHARS = 300
T = TypeVar("T")


# ------------------------------------------------------------------ CPU work (runs in a worker process)

#: Young-generation threshold of the garbage collector in CPU workers. Extracting one page makes
#: thousands of short-lived tuples and records and no cycles worth chasing; at Python's default
#: (700) the collector runs many times per page.
WORKER_GC_THRESHOLD = 20_000


def prepare_cpu_worker() -> None:
    """Set up a process that extracts pages (a pool worker, or a benchmark measuring one): what is
    loaded now leaves the collector's view (``gc.freeze``) and young collections come rarer."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(WORKER_GC_THRESHOLD, older, oldest)


def extract_page(html: str, url: str, key: str, rules: SiteRules | None, global_rules: SiteRules | None) -> Article:
    """Extract and clean one page; companions get keys under ``key``. Picklable, pure."""
    article = extract_article(html, url, rules, global_rules)
    companions = []
    for companion in article.companions:
        # A companion lives inside its host page: its key and link point there, with its own fragment.
        fragment = companion.key.rpartition("#")[2] or "companion"
        companions.append(_finish(companion, f"{key}#{fragment}", f"{url}#{fragment}"))
    return replace(_finish(article, key, url), companions=tuple(companions))


def _finish(article: Article, key: str, link: str) -> Article:
    # extract_article's bodies are clean already (it runs the cleaning steps on its own tree)
    summary = article.summary or _summary(text_of(article.body_html))
    return replace(article, key=key, url=link, summary=summary)


def fingerprint_stories(article: Article) -> tuple[Fingerprint, ...]:
    """The fingerprints of the article and of each companion. Picklable, pure."""
    return tuple(fingerprint(story.body_html) for story in (article, *article.companions))


def identity_of(story: Article, wording: Fingerprint) -> Identity:
    """What the store needs to recognise the story's copies and its corrections."""
    return Identity(
        bands=wording.bands,
        sketch=wording.to_bytes(),
        judge=partial(judge, wording),
        revises=partial(revises, story.title, story.body_html),
    )


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
    status: int | None = None  # HTTP status of the section page (304: unchanged)
    page_at: datetime | None = None  # when the section page's answer arrived
    duplicates: int = 0  # stories found to be copies of stored ones (merged or alternates)
    rechecked: int = 0  # stored articles fetched again for corrections
    removed: int = 0  # stories that left the store (retention)


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
    extraction_failures: int = 0  # pages that yielded no article (ExtractError)
    section_runs: int = 0
    section_failures: int = 0
    duplicates_found: int = 0
    rechecks: int = 0
    recheck_failures: int = 0
    stories_removed: int = 0


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
        on_run: Callable[[SectionRun], None] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._fetcher = fetcher
        self._rules = rules
        self._cpu = cpu
        self._clock = clock
        self._on_change = on_change
        self._on_run = on_run  # told about every finished run (the status page)
        # Redirects are followed only within the configured sites.
        self._redirect_hosts = tuple(host for each in settings.sites for host in _hosts(each))
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
            await self._recheck(site, section, report)
            await self._retain(section, report)
        except FeedsvcError as exc:
            report.ok = False
            report.errors.append(str(exc))
            complete = False
            if isinstance(exc, HTTPStatusError) and report.status is None:
                report.status = exc.status
            log.warning("section %s failed: %s", section.key, exc, extra={"site": site.id, "section": section.key, "url": section.url, "status": report.status})
        except Exception as exc:  # a bug in one section's run must not stop the others
            report.ok = False
            report.errors.append(f"internal error: {type(exc).__name__}: {exc}")
            complete = False
            log.exception("section %s failed with an internal error", section.key, extra={"site": site.id, "section": section.key, "url": section.url})
        finished = self._clock()
        run = SectionRun(section.key, started, finished, report.ok, "; ".join(report.errors[:3]) or None, report.created, report.changed, page_fetched=report.page_at)
        self.counters.section_runs += 1
        self.counters.section_failures += 0 if report.ok else 1
        if self._on_run is not None:
            self._on_run(run)
        try:
            await self._store.record_run(run)
        except StoreError as exc:
            log.warning("run of section %s not recorded: %s", section.key, exc, extra={"section": section.key})
        log.log(
            logging.INFO if report.created or report.changed or not complete else logging.DEBUG,
            "section %s: %d discovered, %d fetched, %d new, %d changed, %d failed",
            section.key, report.discovered, report.fetched, report.created, report.changed, report.failed,
            extra={"site": site.id, "section": section.key, "url": section.url, "status": report.status,
                   "duration_ms": round((finished - started).total_seconds() * 1000)},
        )
        if self._on_change is not None and (report.created or report.changed or report.discovered or report.removed):
            result = self._on_change()
            if asyncio.iscoroutine(result):
                await result
        return report

    async def _refresh(self, site: SiteConfig, section: SectionConfig, report: SectionReport) -> bool:
        rules = self.rules_for(site, section.url)
        validators = await self._store.get_validators(section.url)
        self.counters.section_fetches += 1
        page = await self._fetcher.fetch(
            section.url, validators, accept=FEED_ACCEPT, headers=_headers(rules), allowed_hosts=self._redirect_hosts
        )
        report.status = page.status
        report.page_at = self._clock()
        if page.not_modified:
            self.counters.section_not_modified += 1
            report.not_modified = True
            return True
        self.counters.section_parses += 1
        refs = await self._cpu_call(discover, page, rules, site.url)
        report.discovered = len(refs)
        refs = refs[: self._settings.max_articles_per_run]
        by_key = {canonical_url(ref.url): ref for ref in refs}
        known = await self._store.key_states(by_key)  # stored (own key or alias) or tombstoned
        now = self._clock()
        for key, state in known.items():
            if state.live and await self._store.add_to_section(key, section.key, now):
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
            fetched = await self._article(site, key, ref, rules, report)
        except (HTTPStatusError, RobotsDisallowed, UnsupportedContent, ExtractError) as exc:
            permanent = not isinstance(exc, HTTPStatusError) or exc.status in (404, 410)
            if isinstance(exc, ExtractError):
                self.counters.extraction_failures += 1
            self._failed(report, section, ref, exc)
            return permanent
        except FetchError as exc:
            self._failed(report, section, ref, exc)
            return False
        except Exception as exc:  # a bug (most likely the extractor on an odd page): skip the article, not the section
            log.exception("article %s failed with an internal error", ref.url, extra={"section": section.key, "url": ref.url})
            self._failed(report, section, ref, ExtractError(ref.url, f"internal error: {type(exc).__name__}: {exc}"))
            return False
        if fetched is None:  # not asked conditionally, so not expected
            return True
        article = fetched
        final_key = canonical_url(article.url)
        aliases = (final_key,) if final_key != key else ()  # redirected: both keys lead to the story
        if aliases:
            state = (await self._store.key_states(aliases)).get(final_key)
            if state is not None and state.live:  # ... to a page stored already
                if await self._store.add_alias(key, final_key, self._clock()):
                    await self._store.add_to_section(key, section.key, self._clock())
                return True
        await self._save(site, section, article, aliases, report)
        return True

    async def _save(
        self, site: SiteConfig, section: SectionConfig, article: Article, aliases: tuple[str, ...], report: SectionReport
    ) -> None:
        """Store an article and its companions, each with its fingerprint, one transaction each."""
        wordings = await self._cpu_call(fingerprint_stories, article)
        now = self._clock()
        pairs = list(zip((article, *article.companions), wordings, strict=True))
        # Companions first, the page's own story last: its key marks the page as taken, so a
        # crash between these transactions leaves the page unknown and the next run takes it
        # again, companions and all (saving a story twice changes nothing).
        for story, wording in pairs[1:] + pairs[:1]:
            result = await self._store.save_article(
                story, site.id, section.key, now,
                identity=identity_of(story, wording), aliases=aliases if story is article else (),
            )
            self.counters.store_writes += 1
            if result.merged or result.alternate_of is not None or result.removed:
                report.duplicates += 1
                self.counters.duplicates_found += 1
            if result.created:
                report.created += 1
                self.counters.stories_created += 1
            elif result.changed:
                report.changed += 1
                self.counters.stories_changed += 1

    async def _recheck(self, site: SiteConfig, section: SectionConfig, report: SectionReport) -> None:
        """Fetch stored articles of the section that are due again (conditional GET), a few per run."""
        settings = self._settings
        now = self._clock()
        due = await self._store.claim_rechecks(
            section.key, now, now - timedelta(seconds=settings.recheck_after),
            now - timedelta(seconds=settings.recheck_for), settings.recheck_per_run,
        )
        if due:
            rules = self.rules_for(site, section.url)
            await asyncio.gather(*(self._recheck_one(site, section, item, rules, report) for item in due))

    async def _recheck_one(
        self, site: SiteConfig, section: SectionConfig, item: Recheck, rules: SiteRules | None, report: SectionReport
    ) -> None:
        self.counters.rechecks += 1
        report.rechecked += 1
        try:
            validators = await self._store.get_validators(item.url)
            article = await self._article(site, item.key, ArticleRef(url=item.url), rules, report, validators)
        except FetchError as exc:
            self.counters.recheck_failures += 1
            log.info("re-check of %s failed: %s", item.url, exc, extra={"section": section.key, "url": item.url})
            return
        except Exception as exc:  # the extractor on an odd page: the stored story stays as it is
            self.counters.recheck_failures += 1
            log.warning("re-check of %s failed: %s: %s", item.url, type(exc).__name__, exc, extra={"section": section.key, "url": item.url})
            return
        if article is not None:
            await self._save(site, section, article, (), report)

    async def _retain(self, section: SectionConfig, report: SectionReport) -> None:
        settings = self._settings
        keep = Retention(items=settings.retention_items, age=settings.retention_age)
        removed = await self._store.expire(section.key, self._clock(), keep)
        if removed:
            report.removed += removed
            self.counters.stories_removed += removed
            log.info("section %s: %d stories left the retention window", section.key, removed, extra={"section": section.key})

    async def _article(
        self, site: SiteConfig, key: str, ref: ArticleRef, rules: SiteRules | None, report: SectionReport,
        validators: Validators | None = None,
    ) -> Article | None:
        """Fetch and extract one article; None when ``validators`` show it unchanged (304)."""
        page = await self._fetcher.fetch(ref.url, validators, headers=_headers(rules), allowed_hosts=self._redirect_hosts)
        self.counters.article_fetches += 1
        report.fetched += 1
        if page.not_modified:
            return None
        global_rules = self._rules.global_rules
        link = page.final_url
        first_validators = page.validators
        single = single_page_url(page.text, page.final_url, rules, global_rules)  # the rules' one-page / print view
        if single and single != page.final_url:
            page = await self._fetcher.fetch(single, headers=_headers(rules), allowed_hosts=self._redirect_hosts)
            self.counters.article_fetches += 1
        raw = [(page.final_url, page.text)]  # kept, compressed, for re-extraction when the rules change
        article = await self._cpu_call(extract_page, page.text, page.final_url, key, rules, global_rules)
        self.counters.extractions += 1
        pages: list[Article] = []
        seen = {page.final_url}
        next_url = article.next_page_url
        while next_url and next_url not in seen and len(pages) + 1 < MAX_PAGES:
            seen.add(next_url)
            more = await self._fetcher.fetch(next_url, headers=_headers(rules), allowed_hosts=self._redirect_hosts)
            self.counters.article_fetches += 1
            raw.append((more.final_url, more.text))
            extra = await self._cpu_call(extract_page, more.text, more.final_url, key, rules, global_rules)
            self.counters.extractions += 1
            pages.append(extra)
            next_url = extra.next_page_url
        if pages:
            article = join_pages(article, pages)
        await self._store.save_raw_pages(key, site.id, link, raw, *self._rules.version_of(rules), ref.teaser, self._clock())
        if first_validators:  # for the conditional GET of a later re-check
            await self._store.put_validators(link, first_validators, self._clock())
        return _with_listing_facts(replace(article, url=link), ref)

    def _failed(self, report: SectionReport, section: SectionConfig, ref: ArticleRef, exc: Exception) -> None:
        report.failed += 1
        report.errors.append(str(exc))
        self.counters.article_failures += 1
        status = exc.status if isinstance(exc, HTTPStatusError) else None
        log.warning("article skipped: %s", exc, extra={"site": section.site_id, "section": section.key, "url": ref.url, "status": status})

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

