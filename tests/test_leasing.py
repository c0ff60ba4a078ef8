"""Section leases and turns: one replica refreshes a section at a time, once per interval.

Run against a real SQLite file and a real PostgreSQL (the ``backend`` fixture of
test_store.py: a fresh database per test). "Replicas" here are separate store
objects (separate engines and connection pools) on one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from feedsvc.leasing import MAX_SLACK, Outcome, SectionTurns, due_slack, is_due, last_fetch, replica_id
from feedsvc.models import SectionConfig
from feedsvc.store import SectionRun, open_store
from feedsvc.store import migrations as migrations_module
from feedsvc.store.sql import SqlStore
from test_store import Backend, backend  # noqa: F401  (the SQLite + PostgreSQL fixture)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY = "spacewar/nukewars"
SECTION = SectionConfig("spacewar", "nukewars", "Nuclear Wars", "http://127.0.0.1/Nuclear_Weapons.html", every=600.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def replicas(backend: Backend) -> AsyncIterator[list[SqlStore]]:  # noqa: F811
    """Three stores on one migrated database, as three replicas would open it."""
    opened = [open_store(backend.url) for _ in range(3)]
    await opened[0].migrate()
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


# ---------------------------------------------------------------- the lease statement


async def test_a_lease_is_held_by_one_holder_until_it_expires(replicas: list[SqlStore]) -> None:
    a, b, _ = replicas
    assert await a.acquire_lease(KEY, "a", at(0), 30)
    assert not await b.acquire_lease(KEY, "b", at(10), 30), "b took a's unexpired lease"
    assert await a.acquire_lease(KEY, "a", at(20), 30), "a could not renew its own lease"
    assert (await b.leases())[KEY].expires_at == at(50), "renewal did not move the expiry"
    assert not await b.acquire_lease(KEY, "b", at(49), 30), "b took a renewed lease before its expiry"
    assert await b.acquire_lease(KEY, "b", at(51), 30), "b could not take an expired lease"
    lease = (await a.leases())[KEY]
    assert (lease.holder, lease.expires_at) == ("b", at(81))
    assert not await a.acquire_lease(KEY, "a", at(60), 30), "a renewed a lease it had lost"


async def test_leases_of_different_sections_are_independent(replicas: list[SqlStore]) -> None:
    a, b, _ = replicas
    assert await a.acquire_lease(KEY, "a", at(0), 30)
    assert await b.acquire_lease("spacewar/milspace", "b", at(0), 30)
    assert {k: v.holder for k, v in (await a.leases()).items()} == {KEY: "a", "spacewar/milspace": "b"}


async def test_release_frees_the_lease_only_for_its_holder(replicas: list[SqlStore]) -> None:
    a, b, _ = replicas
    assert await a.acquire_lease(KEY, "a", at(0), 30)
    await b.release_lease(KEY, "b")  # not b's: nothing happens
    assert not await b.acquire_lease(KEY, "b", at(1), 30)
    await a.release_lease(KEY, "a")
    assert KEY not in await a.leases()
    assert await b.acquire_lease(KEY, "b", at(2), 30), "a released lease was not free"


@pytest.mark.parametrize("state", ["absent", "expired"])
async def test_replicas_racing_for_a_free_lease_get_exactly_one_winner(
    backend: Backend, state: str  # noqa: F811
) -> None:
    stores = [open_store(backend.url) for _ in range(6)]
    try:
        await stores[0].migrate()
        if state == "expired":
            assert await stores[0].acquire_lease(KEY, "dead", at(0), 30)
        for _round in range(5):
            now = at(100 + _round * 100)
            won = await asyncio.gather(
                *(store.acquire_lease(KEY, f"r{i}-{_round}", now, 30) for i, store in enumerate(stores))
            )
            assert sum(won) == 1, won
            winner = won.index(True)
            assert (await stores[0].leases())[KEY].holder == f"r{winner}-{_round}"
    finally:
        for store in stores:
            await store.close()


async def test_a_lease_needs_a_positive_time(replicas: list[SqlStore]) -> None:
    with pytest.raises(ValueError, match="positive"):
        await replicas[0].acquire_lease(KEY, "a", at(0), 0)


async def test_migration_2_upgrades_a_store_migrated_by_step_1_only(
    backend: Backend, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    old = open_store(backend.url)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:1])
            await old.migrate()
        rows = await backend.sql("SELECT version FROM schema_migrations ORDER BY version")
        assert rows == [(1,)]
        with pytest.raises(Exception, match="version 1"):
            await old.ping()  # this feedsvc needs the leases table
        await old.record_run(SectionRun(KEY, at(0), at(2), True))  # a run recorded before the upgrade
        await old.migrate()
        await old.ping()
        assert await old.acquire_lease(KEY, "a", at(0), 30)
        assert (await old.last_runs())[KEY].page_fetched is None
        await old.record_run(SectionRun(KEY, at(10), at(12), True, page_fetched=at(11)))
        assert (await old.last_runs())[KEY].page_fetched == at(11)
    finally:
        await old.close()
    versions = [row[0] for row in await backend.sql("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions[:2] == [1, 2]


# ---------------------------------------------------------------- when a section is due


@pytest.mark.parametrize(
    ("fetched_ago", "every", "due"),
    [
        (None, 600.0, True),
        (600.0, 600.0, True),
        (600.0 - due_slack(600.0), 600.0, True),
        (600.0 - due_slack(600.0) - 1.0, 600.0, False),
        (300.0, 600.0, False),
        (0.0, 600.0, False),
        (1800.0 - MAX_SLACK, 1800.0, True),
        (1800.0 - MAX_SLACK - 1.0, 1800.0, False),
        (2.8, 3.0, True),
        (2.6, 3.0, False),
    ],
    ids=["never-run", "one-interval-ago", "within-slack", "just-before-slack", "half-interval", "just-now",
         "slack-capped-within", "slack-capped-before", "short-interval-within", "short-interval-before"],
)
def test_a_section_is_due_one_interval_after_its_page_was_last_fetched(
    fetched_ago: float | None, every: float, due: bool
) -> None:
    now = at(10_000)
    last = None
    if fetched_ago is not None:
        fetched = now - timedelta(seconds=fetched_ago)
        # The run started long before (it waited for its host) and ended just now.
        last = SectionRun(KEY, fetched - timedelta(seconds=every), now, True, page_fetched=fetched)
    assert is_due(last, every, now) is due


@pytest.mark.parametrize(
    ("run", "reference"),
    [
        (SectionRun(KEY, at(0), at(50), True, page_fetched=at(20)), at(20)),
        (SectionRun(KEY, at(0), at(50), False, error="timed out"), at(50)),
    ],
    ids=["page-fetched", "no-answer-counts-from-the-end"],
)
def test_the_interval_counts_from_the_page_fetch_or_else_from_the_runs_end(run: SectionRun, reference: datetime) -> None:
    assert last_fetch(run) == reference
    assert not is_due(run, 600.0, reference + timedelta(seconds=600.0 - due_slack(600.0) - 0.001))
    assert is_due(run, 600.0, reference + timedelta(seconds=600.0 - due_slack(600.0)))


def test_replica_ids_are_unique_per_process_start() -> None:
    first, second = replica_id(), replica_id()
    assert first != second
    assert first.split(":")[1] == second.split(":")[1]  # the pid, for operators


# ---------------------------------------------------------------- turns


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def recording_refresh(calls: list[str], seconds: float = 0.0) -> Callable[[SectionConfig], Awaitable[str]]:
    async def refresh(section: SectionConfig) -> str:
        calls.append(section.key)
        await asyncio.sleep(seconds)
        return f"report of {section.key}"

    return refresh


async def test_a_turn_refreshes_and_releases_the_lease(replicas: list[SqlStore]) -> None:
    calls: list[str] = []
    turns = SectionTurns(replicas[0], lease_time=30, holder="a")
    turn = await turns.run(SECTION, recording_refresh(calls))
    assert (turn.outcome, turn.result, calls) == (Outcome.REFRESHED, f"report of {KEY}", [KEY])
    assert KEY not in await replicas[0].leases()


async def test_while_one_replica_refreshes_the_others_are_told_when_its_lease_expires(
    replicas: list[SqlStore],
) -> None:
    calls: list[str] = []
    a = SectionTurns(replicas[0], lease_time=30, holder="a")
    b = SectionTurns(replicas[1], lease_time=30, holder="b")
    running = asyncio.create_task(a.run(SECTION, recording_refresh(calls, 0.5)))
    await asyncio.sleep(0.2)
    lease = (await replicas[1].leases())[KEY]
    turn = await b.run(SECTION, recording_refresh(calls))
    assert (turn.outcome, turn.holder, turn.retry_at) == (Outcome.HELD_ELSEWHERE, "a", lease.expires_at)
    assert (await running).outcome is Outcome.REFRESHED
    assert calls == [KEY]


async def test_a_section_refreshed_within_its_interval_is_skipped_by_every_replica(
    replicas: list[SqlStore],
) -> None:
    clock = Clock(at(0))
    calls: list[str] = []
    await replicas[0].record_run(SectionRun(KEY, at(-110), at(-99), True, page_fetched=at(-100)))
    for index, store in enumerate(replicas):
        turn = await SectionTurns(store, lease_time=30, holder=f"r{index}", clock=clock).run(
            SECTION, recording_refresh(calls)
        )
        assert turn.outcome is Outcome.DONE_RECENTLY
        assert turn.retry_at == at(-100 + SECTION.every), "not told when the section is due"
    assert calls == []
    assert await replicas[0].leases() == {}, "a skipped turn kept its lease"
    clock.now = at(SECTION.every - 100)
    turn = await SectionTurns(replicas[2], lease_time=30, holder="r2", clock=clock).run(
        SECTION, recording_refresh(calls)
    )
    assert turn.outcome is Outcome.REFRESHED and calls == [KEY]


async def test_the_lease_is_renewed_while_a_long_refresh_runs(replicas: list[SqlStore]) -> None:
    calls: list[str] = []
    a = SectionTurns(replicas[0], lease_time=0.6, holder="a")
    running = asyncio.create_task(a.run(SECTION, recording_refresh(calls, 3.0)))
    seen: set[str] = set()
    for _ in range(8):  # 2 s of a 3 s refresh: more than three lease times
        await asyncio.sleep(0.25)
        assert not await replicas[1].acquire_lease(KEY, "b", datetime.now(UTC), 0.6), "a's lease lapsed"
        seen.add((await replicas[1].leases())[KEY].holder)
    assert seen == {"a"}
    assert (await running).outcome is Outcome.REFRESHED
    assert await replicas[1].acquire_lease(KEY, "b", datetime.now(UTC), 0.6)


async def test_a_replica_whose_lease_was_taken_over_stops_its_refresh(replicas: list[SqlStore]) -> None:
    # A replica that stalls past its lease looks, to the others, like a dead one. Here
    # replica a's clock runs 60 s behind, so its lease is already expired in b's eyes.
    calls: list[str] = []
    slow = Clock(datetime.now(UTC) - timedelta(seconds=60))
    a = SectionTurns(replicas[0], lease_time=0.6, holder="a", clock=lambda: slow.now)
    running = asyncio.create_task(a.run(SECTION, recording_refresh(calls, 30.0)))
    await asyncio.sleep(0.1)
    assert await replicas[1].acquire_lease(KEY, "b", datetime.now(UTC), 30), "b could not take the stale lease"
    turn = await asyncio.wait_for(running, 5)  # a notices at its next renewal (0.2 s)
    assert turn.outcome is Outcome.LOST
    assert (await replicas[1].leases())[KEY].holder == "b", "a released b's lease"


async def test_one_replica_never_runs_a_section_twice_at_once(replicas: list[SqlStore]) -> None:
    calls: list[str] = []
    a = SectionTurns(replicas[0], lease_time=30, holder="a")
    first = asyncio.create_task(a.run(SECTION, recording_refresh(calls, 0.3)))
    await asyncio.sleep(0.05)
    second = await a.run(SECTION, recording_refresh(calls))
    assert second.outcome is Outcome.RUNNING_HERE
    assert (await first).outcome is Outcome.REFRESHED and calls == [KEY]


async def test_a_failing_refresh_still_releases_the_lease(replicas: list[SqlStore]) -> None:
    async def broken(section: SectionConfig) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await SectionTurns(replicas[0], lease_time=30, holder="a").run(SECTION, broken)
    assert await replicas[0].leases() == {}


async def test_a_stop_cancels_the_refresh_and_releases_the_lease(replicas: list[SqlStore]) -> None:
    calls: list[str] = []
    running = asyncio.create_task(
        SectionTurns(replicas[0], lease_time=30, holder="a").run(SECTION, recording_refresh(calls, 30))
    )
    await asyncio.sleep(0.2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await replicas[0].leases() == {}
