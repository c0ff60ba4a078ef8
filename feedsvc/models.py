"""Plain frozen records that cross module lines.

Data flows one way: config -> fetch (Page) -> discover (ArticleRef) ->
extract (Article) -> clean (Article with safe body) -> dedupe/store (Story)
-> render (feed bytes) -> serve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class FetchSettings:
    user_agent: str = "feedsvc/0.1 (+https://github.com/feedsvc/feedsvc)"
    per_host_concurrency: int = 1
    min_delay: float = 1.0
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    retries: int = 2
    backoff: float = 1.0
    max_retry_after: float = 120.0
    obey_robots: bool = True
    contact: str = ""  # URL or e-mail for site owners, added to the User-Agent when not already in it
    breaker_failures: int = 5  # consecutive failed requests to a host before it is paused
    breaker_cooldown: float = 300.0  # first pause of a failing host; doubles while it keeps failing


@dataclass(frozen=True)
class SectionConfig:
    site_id: str
    id: str
    title: str
    url: str
    every: float  # seconds between refreshes

    @property
    def key(self) -> str:
        return f"{self.site_id}/{self.id}"


@dataclass(frozen=True)
class SiteConfig:
    id: str
    title: str
    url: str
    rules: str | None
    sections: tuple[SectionConfig, ...]


@dataclass(frozen=True)
class Settings:
    storage: str
    listen_host: str
    listen_port: int
    public_url: str
    fetch: FetchSettings
    sites: tuple[SiteConfig, ...]
    rules_dirs: tuple[str, ...]
    feed_size: int = 50
    jitter: float = 30.0
    max_articles_per_run: int = 100
    recheck_after: float = 6 * 3600.0
    recheck_per_run: int = 5  # stored articles re-checked per section run at most
    recheck_for: float = 2 * 86400.0  # stories first seen longer ago are no longer re-checked
    retention_items: int = 1000  # a section keeps its newest N stories
    retention_age: float = 90 * 86400.0  # stories first seen longer ago are removed (tombstoned)
    source: str = "<built-in>"
    role: str = "both"  # "both", "serve" (HTTP only) or "scrape" (scheduler, probes only)
    lease_time: float = 60.0  # seconds a replica's claim on a section's refresh lasts unrenewed
    websub_hub: str | None = None  # WebSub hub feeds advertise and that is pinged when they change
    stop_timeout: float = 10.0  # seconds in-flight refreshes get to finish after SIGTERM

    def site(self, site_id: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def sections(self) -> tuple[SectionConfig, ...]:
        return tuple(sec for site in self.sites for sec in site.sections)


# ---------------------------------------------------------------- fetch


@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True)
class Page:
    """One fetched document. ``not_modified`` pages carry no body."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    text: str  # body decoded with the detected charset ("" when not modified)
    charset: str | None
    validators: Validators
    not_modified: bool = False


# ---------------------------------------------------------------- discover


@dataclass(frozen=True)
class ArticleRef:
    """A link to one article found on a section page or in a summary feed.

    ``published`` is an exact time (a feed's pubDate); ``published_day`` the day of
    a dateline next to the link on a section page.
    """

    url: str
    title: str = ""
    teaser: str = ""
    published: datetime | None = None
    published_day: date | None = None


# ---------------------------------------------------------------- extract


@dataclass(frozen=True)
class Dateline:
    place: str | None
    agency: str | None
    day: date | None


@dataclass(frozen=True)
class Article:
    """What extraction and cleaning make of one story.

    ``published`` is an exact time when the page states one (meta, JSON-LD,
    <time>); ``published_day`` is the day of a date-only dateline.
    ``key`` is the canonical URL, plus ``#fragment`` for a companion story.
    """

    key: str
    url: str
    title: str
    body_html: str
    author: str | None = None
    published: datetime | None = None
    published_day: date | None = None
    place: str | None = None
    agency: str | None = None
    lead_image: str | None = None
    lead_image_caption: str | None = None
    language: str | None = None
    summary: str = ""
    companions: tuple[Article, ...] = ()
    next_page_url: str | None = None


# ---------------------------------------------------------------- store


@dataclass(frozen=True)
class Story:
    """A stored story, as render and serve see it."""

    id: str  # stable forever: "urn:uuid:..."
    key: str
    url: str
    site_id: str
    title: str
    content_html: str
    summary: str
    author: str | None
    published: datetime
    updated: datetime
    first_seen: datetime
    place: str | None = None
    agency: str | None = None
    lead_image: str | None = None
    sections: tuple[str, ...] = field(default_factory=tuple)  # "site/section" keys
    alternates: tuple[str, ...] = ()  # links of the same story's other copies ("Also published at")


@dataclass(frozen=True)
class SaveResult:
    story_id: str
    created: bool
    changed: bool  # content changed (a correction) or created
    merged: bool = False  # no row of its own: the key now leads to the stored story ``story_id``
    alternate_of: str | None = None  # stored as a copy of this story (the primary of its group)
    removed: bool = False  # the key or a copy of it was removed by retention: not taken in
