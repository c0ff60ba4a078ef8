"""Point 7: the store's scrape-path lookups and feed reads at a small and a large size.

For each backend (SQLite; PostgreSQL when reachable, in a database of its own
created beside the given one and dropped afterwards) two synthetic stores are
built in bulk (``bench.synthetic``): 10,000 and 1,000,000 stories (``--quick``:
50,000) over 100 sections of 10 sites. On each, through the store's own API:

- ``key_states`` of 50 keys (half stored, half new): the "is this article new?" check
- ``get_validators`` of a section page
- ``save_article`` of a stored story, unchanged (a re-check that finds no correction)
- a section, a site and the all-feed: load what ``FeedCache`` loads (newest 50,
  archive position, open archive page) and render the three formats, compressed

Each figure is the median of many calls, large store vs small store.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.fixture_origin import vocabulary
from bench.report import Figure, Report
from bench.synthetic import Layout, build_store
from feedsvc.archive import current_page, open_positions
from feedsvc.feedcache import Encoder
from feedsvc.models import Article, Validators
from feedsvc.render import FeedInfo, feed_etag, feed_updated
from feedsvc.store.open import open_store
from feedsvc.store.sql import SqlStore


@dataclass(frozen=True)
class ScalePlan:
    small: int
    large: int
    calls: int  # timed calls per operation
    sites: int = 10
    sections_per_site: int = 10
    body_bytes: int = 1500


QUICK = ScalePlan(small=10_000, large=50_000, calls=12)
FULL = ScalePlan(small=10_000, large=1_000_000, calls=60)


async def run(report: Report, work: Path, plan: ScalePlan, postgres: str, log: Callable[[str], None]) -> None:
    words = vocabulary()
    backends: list[tuple[str, Callable[[int], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]]] = [
        ("SQLite", lambda n: _sqlite_url(work, n)),
    ]
    if postgres:
        if await _reachable(postgres):
            backends.append(("PostgreSQL", lambda n: _postgres_database(postgres, n)))
        else:
            report.note(f"PostgreSQL at {make_url(postgres).render_as_string(hide_password=True)} not reachable: skipped")
    if plan.large < 1_000_000:
        report.note(f"scale: large store {plan.large:,} stories (--quick); the full run uses 1,000,000")
    for backend, make in backends:
        timings: dict[int, dict[str, float]] = {}
        for size in (plan.small, plan.large):
            url, drop = await make(size)
            try:
                layout = Layout(
                    sites=tuple(f"site{i:02d}" for i in range(plan.sites)),
                    sections_per_site=plan.sections_per_site,
                    stories_per_section=size // (plan.sites * plan.sections_per_site),
                    body_bytes=plan.body_bytes,
                    body_variants=64,
                )
                built = await build_store(url, layout, words, progress=lambda text: log(f"{backend}: {text}"))
                log(f"{backend}: {built.stories:,} stories built in {built.seconds:.0f}s")
                report.details.setdefault("scale_build_s", {})[f"{backend} {size}"] = round(built.seconds, 1)
                timings[size] = await _measure(url, layout, plan.calls)
            finally:
                await drop()
        for operation, small in timings[plan.small].items():
            large = timings[plan.large][operation]
            figure = report.add(Figure(
                "7", f"{backend}: {operation}", large, "ms", small, f"{plan.small:,} stories", "<= 2x", None,
                f"{plan.large:,} vs {plan.small:,} stories; median of {plan.calls} calls"))
            figure.met = figure.ratio is not None and figure.ratio <= 2.0


async def _measure(url: str, layout: Layout, calls: int) -> dict[str, float]:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    rng = random.Random(5)
    sections = layout.section_keys()
    now = datetime.now(UTC)
    encoder = Encoder()
    try:
        for key in sections:
            await store.put_validators(_section_url(key), Validators(etag=f'"{key}"', last_modified=None), now)
        newest = {key: await store.stories_for(key, 50) for key in rng.sample(sections, 10)}

        async def key_states() -> None:
            section = rng.choice(sections)
            stored = [layout.key(section, rng.randrange(layout.stories_per_section)) for _ in range(25)]
            new = [layout.key(section, layout.stories_per_section + 1000 + rng.randrange(10**6)) for _ in range(25)]
            lookup = getattr(store, "key_states", None) or store.known_keys
            found = await lookup(stored + new)
            assert len(found) == len(set(stored)), (len(found), len(set(stored)))

        async def validators() -> None:
            assert await store.get_validators(_section_url(rng.choice(sections))) is not None

        async def save_existing() -> None:
            section = rng.choice(list(newest))
            story = rng.choice(newest[section])
            article = Article(key=story.key, url=story.url, title=story.title, body_html=story.content_html,
                              author=story.author, published=story.published, place=story.place,
                              agency=story.agency, summary=story.summary)
            result = await store.save_article(article, section.partition("/")[0], section, datetime.now(UTC))
            assert not result.created and not result.changed, result

        def feed(kind: str, render: bool) -> Callable[[], Awaitable[None]]:
            async def load_and_render() -> None:
                section = rng.choice(sections)
                key = {"section": section, "site": section.partition("/")[0], "all": "all"}[kind]
                last = await store.last_position(key)
                stories = await store.stories_for(key, 50)
                first, last_open = open_positions(last)
                extra = await store.stories_at(key, first, last_open)
                seen = {s.id for s in stories}
                stories += [s for s in extra if s.id not in seen]
                assert len(stories) >= 50
                if render:
                    page = current_page(last)
                    info = FeedInfo(key=key, title=key, subtitle=key, html_url="http://feeds.test/",
                                    self_url_base=f"http://feeds.test/feeds/{key}")
                    documents = await asyncio.to_thread(encoder.render_all, info, stories, page,
                                                        feed_etag(info, stories, page), feed_updated(stories))
                    assert len(documents) == 3

            return load_and_render

        operations: dict[str, Callable[[], Awaitable[None]]] = {
            "key_states of 50 keys": key_states,
            "get_validators": validators,
            "save_article, stored story unchanged": save_existing,
            "section feed: load (queries only)": feed("section", False),
            "site feed: load (queries only)": feed("site", False),
            "all feed: load (queries only)": feed("all", False),
            "section feed: load + render 3 formats": feed("section", True),
            "site feed: load + render 3 formats": feed("site", True),
            "all feed: load + render 3 formats": feed("all", True),
        }
        results: dict[str, float] = {}
        for name, operation in operations.items():
            for _ in range(3):
                await operation()
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                await operation()
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = statistics.median(samples)
        return results
    finally:
        await store.close()


def _section_url(section_key: str) -> str:
    return f"http://{section_key.partition('/')[0]}.bench.test/sections/{section_key.partition('/')[2]}.xml"


async def _sqlite_url(work: Path, size: int) -> tuple[str, Callable[[], Awaitable[None]]]:
    path = work / f"scale-{size}.db"

    async def drop() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return f"sqlite:///{path}", drop


async def _reachable(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(_dsn(url)), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def _postgres_database(admin_url: str, size: int) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A new database beside ``admin_url``'s (dropped by the returned coroutine)."""
    import asyncpg

    name = f"feedsvc_bench_{size}_{secrets.token_hex(4)}"
    conn: Any = await asyncpg.connect(_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        admin: Any = await asyncpg.connect(_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), drop


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
