"""APScheduler wiring: one job per section at its interval.

Each job has jitter, never overlaps itself (``max_instances=1``; a missed run is
coalesced into one), and runs first shortly after start, the sections spread
over the first seconds so the hosts are not hit all at once. ``run_again_at``
adds a one-off extra run (a replica trying again when another replica's lease
on the section expires).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.models import SectionConfig

RefreshJob = Callable[[SectionConfig], Awaitable[object]]


def build_scheduler(
    sections: tuple[SectionConfig, ...],
    refresh: RefreshJob,
    *,
    jitter: float,
    now: datetime | None = None,
    stagger: float = 2.0,
) -> AsyncIOScheduler:
    """A scheduler (not started) with one job per section."""
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    start = now or datetime.now(timezone.utc)
    for index, section in enumerate(sections):
        scheduler.add_job(
            refresh,
            trigger=IntervalTrigger(seconds=section.every, jitter=int(min(jitter, section.every / 4)) or None, timezone=timezone.utc),
            args=(section,),
            id=section.key,
            name=f"refresh {section.key}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(section.every),
            next_run_time=start + timedelta(seconds=index * stagger),
        )
    return scheduler


def run_again_at(
    scheduler: AsyncIOScheduler, section: SectionConfig, refresh: RefreshJob, when: datetime
) -> bool:
    """Add one extra run of the section's refresh at ``when``, unless its regular run
    comes first; True when added. A later call replaces an extra run still pending."""
    regular = scheduler.get_job(section.key)
    if regular is not None and regular.next_run_time is not None and regular.next_run_time <= when:
        return False
    scheduler.add_job(
        refresh,
        trigger=DateTrigger(run_date=when, timezone=timezone.utc),
        args=(section,),
        id=f"{section.key}#again",
        name=f"refresh {section.key} again",
        replace_existing=True,
        misfire_grace_time=int(max(section.every, 1)),
    )
    return True
