"""The store contract: one interface, SQLite and PostgreSQL behind it.

Every write is one transaction: a crash at any point loses nothing that was
committed and leaves no half-written story. Feed keys are ``"all"``, a site id
(``"spacewar"``) or a section key (``"spacewar/nukewars"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feedsvc.models import Article, SaveResult, Story, Validators
from feedsvc.store.rawpages import StoredPages, VersionGroup


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
    page_fetched: datetime | None = None  # when the section page's answer arrived (None: no answer)


@dataclass(frozen=True)
class Identity:
    """What the write side knows of a story's wording, for the store's identity decisions.

    ``bands`` are the keys under which the store indexes ``sketch`` and looks up candidate
    copies; ``judge(sketch of a candidate)`` gives a score when the candidate is the same
    story, None when it is not (the store keeps sketches opaque). ``revises(title, body_html)``
    of the stored version is True when this version changes the story in substance (a
    correction), False for a cosmetic change (whitespace, typography, an ad label, a counter).
    """

    bands: tuple[int, ...]
    sketch: bytes
    judge: Callable[[bytes], float | None]
    revises: Callable[[str, str], bool]


@dataclass(frozen=True)
class KeyState:
    """What a story key found on a section page leads to (see identity.py)."""

    story_id: str
    live: bool  # False: the key is tombstoned (its story left the retention window)


@dataclass(frozen=True)
class Recheck:
    """A stored story whose page is due to be fetched again for corrections."""

    story_id: str
    key: str
    url: str


@dataclass(frozen=True)
class Retention:
    """How long stories stay: the newest ``items`` of each section, for ``age`` seconds."""

    items: int
    age: float
    batch: int = 200  # stories removed per call at most


@dataclass(frozen=True)
class Lease:
    """A replica's turn at refreshing one section, valid until ``expires_at``."""

    section_key: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class RenderedDocument:
    """One feed in one format as last rendered: kept so that a restart serves it at once."""

    feed_key: str
    format: str
    version: int  # the feed's version it was rendered from
    etag: str
    last_modified: datetime
    content_type: str
    size: int  # bytes of the uncompressed body
    gzip_body: bytes
    br_body: bytes | None
    entries: int
    last_position: int


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

    async def key_states(self, keys: Iterable[str]) -> dict[str, KeyState]:
        """The keys that lead to a stored story (its own key or an alias) or to a tombstone."""

    async def add_alias(self, key: str, existing_key: str, now: datetime) -> bool:
        """Let ``key`` (a redirect's source, say) lead to the story ``existing_key`` leads to."""

    async def add_to_section(self, key: str, section_key: str, now: datetime) -> bool:
        """Record that the stored story ``key`` (or an alias of it) is listed in a section; True if that is new."""

    async def save_article(
        self,
        article: Article,
        site_id: str,
        section_key: str,
        now: datetime,
        *,
        identity: Identity | None = None,
        aliases: Sequence[str] = (),
    ) -> SaveResult:
        """Insert or update one story (companions are saved by separate calls).

        New story: id ``urn:uuid:<uuid5 of key>``, first_seen = now, published from
        ``article.published``, else the dateline day (with first_seen's time of day when
        first_seen falls on that day, else 12:00 UTC), else now.
        Known story: published and id never change; when the content hash (title + text of
        the body, whitespace-normalised) differs, content, title, summary, author, lead image
        are replaced and ``updated`` = now. Membership of the section is added either way.
        Every feed the story belongs to (section, site, "all") gets its version bumped when
        the story is created, changed or newly added to a section (its categories change
        in every feed it is in).

        With ``identity`` (see identity.py), the digest decides what is a correction and a
        story under a new key is first looked up among the stored ones: the same story
        under an alias or as a companion's standalone page is stored once (``merged``), a
        copy on another page becomes an alternate of its group's primary and takes the
        group's published time (``alternate_of``), and a key or copy of a removed story
        is not taken in (``removed``). ``aliases`` are further keys of the same page (the
        final URL of a redirect).
        """

    # ---- read path
    async def feed_states(self) -> dict[str, FeedState]:
        """Version of every feed that has stories; cheap (one small query)."""

    async def stories_for(self, feed_key: str, limit: int) -> list[Story]:
        """Newest first (published desc, then id); each story once."""

    async def last_position(self, feed_key: str) -> int:
        """The newest archive position of the feed, 0 when it has none. Every story that
        joins a feed takes the feed's next position (1, 2, ...) in the transaction that
        adds it; positions never change (RFC 5005 archive pages are built on them)."""

    async def stories_at(self, feed_key: str, first: int, last: int) -> list[Story]:
        """The stories at positions ``first..last`` (inclusive) of the feed, newest position first."""

    async def record_run(self, run: SectionRun) -> None: ...

    # ---- rendered feeds, for a fast start
    async def save_rendered(self, documents: Sequence[RenderedDocument], now: datetime) -> None:
        """Keep these documents (replacing the feed's previous ones, format by format)."""

    async def rendered_documents(self) -> list[RenderedDocument]:
        """Every kept document (each feed's newest rendering in each format)."""

    # ---- corrections and retention
    async def claim_rechecks(
        self, section_key: str, now: datetime, due_before: datetime, seen_after: datetime, limit: int
    ) -> list[Recheck]:
        """Up to ``limit`` stories of the section last checked before ``due_before`` and first
        seen after ``seen_after``, oldest check first; they count as checked ``now``."""

    async def expire(self, section_key: str, now: datetime, keep: Retention) -> int:
        """Apply retention (section item count, age); removed stories leave tombstones. Returns how many."""

    async def last_runs(self) -> dict[str, SectionRun]: ...

    # ---- replicas: one refresh of a section at a time
    async def acquire_lease(self, section_key: str, holder: str, now: datetime, ttl: float) -> bool:
        """Take (or renew) the section's lease until ``now + ttl`` seconds, in one atomic
        statement; True when ``holder`` has it, False while another holder's is unexpired."""

    async def release_lease(self, section_key: str, holder: str) -> None:
        """Give the lease back (nothing happens when ``holder`` does not hold it)."""

    async def leases(self) -> dict[str, Lease]:
        """Every lease row, expired or not, by section key."""

    # ---- stored article pages, for re-extraction when rules change (see rawpages.py)
    async def save_raw_pages(
        self,
        key: str,
        site_id: str,
        url: str,
        pages: Sequence[tuple[str, str]],
        rule_file: str,
        rule_digest: str,
        teaser: str,
        now: datetime,
    ) -> None:
        """Keep (compressed) the fetched pages of the story ``key`` and the rule version that extracted them."""

    async def raw_page_versions(self) -> list[VersionGroup]:
        """The rule versions stored pages were extracted with, grouped by site and host."""

    async def raw_page_keys(self, group: VersionGroup) -> list[str]:
        """The story keys of one group of :meth:`raw_page_versions`."""

    async def raw_pages(self, key: str) -> StoredPages | None:
        """The stored pages of a story (None when the pages or the story are gone)."""

    async def mark_reextracted(self, key: str, rule_file: str, rule_digest: str, now: datetime) -> None:
        """Record that the story's pages were extracted again with this rule version."""
