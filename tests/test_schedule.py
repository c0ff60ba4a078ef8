"""The scheduler: one job per section, and one-off extra runs (taking over a section)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedsvc.models import SectionConfig
from feedsvc.schedule import build_scheduler, run_again_at

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECTIONS = (
    SectionConfig("spacewar", "nukewars", "Nuclear Wars", "http://127.0.0.1/a.html", every=1800.0),
    SectionConfig("spacewar", "milspace", "Military Space", "http://127.0.0.1/b.html", every=60.0),
)


async def refresh(section: SectionConfig) -> None:
    return None


def test_one_job_per_section_first_runs_spread_over_the_first_seconds() -> None:
    scheduler = build_scheduler(SECTIONS, refresh, jitter=30.0, now=START, stagger=2.0)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {s.key for s in SECTIONS}
    assert [jobs[s.key].next_run_time for s in SECTIONS] == [START, START + timedelta(seconds=2)]
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())


async def test_an_extra_run_is_added_only_before_the_next_regular_run() -> None:
    scheduler = build_scheduler(SECTIONS, refresh, jitter=0.0, now=START)
    scheduler.start(paused=True)
    try:
        section = SECTIONS[0]
        assert not run_again_at(scheduler, section, refresh, START + timedelta(seconds=5)), "regular run comes first"
        regular = scheduler.get_job(section.key)
        regular.modify(next_run_time=START + timedelta(minutes=30))
        assert run_again_at(scheduler, section, refresh, START + timedelta(seconds=45))
        assert run_again_at(scheduler, section, refresh, START + timedelta(seconds=40)), "a later call replaces"
        extra = [job for job in scheduler.get_jobs() if job.id != section.key and job.args == (section,)]
        assert len(extra) == 1
        assert extra[0].next_run_time == START + timedelta(seconds=40)
    finally:
        scheduler.shutdown(wait=False)
