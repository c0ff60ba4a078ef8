"""Re-extraction: heal stored stories when the rules that extracted them change.

Every stored article keeps its fetched pages (compressed) and the version of
the rules that extracted them (``RuleBook.version_of``: the rule file's name
and a digest of its text and ``global.txt``'s). At start (and on demand,
``feedsvc reextract``), the versions in use are compared with the rules now
loaded; the stories of every version that differs are extracted again from the
stored pages, with no request to the origin, and saved: a changed text is a
correction (same id, same published time, a new ``updated``), never a new
entry. The version is recorded even when the text did not change, or when the
new rules fail on the page (the story then keeps its text), so a story is
re-extracted once per change of its rules.

The rules that apply are chosen as the pipeline chooses them: the rule file
the site's config names, else the file matching the page's host. The
extraction itself is the pipeline's (``feedsvc.pipeline.extract_page``), handed
in by the composition, so a re-extracted story is exactly what a fresh fetch
would have stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from feedsvc.errors import FeedsvcError
from feedsvc.extract import join_pages
from feedsvc.models import Article, Settings
from feedsvc.rules.book import RuleBook, RuleVersion
from feedsvc.rules.model import SiteRules
from feedsvc.store.base import Store
from feedsvc.store.rawpages import StoredPages

log = logging.getLogger(__name__)

CONCURRENCY = 8  # stories extracted at once (the CPU pool sets the real parallelism)
T = TypeVar("T")
#: The pipeline's extraction of one page: (html, url, key, rules, global rules) -> cleaned Article.
ExtractPage = Callable[[str, str, str, SiteRules | None, SiteRules | None], Article]


@dataclass
class ReextractReport:
    checked_groups: int = 0
    stale: int = 0  # stories whose rules changed (or all asked for)
    reextracted: int = 0
    changed: int = 0  # saved as corrections
    created: int = 0  # companion stories seen for the first time
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def rules_for(settings: Settings, book: RuleBook, site_id: str, host: str) -> SiteRules | None:
    """The site rules the pipeline uses for pages of ``host`` on the site ``site_id``."""
    site = settings.site(site_id)
    if site is not None and site.rules:
        named = book.by_name(site.rules)
        if named is not None:
            return named
    return book.for_host(host) if host else None


async def reextract_changed(
    settings: Settings,
    store: Store,
    book: RuleBook,
    cpu: Executor | None,
    extract: ExtractPage,
    *,
    sites: Collection[str] | None = None,
    everything: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> ReextractReport:
    """Re-extract the stored stories whose rule version is not the current one (all with ``everything``)."""
    report = ReextractReport()
    gate = asyncio.Semaphore(CONCURRENCY)
    for group in await store.raw_page_versions():
        if sites and group.site_id not in sites:
            continue
        report.checked_groups += 1
        rules = rules_for(settings, book, group.site_id, group.host)
        current = book.version_of(rules)
        if not everything and current == RuleVersion(group.rule_file, group.rule_digest):
            continue
        keys = await store.raw_page_keys(group)
        report.stale += len(keys)
        log.info(
            "rules of %s changed (%s -> %s): re-extracting %d stored stories of %s",
            group.host, group.rule_file or "automatic", current.file or "automatic", len(keys), group.site_id,
        )
        jobs = (_one(store, book, cpu, extract, key, rules, current, report, gate, clock) for key in keys)
        await asyncio.gather(*jobs)
    if report.stale:
        log.info(
            "re-extraction: %d stories, %d corrected, %d failed", report.reextracted, report.changed, report.failed
        )
    return report


async def _one(
    store: Store,
    book: RuleBook,
    cpu: Executor | None,
    extract: ExtractPage,
    key: str,
    rules: SiteRules | None,
    version: RuleVersion,
    report: ReextractReport,
    gate: asyncio.Semaphore,
    clock: Callable[[], datetime],
) -> None:
    async with gate:
        stored = await store.raw_pages(key)
        if stored is None:
            return
        try:
            article = await _extract(stored, rules, book.global_rules, cpu, extract)
        except FeedsvcError as exc:
            report.failed += 1
            report.errors.append(str(exc))
            log.warning("re-extraction of %s failed, the story keeps its text: %s", key, exc)
        else:
            now = clock()
            for story in (article, *article.companions):
                result = await store.save_article(story, stored.site_id, stored.section_key, now)
                report.changed += int(result.changed and not result.created)
                report.created += int(result.created)
            report.reextracted += 1
        await store.mark_reextracted(key, version.file, version.digest, clock())


async def _extract(
    stored: StoredPages, rules: SiteRules | None, global_rules: SiteRules | None, cpu: Executor | None, extract: ExtractPage
) -> Article:
    """The article from the stored pages, as the pipeline extracts it from fetched ones."""
    (first_url, first_html), *more = stored.pages
    article = await _call(cpu, extract, first_html, first_url, stored.key, rules, global_rules)
    rest = [await _call(cpu, extract, html, url, stored.key, rules, global_rules) for url, html in more]
    if rest:
        article = join_pages(article, rest)
    return replace(article, url=stored.url, summary=stored.teaser or article.summary)


async def _call(cpu: Executor | None, func: Callable[..., T], *args: Any) -> T:
    if cpu is None:
        return func(*args)
    return await asyncio.get_running_loop().run_in_executor(cpu, func, *args)


async def reextract_command(
    settings: Settings, cpu: Executor, extract: ExtractPage, *, sites: Collection[str] | None, everything: bool
) -> int:
    """``feedsvc reextract [--site S] [--all]``: re-extract from stored pages, print a summary."""
    from feedsvc.store.open import open_store

    unknown = [site for site in sites or () if settings.site(site) is None]
    if unknown:
        raise FeedsvcError(f"unknown site {', '.join(unknown)} (known: {', '.join(s.id for s in settings.sites)})")
    book = RuleBook.load(list(settings.rules_dirs))
    store = open_store(settings.storage)
    try:
        await store.migrate()
        report = await reextract_changed(settings, store, book, cpu, extract, sites=sites, everything=everything)
    finally:
        await store.close()
    print(
        f"{report.stale} stories to re-extract, {report.reextracted} re-extracted, "
        f"{report.changed} corrected, {report.created} new companions, {report.failed} failed"
    )
    return 1 if report.failed else 0
