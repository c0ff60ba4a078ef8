"""The store contract, run against a real SQLite file and a real PostgreSQL.

PostgreSQL: ``FEEDSVC_TEST_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/test)
names a server where the test user may CREATE DATABASE; every test gets a fresh
database of its own. When the variable is set, an unreachable server fails the
tests instead of skipping them (CI sets it).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from feedsvc.errors import StoreError
from feedsvc.models import Article, Validators
from feedsvc.store import FeedState, SectionRun, open_store
from feedsvc.store.migrations import LATEST_VERSION, MIGRATIONS
from feedsvc.store.sql import SqlStore
from feedsvc.store.story_rules import STORY_NAMESPACE, content_hash, story_id_for

POSTGRES_ENV = "FEEDSVC_TEST_POSTGRES"
POSTGRES_URL = os.environ.get(POSTGRES_ENV, "postgresql://postgres@127.0.0.1:5432/test")

NOW = datetime(2024, 5, 1, 15, 30, 45, 123456, tzinfo=UTC)
LATER = NOW + timedelta(hours=3)
SECTION = "spacewar/nukewars"
OTHER_SECTION = "spacewar/missiles"
FOREIGN_SECTION = "terradaily/climate"


# ---------------------------------------------------------------- backends


@dataclass(frozen=True)
class Backend:
    name: str
    url: str  # what a user writes in the config
    driver_url: str  # the same database for a test's own SQLAlchemy engine

    async def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run raw SQL in one transaction; the rows of the last statement."""
        engine = create_async_engine(self.driver_url)
        try:
            async with engine.begin() as conn:
                rows: list[tuple[Any, ...]] = []
                for statement in statements:
                    result = await conn.exec_driver_sql(statement)
                    rows = [tuple(row) for row in result] if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()


async def _sqlite_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    path = tmp_path / "feedsvc.db"
    yield Backend("sqlite", f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}")


async def _postgres_backend() -> AsyncIterator[Backend]:
    server = make_url(POSTGRES_URL).set(drivername="postgresql")
    shown = server.render_as_string(hide_password=True)
    try:
        admin = await asyncpg.connect(server.render_as_string(hide_password=False), timeout=5)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        reason = f"PostgreSQL store tests need a server at {shown} ({POSTGRES_ENV}): {exc!r}"
        if POSTGRES_ENV in os.environ:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"feedsvc_store_{uuid.uuid4().hex[:16]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        yield Backend("postgresql", url, url.replace("postgresql://", "postgresql+asyncpg://", 1))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    source = _sqlite_backend(tmp_path) if request.param == "sqlite" else _postgres_backend()
    async for made in source:
        yield made


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[SqlStore]:
    opened = open_store(backend.url)
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


def article(n: int = 1, **changes: Any) -> Article:
    made = Article(
        key=f"https://www.spacewar.com/reports/Story_{n}_999.html",
        url=f"https://www.spacewar.com/reports/Story_{n}_999.html",
        title=f"Story number {n}",
        body_html=f"<p>First paragraph of story {n}.</p>\n<p>Second paragraph.</p>",
        author="Maria PANINA",
        published=datetime(2019, 4, 25, 8, 0, n % 60, tzinfo=UTC),
        place="Vladivostok, Russia",
        agency="AFP",
        lead_image="https://img.example/story.jpg",
        summary=f"Summary {n}",
    )
    return replace(made, **changes)


async def versions(store: SqlStore) -> dict[str, int]:
    return {key: state.version for key, state in (await store.feed_states()).items()}


async def keys_of(store: SqlStore, feed: str, limit: int = 100) -> list[str]:
    return [story.key for story in await store.stories_for(feed, limit)]


async def only_story(store: SqlStore) -> Any:
    (story,) = await store.stories_for("all", 10)
    return story


# ---------------------------------------------------------------- opening and migrating


@pytest.mark.parametrize(
    "url",
    [
        "mysql://feed:s3cr3t@db.example/feedsvc",
        "http://feed:s3cr3t@example.com/feedsvc",
        "postgresql+psycopg2://feed:s3cr3t@db.example/feedsvc",
        "not a url",
        "sqlite://",
        "sqlite:///:memory:",
    ],
    ids=["mysql", "http", "other-postgres-driver", "garbage", "sqlite-memory", "sqlite-named-memory"],
)
def test_unusable_url_is_a_store_error_that_shows_no_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "sqlite:///" in message and "postgresql://" in message
    assert "s3cr3t" not in message
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "not a url"):
        assert repr(scheme) in message


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:pw@db.example/feeds", "postgres://u:pw@db.example/feeds"],
    ids=["postgresql", "postgres"],
)
def test_postgres_urls_open_without_connecting_and_hide_the_password(url: str) -> None:
    opened = open_store(url)
    assert "PostgreSQL" in opened.name and "db.example" in opened.name
    assert "pw" not in repr(opened).replace("***", "")


async def test_relative_sqlite_path_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    opened = open_store("sqlite:///data/nested/feedsvc.db")
    try:
        await opened.migrate()
        await opened.ping()
    finally:
        await opened.close()
    assert (tmp_path / "data" / "nested" / "feedsvc.db").is_file()


def test_sqlite_directory_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(StoreError, match="directory"):
        open_store(f"sqlite:///{tmp_path / 'a-file' / 'feedsvc.db'}")


async def test_unreachable_postgres_fails_ping_with_store_error() -> None:
    opened = open_store("postgresql://postgres:s3cr3t@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(StoreError) as caught:
            await opened.ping()
    finally:
        await opened.close()
    assert "s3cr3t" not in str(caught.value)


async def test_ping_on_unmigrated_store_raises_then_passes_after_migrate(backend: Backend) -> None:
    opened = open_store(backend.url)
    try:
        with pytest.raises(StoreError, match="not migrated"):
            await opened.ping()
        await opened.migrate()
        await opened.ping()
    finally:
        await opened.close()


async def test_migrate_is_idempotent_and_records_every_version(backend: Backend) -> None:
    replicas = [open_store(backend.url) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.migrate() for replica in replicas))  # start together
        await replicas[0].migrate()
        await replicas[0].ping()
    finally:
        for replica in replicas:
            await replica.close()
    rows = await backend.sql("SELECT version, description FROM schema_migrations ORDER BY version")
    assert rows == [(step.version, step.description) for step in MIGRATIONS]
    assert rows[-1][0] == LATEST_VERSION


async def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    opened = open_store(f"sqlite:///{path}")
    try:
        await opened.migrate()
    finally:
        await opened.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# ---------------------------------------------------------------- saving new stories


async def test_new_story_gets_a_stable_uuid5_urn_and_its_fields(store: SqlStore) -> None:
    item = article()
    result = await store.save_article(item, "spacewar", SECTION, NOW)

    assert (result.created, result.changed) == (True, True)
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f-]{17}", result.story_id)
    assert result.story_id == f"urn:uuid:{uuid.uuid5(STORY_NAMESPACE, item.key)}"
    # The namespace is part of the contract: changing it would re-issue every id.
    golden = "urn:uuid:f62ebb04-bfc0-5680-aea5-6db67215cfce"
    assert story_id_for("https://www.spacewar.com/reports/x.html") == golden
    story = await only_story(store)
    assert story.id == result.story_id
    assert (story.key, story.url, story.site_id) == (item.key, item.url, "spacewar")
    assert (story.title, story.content_html) == (item.title, item.body_html)
    assert (story.summary, story.author) == (item.summary, item.author)
    assert (story.place, story.agency, story.lead_image) == (item.place, item.agency, item.lead_image)
    assert story.first_seen == NOW and story.updated == NOW
    assert story.sections == (SECTION,)
    for moment in (story.published, story.updated, story.first_seen):
        assert moment.utcoffset() == timedelta(0)


VLADIVOSTOK = timezone(timedelta(hours=10))
EXACT = datetime(2019, 4, 25, 8, 1, 2, 345678, tzinfo=UTC)
OTHER_DAY = date(2024, 4, 30)  # NOW is 2024-05-01 15:30:45.123456 UTC


@pytest.mark.parametrize(
    ("published", "published_day", "expected_published", "expected_updated"),
    [
        (datetime(2019, 4, 25, 10, 0, tzinfo=VLADIVOSTOK), None, datetime(2019, 4, 25, 0, 0, tzinfo=UTC), NOW),
        (EXACT, OTHER_DAY, EXACT, NOW),
        (None, NOW.date(), NOW, NOW),
        (None, OTHER_DAY, datetime(2024, 4, 30, 12, 0, tzinfo=UTC), NOW),
        (None, None, NOW, NOW),
        (NOW + timedelta(hours=2), None, NOW + timedelta(hours=2), NOW + timedelta(hours=2)),
    ],
    ids=[
        "exact-time-kept-in-utc",
        "exact-time-beats-dateline-day",
        "dateline-day-is-first-seen-day-keeps-its-time",
        "dateline-other-day-noon-utc",
        "no-date-is-first-seen",
        "future-time-updated-not-before-published",
    ],
)
async def test_published_of_a_new_story(
    store: SqlStore,
    published: datetime | None,
    published_day: date | None,
    expected_published: datetime,
    expected_updated: datetime,
) -> None:
    item = article(published=published, published_day=published_day)
    await store.save_article(item, "spacewar", SECTION, NOW)
    story = await only_story(store)
    assert (story.published, story.updated, story.first_seen) == (expected_published, expected_updated, NOW)
    assert story.published.utcoffset() == timedelta(0)


async def test_story_is_stored_once_per_key(store: SqlStore) -> None:
    first = await store.save_article(article(), "spacewar", SECTION, NOW)
    again = await store.save_article(article(), "spacewar", SECTION, LATER)
    assert again.story_id == first.story_id
    assert (again.created, again.changed) == (False, False)
    assert len(await store.stories_for("all", 10)) == 1


async def test_bad_section_key_is_a_store_error(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="site/section"):
        await store.save_article(article(), "spacewar", "nukewars", NOW)
    assert await store.known_keys([article().key]) == set()


# ---------------------------------------------------------------- corrections


async def test_correction_updates_in_place_and_bumps_every_feed_of_the_story(store: SqlStore) -> None:
    original = article()
    created = await store.save_article(original, "spacewar", SECTION, NOW)
    await store.add_to_section(original.key, FOREIGN_SECTION, NOW)
    before = await versions(store)

    corrected = replace(
        original,
        title="Story number 1 (corrected)",
        body_html="<p>First paragraph, corrected.</p>",
        author="Staff",
        summary="Corrected summary",
        lead_image="https://img.example/new.jpg",
        published=datetime(2020, 1, 1, tzinfo=UTC),
    )
    result = await store.save_article(corrected, "spacewar", SECTION, LATER)

    assert (result.story_id, result.created, result.changed) == (created.story_id, False, True)
    story = await only_story(store)
    assert (story.title, story.content_html) == (corrected.title, corrected.body_html)
    assert story.author == "Staff"
    assert (story.summary, story.lead_image) == ("Corrected summary", "https://img.example/new.jpg")
    assert story.published == original.published  # never changes after insert
    assert story.first_seen == NOW and story.updated == LATER
    after = await versions(store)
    bumped = {SECTION, "spacewar", FOREIGN_SECTION, "terradaily", "all"}
    assert after == {key: before[key] + 1 for key in bumped}
    assert all(state.changed_at == LATER for state in (await store.feed_states()).values())


@pytest.mark.parametrize(
    "cosmetic",
    [
        {"body_html": "<p>First  paragraph of story 1.</p><p>Second\n paragraph. </p>"},
        {"body_html": "  <p>First paragraph of story 1.</p>\n\n\n<p>Second paragraph.</p>\n"},
        {"title": "  Story   number 1 "},
        {"author": "Someone Else", "summary": "different teaser"},
    ],
    ids=["spaces-inside", "line-breaks-between-paragraphs", "title-spacing", "metadata-only"],
)
async def test_cosmetic_change_is_not_a_correction(store: SqlStore, cosmetic: dict[str, Any]) -> None:
    original = article()
    await store.save_article(original, "spacewar", SECTION, NOW)
    before = await store.feed_states()

    result = await store.save_article(replace(original, **cosmetic), "spacewar", SECTION, LATER)

    assert (result.created, result.changed) == (False, False)
    assert await store.feed_states() == before
    story = await only_story(store)
    assert (story.title, story.content_html) == (original.title, original.body_html)
    assert story.author == original.author
    assert story.updated == NOW


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("<p>a</p><p>b</p>", "<p>a</p>\n  <p>b</p>", True),
        ("<p>a  b</p>", "<p>a b</p>", True),
        ("<p>a b</p>", "<p>a c</p>", False),
        ("", "   ", True),
        ("<p>form\x0cfeed</p>", "<p>form feed</p>", True),
    ],
    ids=["break-between-blocks", "double-space", "changed-word", "empty-bodies", "control-character"],
)
def test_content_hash_ignores_whitespace_only(left: str, right: str, same: bool) -> None:
    assert (content_hash("Title", left) == content_hash("Title", right)) is same
    assert content_hash("Title", left) != content_hash("Other title", left)


async def test_unchanged_resave_changes_nothing(store: SqlStore) -> None:
    await store.save_article(article(), "spacewar", SECTION, NOW)
    before_states, before_stories = await store.feed_states(), await store.stories_for("all", 10)
    result = await store.save_article(article(), "spacewar", SECTION, LATER)
    assert (result.created, result.changed) == (False, False)
    assert await store.feed_states() == before_states
    assert await store.stories_for("all", 10) == before_stories


# ---------------------------------------------------------------- sections and feeds


async def test_story_in_several_sections_appears_once_per_feed(store: SqlStore) -> None:
    shared, alone = article(1), article(2)
    await store.save_article(shared, "spacewar", SECTION, NOW)
    await store.save_article(replace(shared), "spacewar", OTHER_SECTION, NOW)
    assert await store.add_to_section(shared.key, FOREIGN_SECTION, NOW) is True
    await store.save_article(alone, "spacewar", OTHER_SECTION, NOW)

    expected = {
        "all": [shared.key, alone.key],
        "spacewar": [shared.key, alone.key],
        SECTION: [shared.key],
        OTHER_SECTION: [shared.key, alone.key],
        "terradaily": [shared.key],
        FOREIGN_SECTION: [shared.key],
    }
    for feed, keys in expected.items():
        assert sorted(await keys_of(store, feed)) == sorted(keys), feed
    stories = {story.key: story for story in await store.stories_for("all", 10)}
    assert stories[shared.key].sections == tuple(sorted([SECTION, OTHER_SECTION, FOREIGN_SECTION]))
    assert stories[alone.key].sections == (OTHER_SECTION,)


async def test_stories_newest_first_then_by_id_and_limited(store: SqlStore) -> None:
    same_time = datetime(2021, 6, 1, 12, 0, tzinfo=UTC)
    moments = [
        datetime(2018, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2019, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2020, 2, 29, 18, 0, tzinfo=timezone(timedelta(hours=-5))),
        same_time,
        same_time,
        same_time,
    ]
    for n, moment in enumerate(moments, start=1):
        await store.save_article(article(n, published=moment), "spacewar", SECTION, NOW)

    for feed in ("all", "spacewar", SECTION):
        listed = await store.stories_for(feed, 100)
        assert [(s.published, s.id) for s in listed] == sorted(
            ((s.published, s.id) for s in listed), reverse=True
        )
        assert len(listed) == len(moments)
        assert [s.id for s in await store.stories_for(feed, 4)] == [s.id for s in listed[:4]]
    assert await store.stories_for("all", 0) == []
    assert await store.stories_for("nosuchsite", 10) == []
    assert await store.stories_for("spacewar/nosuchsection", 10) == []


async def test_add_to_section_is_new_once_and_bumps_only_then(store: SqlStore) -> None:
    item = article()
    await store.save_article(item, "spacewar", SECTION, NOW)
    before = await versions(store)

    assert await store.add_to_section(item.key, OTHER_SECTION, LATER) is True
    after = await versions(store)
    # The story's categories change in its other section's feed too.
    bumped = {OTHER_SECTION: 1, SECTION: before[SECTION] + 1, "spacewar": before["spacewar"] + 1, "all": before["all"] + 1}
    assert after == {**before, **bumped}

    assert await store.add_to_section(item.key, OTHER_SECTION, LATER) is False
    assert await store.add_to_section(item.key, SECTION, LATER) is False
    assert await versions(store) == after


async def test_add_to_section_of_unknown_story_is_a_store_error(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="no stored story"):
        await store.add_to_section("https://www.spacewar.com/nope.html", SECTION, NOW)
    assert await store.feed_states() == {}


async def test_feed_states_count_stories_and_version_every_change(store: SqlStore) -> None:
    a, b, c = article(1), article(2), article(3)
    await store.save_article(a, "spacewar", SECTION, NOW)
    await store.save_article(b, "spacewar", SECTION, NOW)
    await store.add_to_section(b.key, OTHER_SECTION, NOW)
    await store.save_article(c, "terradaily", FOREIGN_SECTION, LATER)

    states = await store.feed_states()
    assert set(states) == {"all", "spacewar", SECTION, OTHER_SECTION, "terradaily", FOREIGN_SECTION}
    for key, state in states.items():
        assert isinstance(state, FeedState) and state.key == key
        assert state.stories == len(await store.stories_for(key, 1000)), key
    # One bump per event that touched the feed: 3 new stories, 1 new membership (which
    # changes b's categories in SECTION as well).
    assert {key: s.version for key, s in states.items()} == {
        "all": 4,
        "spacewar": 3,
        SECTION: 3,
        OTHER_SECTION: 1,
        "terradaily": 1,
        FOREIGN_SECTION: 1,
    }
    assert states["all"].changed_at == LATER and states[SECTION].changed_at == NOW


# ---------------------------------------------------------------- lookups and bookkeeping


async def test_known_keys_in_chunks_beyond_500(store: SqlStore) -> None:
    stored = [article(n) for n in (1, 2, 3)]
    for item in stored:
        await store.save_article(item, "spacewar", SECTION, NOW)
    asked = [f"https://www.spacewar.com/reports/Unknown_{n:04d}.html" for n in range(1300)]
    asked[10:10] = [stored[0].key]
    asked[700:700] = [stored[1].key, stored[1].key]
    asked.append(stored[2].key)

    assert await store.known_keys(iter(asked)) == {item.key for item in stored}
    assert await store.known_keys([]) == set()


async def test_validators_round_trip(store: SqlStore) -> None:
    url = "https://www.spacewar.com/nukewars.html"
    assert await store.get_validators(url) is None
    first = Validators(etag='W/"abc"', last_modified="Wed, 01 May 2024 10:00:00 GMT")
    await store.put_validators(url, first, NOW)
    assert await store.get_validators(url) == first
    second = Validators(etag='"def"')
    await store.put_validators(url, second, LATER)
    assert await store.get_validators(url) == second
    assert await store.get_validators(url + "?other") is None


async def test_record_run_and_last_runs(store: SqlStore) -> None:
    assert await store.last_runs() == {}
    failed = SectionRun(SECTION, NOW, NOW + timedelta(seconds=3), ok=False, error="HTTP 503")
    other = SectionRun(OTHER_SECTION, NOW, NOW + timedelta(seconds=1), ok=True, new_stories=4)
    await store.record_run(failed)
    await store.record_run(other)
    assert await store.last_runs() == {SECTION: failed, OTHER_SECTION: other}

    fixed = SectionRun(
        SECTION, LATER, LATER + timedelta(seconds=2), ok=True, new_stories=2, changed_stories=1
    )
    await store.record_run(fixed)
    assert await store.last_runs() == {SECTION: fixed, OTHER_SECTION: other}


# ---------------------------------------------------------------- crash safety and concurrency


def _failing_membership_trigger(backend: Backend) -> tuple[str, ...]:
    """DDL that makes every insert into story_sections fail, inside the save transaction."""
    if backend.name == "sqlite":
        return (
            "CREATE TRIGGER crash_on_membership BEFORE INSERT ON story_sections "
            "BEGIN SELECT RAISE(ABORT, 'simulated crash'); END",
        )
    return (
        "CREATE FUNCTION crash_on_membership() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$",
        "CREATE TRIGGER crash_on_membership BEFORE INSERT ON story_sections "
        "FOR EACH ROW EXECUTE FUNCTION crash_on_membership()",
    )


async def test_failure_after_insert_leaves_no_half_written_story(
    store: SqlStore, backend: Backend
) -> None:
    await backend.sql(*_failing_membership_trigger(backend))

    with pytest.raises(StoreError, match="simulated crash"):
        await store.save_article(article(), "spacewar", SECTION, NOW)

    assert await store.known_keys([article().key]) == set()
    assert await store.stories_for("all", 10) == []
    assert await store.feed_states() == {}
    assert await backend.sql("SELECT count(*) FROM stories") == [(0,)]


async def test_failed_correction_keeps_the_old_story(store: SqlStore, backend: Backend) -> None:
    original = article()
    await store.save_article(original, "spacewar", SECTION, NOW)
    before_states, before_stories = await store.feed_states(), await store.stories_for("all", 10)
    await backend.sql(*_failing_membership_trigger(backend))

    corrected = replace(original, body_html="<p>Entirely new text.</p>")
    with pytest.raises(StoreError, match="simulated crash"):
        await store.save_article(corrected, "spacewar", OTHER_SECTION, LATER)

    assert await store.stories_for("all", 10) == before_stories
    assert await store.feed_states() == before_states


async def test_concurrent_writers_on_one_store(store: SqlStore) -> None:
    items = [article(n) for n in range(1, 21)]
    results = await asyncio.gather(
        *(store.save_article(item, "spacewar", SECTION, NOW) for item in items),
        *(store.save_article(item, "spacewar", OTHER_SECTION, NOW) for item in items),
    )
    assert sum(result.created for result in results) == len(items)
    states = await store.feed_states()
    for feed in ("all", "spacewar", SECTION, OTHER_SECTION):
        assert states[feed].stories == len(await store.stories_for(feed, 100)) == len(items)


async def test_replicas_saving_the_same_story_together_store_one_row(
    store: SqlStore, backend: Backend
) -> None:
    replicas = [open_store(backend.url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(replica.save_article(article(), "spacewar", SECTION, NOW) for replica in replicas)
        )
    finally:
        for replica in replicas:
            await replica.close()
    assert sum(result.created for result in results) == 1
    assert {result.story_id for result in results} == {story_id_for(article().key)}
    assert len(await store.stories_for("all", 10)) == 1
    states = await store.feed_states()
    assert {key: (s.version, s.stories) for key, s in states.items()} == {
        "all": (1, 1),
        "spacewar": (1, 1),
        SECTION: (1, 1),
    }

