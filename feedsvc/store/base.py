"""The store contract: one interface, SQLite and PostgreSQL behind it.

Every write is one transaction: a crash at any point loses nothing that was
committed and leaves no half-written story. Feed keys are ``"all"``, a site id
(``"spacewar"``) or a section key (``"spacewar/nukewars"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feedsvc.models import Article, SaveResult, Story, Validators


@dataclass(frozen=True)
class FeedState:
    """Change marker of one feed: ``version`` grows on every change to its stories."""

    key: str
    version: int
    changed_at: datetime
    stories: int


@dataclass(frozen=True)
class SectionRun:
    section_key: str
    started: datetime
    finished: datetime
    ok: bool
    error: str | None = None
    new_stories: int = 0
    changed_stories: int = 0


class Store(Protocol):
    async def migrate(self) -> None:
        """Create or upgrade the schema (idempotent, safe with several replicas)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the store is not reachable or not migrated."""

    # ---- fetch state
    async def get_validators(self, url: str) -> Validators | None: ...

    async def put_validators(self, url: str, validators: Validators, now: datetime) -> None: ...

    # ---- scrape path
    async def known_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of story keys already stored."""

    async def add_to_section(self, key: str, section_key: str, now: datetime) -> bool:
        """Record that the stored story ``key`` is listed in a section; True if that is new."""

    async def save_article(
        self, article: Article, site_id: str, section_key: str, now: datetime
    ) -> SaveResult:
        """Insert or update one story (companions are saved by separate calls).

        New story: id ``urn:uuid:<uuid5 of key>``, first_seen = now, published from
        ``article.published``, else the dateline day (with first_seen's time of day when
        first_seen falls on that day, else 12:00 UTC), else now.
        Known story: published and id never change; when the content hash (title + text of
        the body, whitespace-normalised) differs, content, title, summary, author, lead image
        are replaced and ``updated`` = now. Membership of the section is added either way.
        Every feed the story belongs to (section, site, "all") gets its version bumped when
        the story is created, changed or newly added to that section.
        """

    # ---- read path
    async def feed_states(self) -> dict[str, FeedState]:
        """Version of every feed that has stories; cheap (one small query)."""

    async def stories_for(self, feed_key: str, limit: int) -> list[Story]:
        """Newest first (published desc, then id); each story once."""

    async def record_run(self, run: SectionRun) -> None: ...

    async def last_runs(self) -> dict[str, SectionRun]: ...
