"""Turns at refreshing a section, shared by every replica through the store.

Every replica runs its own scheduler; before a scheduled refresh it asks for
the section's turn:

1. The section's lease (``Store.acquire_lease``): while another replica holds
   an unexpired one, this replica does not refresh and is told when that lease
   expires, so that it can try again right then: a dead replica's sections are
   taken over as soon as its leases run out.
2. With the lease, the section's last run (``Store.last_runs``): when any
   replica fetched the section page less than the interval ago (minus a little
   slack for scheduling latency), this interval's refresh is done and this one
   is skipped; the caller is told when the section is due, to run exactly then.
   So N replicas with N schedulers still fetch each section page once per
   interval. The time the page's answer arrived counts, not the time the run
   started: a run can wait long for its host's politeness slot before it fetches.
3. Otherwise the refresh runs, the lease renewed every third of its time. A
   renewal that finds the lease taken (this replica stalled past the expiry and
   another took over) stops the refresh: the other replica has the turn now.
4. The lease is released when the refresh ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Generic, Protocol, TypeVar

from feedsvc.errors import StoreError
from feedsvc.models import SectionConfig
from feedsvc.store.base import Lease, SectionRun

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_SLACK = 30.0  # seconds


class LeaseStore(Protocol):
    """The part of the store that turns need."""

    async def acquire_lease(self, section_key: str, holder: str, now: datetime, ttl: float) -> bool: ...

    async def release_lease(self, section_key: str, holder: str) -> None: ...

    async def leases(self) -> dict[str, Lease]: ...

    async def last_runs(self) -> dict[str, SectionRun]: ...


class Outcome(Enum):
    REFRESHED = "refreshed"  # this replica ran the refresh
    DONE_RECENTLY = "done recently"  # fetched less than an interval ago (see Turn.retry_at)
    HELD_ELSEWHERE = "held elsewhere"  # another replica holds the lease (see Turn.retry_at)
    RUNNING_HERE = "running here"  # this replica is refreshing it already
    LOST = "lost"  # the lease was taken over mid-refresh; the refresh was stopped


@dataclass(frozen=True)
class Turn(Generic[T]):
    outcome: Outcome
    result: T | None = None  # the refresh's result when REFRESHED
    retry_at: datetime | None = None  # HELD_ELSEWHERE: the other lease's expiry; DONE_RECENTLY: when due
    holder: str | None = None  # when HELD_ELSEWHERE: who holds it


def replica_id() -> str:
    """A name for this process as a lease holder: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def due_slack(every: float) -> float:
    """How much earlier than ``every`` after the last start a refresh counts as due:
    a tenth of the interval, at most ``MAX_SLACK`` seconds."""
    return min(every / 10.0, MAX_SLACK)


def last_fetch(run: SectionRun) -> datetime:
    """When the run last had the section page from the origin: its answer's arrival,
    or (no answer recorded: a failed run) the run's end, the latest it can have been."""
    return run.page_fetched or run.finished


def is_due(last: SectionRun | None, every: float, now: datetime) -> bool:
    """True when the section page was not fetched within the last interval."""
    if last is None:
        return True
    return now - last_fetch(last) >= timedelta(seconds=every - due_slack(every))


class SectionTurns:
    """Runs refreshes only in this replica's turn (one replica per section at a time)."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        lease_time: float,
        holder: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if lease_time <= 0:
            raise ValueError(f"lease_time must be positive, got {lease_time!r}")
        self.holder = holder or replica_id()
        self.lease_time = lease_time
        self._store = store
        self._clock = clock
        self._running: set[str] = set()

    async def run(self, section: SectionConfig, refresh: Callable[[SectionConfig], Awaitable[T]]) -> Turn[T]:
        """Refresh ``section`` if it is this replica's turn. StoreError when the store fails."""
        key = section.key
        if key in self._running:
            return Turn(Outcome.RUNNING_HERE)
        self._running.add(key)
        try:
            if not await self._store.acquire_lease(key, self.holder, self._clock(), self.lease_time):
                lease = (await self._store.leases()).get(key)
                log.debug("section %s: lease held by %s", key, lease.holder if lease else "?", extra={"section": key})
                return Turn(
                    Outcome.HELD_ELSEWHERE,
                    retry_at=lease.expires_at if lease else None,
                    holder=lease.holder if lease else None,
                )
            try:
                last = (await self._store.last_runs()).get(key)
                if last is not None and not is_due(last, section.every, self._clock()):
                    log.debug("section %s: refreshed recently, skipping", key, extra={"section": key})
                    return Turn(Outcome.DONE_RECENTLY, retry_at=last_fetch(last) + timedelta(seconds=section.every))
                return await self._refresh_holding(section, refresh)
            finally:
                await self._release(key)
        finally:
            self._running.discard(key)

    async def _refresh_holding(self, section: SectionConfig, refresh: Callable[[SectionConfig], Awaitable[T]]) -> Turn[T]:
        work: asyncio.Future[T] = asyncio.ensure_future(refresh(section))
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep(section.key, work, lost))
        try:
            result = await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if lost.is_set() and current is not None and not current.cancelling():
                return Turn(Outcome.LOST)
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        return Turn(Outcome.REFRESHED, result=result)

    async def _keep(self, key: str, work: asyncio.Future[T], lost: asyncio.Event) -> None:
        """Renew the lease every third of its time; stop ``work`` if it was taken over."""
        while not work.done():
            await asyncio.sleep(self.lease_time / 3)
            try:
                held = await self._store.acquire_lease(key, self.holder, self._clock(), self.lease_time)
            except StoreError as exc:
                log.warning("section %s: lease not renewed (will retry): %s", key, exc, extra={"section": key})
                continue
            if not held:
                log.warning(
                    "section %s: lease expired and taken over by another replica; stopping this refresh",
                    key, extra={"section": key},
                )
                lost.set()
                work.cancel()
                return

    async def _release(self, key: str) -> None:
        try:
            await self._store.release_lease(key, self.holder)
        except StoreError as exc:  # it expires by itself
            log.warning("section %s: lease not released: %s", key, exc, extra={"section": key})
