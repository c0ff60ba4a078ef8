"""Story identity in the store (feedsvc/store/identity.py, retention.py, rechecks.py), on SQLite and PostgreSQL.

Copies of one story become alternates of the copy stored first; a companion and its
standalone page are one story; aliases, re-checks, retention and tombstones.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from feedsvc.dedupe import fingerprint
from feedsvc.models import Article
from feedsvc.pipeline import identity_of
from feedsvc.store import migrations, open_store
from feedsvc.store.base import Retention
from feedsvc.store.sql import SqlStore
from test_store import Backend, backend, store  # noqa: F401  (the fixtures: a store on each backend)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=7)

LAUNCH = [
    "Russia on Monday launched a Glonass-M navigation satellite from the Plesetsk cosmodrome in the country's north, "
    "the defence ministry said, as Moscow works to keep its rival to the US Global Positioning System fully operational.",
    "A Soyuz-2.1b rocket with a Fregat upper stage lifted off at 0917 Moscow time (0617 GMT) and placed the satellite "
    "into its planned orbit about three and a half hours later, the ministry said in a statement.",
    "Ground controllers from the Aerospace Forces took control of the spacecraft shortly after separation and reported "
    "that its systems were working normally.",
    "Glonass, which was developed by the Soviet military in the 1970s and 1980s, fell into disrepair in the 1990s "
    "before being restored to full global coverage in 2011.",
]
SUMMIT = [
    "China said Friday leaders from 37 nations and North Korean representatives will attend a summit for its Belt and "
    "Road Initiative next week as it hit back at criticism of the massive trade infrastructure project.",
    "Chinese President Xi Jinping's pet project is a $1 trillion programme that includes maritime, rail and road "
    "projects in Asia, Africa and Europe.",
    "North Korea will send a delegation, the foreign ministry said, without saying who would lead it or whether leader "
    "Kim Jong Un himself could make the trip.",
]


def prose(seed: int, paragraphs: int = 4) -> list[str]:
    """Paragraphs of made-up words: stories of different seeds share no wording."""
    rng = random.Random(seed)
    vocabulary = [f"w{seed}x{n}" for n in range(400)]
    return [" ".join(rng.choice(vocabulary) for _ in range(30)) + "." for _ in range(paragraphs)]


def page(site: str, slug: str, paragraphs: list[str], title: str = "A story", **changes: Any) -> Article:
    url = f"https://www.{site}.com/reports/{slug}_999.html"
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    made = Article(key=url.replace("://www.", "://"), url=url, title=title, body_html=body, summary="teaser",
                   published=datetime(2019, 4, 22, 9, 17, tzinfo=UTC))
    return replace(made, **changes)


def companion(host: Article, slug: str, paragraphs: list[str]) -> Article:
    return replace(page("x", slug, paragraphs), key=f"{host.key}#{slug}", url=f"{host.url}#{slug}", published=None)


async def save(store: SqlStore, article: Article, section: str, now: datetime = NOW) -> Any:
    return await store.save_article(
        article, section.partition("/")[0], section, now, identity=identity_of(article, fingerprint(article.body_html))
    )


async def urls(store: SqlStore, feed: str) -> list[str]:
    return [story.url for story in await store.stories_for(feed, 50)]


# ---------------------------------------------------------------- copies


async def test_a_copy_on_another_site_is_an_alternate_each_feed_shows_once(store: SqlStore) -> None:
    original = page("spacewar", "Russia_launches_navigation_satellite", LAUNCH)
    copy = page("terradaily", "Russia_launches_Glonass_satellite", LAUNCH + ["The launch was the fourth this year."],
                title="Russia launches Glonass satellite", published=datetime(2019, 4, 23, tzinfo=UTC))
    first = await save(store, original, "spacewar/milspace")
    second = await save(store, copy, "terradaily/space")

    assert first.created and first.alternate_of is None
    assert second.created and second.alternate_of == first.story_id
    expected = {
        "all": [original.url], "spacewar": [original.url], "spacewar/milspace": [original.url],
        "terradaily": [copy.url], "terradaily/space": [copy.url],
    }
    for feed, links in expected.items():
        assert await urls(store, feed) == links, feed
    (in_all,) = await store.stories_for("all", 50)
    (in_section,) = await store.stories_for("terradaily/space", 50)
    assert in_all.alternates == (copy.url,) and in_section.alternates == (original.url,)
    assert in_section.published == in_all.published == original.published  # the story's time, not the copy's


async def test_a_repost_on_the_same_site_is_hidden_where_the_first_copy_is(store: SqlStore) -> None:
    original = page("spacewar", "Russia_launches_navigation_satellite", LAUNCH)
    repost = page("spacewar", "Glonass_satellite_launched", LAUNCH, published=datetime(2019, 4, 30, tzinfo=UTC))
    other_repost = page("spacewar", "Glonass_launch_again", LAUNCH)
    await save(store, original, "spacewar/milspace")
    await save(store, repost, "spacewar/nukewars")
    await save(store, other_repost, "spacewar/nukewars", LATER)

    assert await urls(store, "all") == await urls(store, "spacewar") == await urls(store, "spacewar/milspace") == [original.url]
    assert await urls(store, "spacewar/nukewars") == [repost.url]  # its first copy in that section


async def test_different_stories_stay_apart(store: SqlStore) -> None:
    await save(store, page("spacewar", "Launch", LAUNCH), "spacewar/milspace")
    result = await save(store, page("spacedaily", "Summit", SUMMIT), "spacedaily/industry")
    assert result.created and result.alternate_of is None
    assert len(await store.stories_for("all", 50)) == 2


# ---------------------------------------------------------------- companions and standalone pages


async def test_a_companion_of_a_stored_standalone_story_is_that_story(store: SqlStore) -> None:
    standalone = page("spacewar", "Russia_launches_navigation_satellite", LAUNCH)
    host = page("spacedaily", "Russian_launch_industry", SUMMIT)
    stored = await save(store, standalone, "spacewar/milspace")
    await save(store, host, "spacedaily/industry")
    merged = await save(store, companion(host, "russia-launches", LAUNCH), "spacedaily/industry")

    assert merged.merged and merged.story_id == stored.story_id and not merged.created
    assert sorted(await urls(store, "spacedaily/industry")) == sorted([standalone.url, host.url])
    assert sorted(await urls(store, "all")) == sorted([standalone.url, host.url])
    state = (await store.key_states([f"{host.key}#russia-launches"]))[f"{host.key}#russia-launches"]
    assert state.live and state.story_id == stored.story_id


async def test_a_standalone_page_of_a_stored_companion_becomes_its_home(store: SqlStore) -> None:
    host = page("spacedaily", "Russian_launch_industry", SUMMIT)
    await save(store, host, "spacedaily/industry")
    first = await save(store, companion(host, "russia-launches", LAUNCH), "spacedaily/industry")
    (before,) = [s for s in await store.stories_for("all", 50) if s.id == first.story_id]
    standalone = page("spacewar", "Russia_launches_navigation_satellite", LAUNCH, title="Russia launches satellite")

    result = await save(store, standalone, "spacewar/milspace", LATER)

    assert result.merged and result.story_id == first.story_id
    (after,) = [s for s in await store.stories_for("all", 50) if s.id == first.story_id]
    assert (after.id, after.published, after.url, after.key) == (before.id, before.published, standalone.url, standalone.key)
    states = await store.key_states([standalone.key, f"{host.key}#russia-launches"])
    assert {state.story_id for state in states.values()} == {first.story_id}
    assert await urls(store, "spacewar/milspace") == [standalone.url]


async def test_a_page_listed_in_another_section_brings_its_companions(store: SqlStore) -> None:
    host = page("spacewar", "Kim_Putin_talks", SUMMIT)
    await save(store, host, "spacewar/nukewars")
    await save(store, companion(host, "pompeo", LAUNCH), "spacewar/nukewars")
    assert await store.add_to_section(host.key, "spacewar/milspace", NOW)
    assert sorted(await urls(store, "spacewar/milspace")) == sorted([host.url, f"{host.url}#pompeo"])


# ---------------------------------------------------------------- aliases and corrections


async def test_an_alias_leads_to_the_story(store: SqlStore) -> None:
    story = page("spacewar", "Launch", LAUNCH)
    await save(store, story, "spacewar/milspace")
    alias = "https://spacewar.com/afp/190422.html"
    assert await store.add_alias(alias, story.key, NOW)
    assert not await store.add_alias(alias, story.key, NOW)  # once
    assert not await store.add_alias("https://spacewar.com/x.html", "https://spacewar.com/unknown.html", NOW)
    states = await store.key_states([alias, story.key, "https://spacewar.com/unknown.html"])
    assert set(states) == {alias, story.key} and states[alias] == states[story.key]
    assert await store.add_to_section(alias, "spacewar/nukewars", NOW)
    assert await urls(store, "spacewar/nukewars") == [story.url]


async def test_cosmetic_changes_are_no_correction_and_real_ones_are(store: SqlStore) -> None:
    story = page("spacewar", "Launch", LAUNCH)
    await save(store, story, "spacewar/milspace")
    cosmetic = replace(story, body_html=story.body_html.replace("</p><p>Ground", "</p><p>Viewed 1,204 times</p><p>Ground"))
    assert not (await save(store, cosmetic, "spacewar/milspace", LATER)).changed
    corrected = replace(story, body_html=story.body_html.replace("0917 Moscow time", "0918 Moscow time"))
    result = await save(store, corrected, "spacewar/milspace", LATER)
    assert result.changed and not result.created
    (stored,) = await store.stories_for("all", 50)
    assert "0918 Moscow time" in stored.content_html and stored.updated == LATER
    copy = await save(store, replace(corrected, key="https://terradaily.com/g.html", url="https://terradaily.com/g.html"), "terradaily/space", LATER)
    assert copy.alternate_of == result.story_id  # the index knows the corrected text


# ---------------------------------------------------------------- re-checks


async def test_re_checks_are_claimed_when_due_once_and_within_the_window(store: SqlStore) -> None:
    story = page("spacewar", "Launch", LAUNCH)
    host = page("spacewar", "Summit", SUMMIT)
    await save(store, story, "spacewar/milspace")
    await save(store, host, "spacewar/milspace")
    await save(store, companion(host, "side-story", LAUNCH[:1] * 3), "spacewar/milspace")  # lives in its host page
    window = NOW - timedelta(days=2)

    assert await store.claim_rechecks("spacewar/milspace", NOW + timedelta(hours=1), NOW, window, 10) == []
    due = await store.claim_rechecks("spacewar/milspace", LATER, LATER - timedelta(hours=6), window, 10)
    assert sorted(item.url for item in due) == sorted([story.url, host.url])
    assert await store.claim_rechecks("spacewar/milspace", LATER, LATER - timedelta(hours=6), window, 10) == []
    too_old = NOW + timedelta(days=1)  # only stories first seen after this are re-checked
    assert await store.claim_rechecks("spacewar/milspace", LATER + timedelta(days=9), LATER + timedelta(days=8), too_old, 10) == []
    limited = await store.claim_rechecks("spacewar/milspace", LATER + timedelta(days=1), LATER + timedelta(hours=12), window, 1)
    assert len(limited) == 1


# ---------------------------------------------------------------- retention and tombstones


async def test_retention_leaves_tombstones_that_keep_stories_and_copies_out(store: SqlStore) -> None:
    old = page("spacewar", "Launch", LAUNCH, published=datetime(2019, 4, 20, tzinfo=UTC))
    new = page("spacewar", "Summit", SUMMIT, published=datetime(2019, 4, 25, tzinfo=UTC))
    await save(store, old, "spacewar/milspace")
    await save(store, new, "spacewar/milspace")
    before = (await store.feed_states())["spacewar/milspace"]

    assert await store.expire("spacewar/milspace", LATER, Retention(items=1, age=86400 * 30)) == 1

    assert await urls(store, "all") == [new.url]
    after = (await store.feed_states())["spacewar/milspace"]
    assert after.version > before.version and after.stories == before.stories - 1
    state = (await store.key_states([old.key]))[old.key]
    assert not state.live
    again = await save(store, old, "spacewar/milspace", LATER)  # listed again: not taken in
    assert again.removed and not again.created
    copy = page("terradaily", "Glonass_launch", LAUNCH)  # published elsewhere: not taken in either
    assert (await save(store, copy, "terradaily/space", LATER)).removed
    assert not (await store.key_states([copy.key]))[copy.key].live
    assert await urls(store, "all") == [new.url]


async def test_retention_by_age_removes_a_group_together(store: SqlStore) -> None:
    await save(store, page("spacewar", "Launch", LAUNCH), "spacewar/milspace")
    await save(store, page("terradaily", "Glonass", LAUNCH), "terradaily/space")
    await save(store, page("spacewar", "Summit", SUMMIT), "spacewar/nukewars", LATER)
    removed = await store.expire("spacewar/milspace", NOW + timedelta(days=30, hours=1), Retention(items=100, age=86400 * 30))
    assert removed == 2  # the primary and its alternate
    assert [story.key for story in await store.stories_for("all", 50)] == ["https://spacewar.com/reports/Summit_999.html"]
    assert await urls(store, "terradaily") == []


# ---------------------------------------------------------------- migration and replicas


async def test_migration_3_upgrades_a_store_made_by_migration_1(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    opened = open_store(backend.url)
    try:
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        await opened.migrate()
        stamp = "2019-04-22T09:17:00.000000Z" if backend.name == "sqlite" else "2019-04-22T09:17:00+00"
        await backend.sql(
            "INSERT INTO stories (id, key, url, site_id, title, summary, content_html, content_hash, published, updated,"
            f" first_seen) VALUES ('urn:uuid:1', 'https://spacewar.com/a.html', 'https://www.spacewar.com/a.html',"
            f" 'spacewar', 'T', 'S', '<p>x</p>', 'h', '{stamp}', '{stamp}', '{stamp}')",
        )
        monkeypatch.undo()
        await opened.migrate()
        rows = await backend.sql("SELECT story_id, url FROM story_checks")
        assert rows == [("urn:uuid:1", "https://www.spacewar.com/a.html")]
        await opened.ping()
    finally:
        await opened.close()


async def test_two_replicas_storing_two_copies_at_once_keep_one_primary(backend: Backend) -> None:  # noqa: F811
    replicas = [open_store(backend.url) for _ in range(2)]
    try:
        await replicas[0].migrate()
        for round_ in range(4):
            words = prose(round_)
            one = page("spacewar", f"Launch_{round_}", words)
            two = page("terradaily", f"Glonass_{round_}", words)
            results = await asyncio.gather(save(replicas[0], one, "spacewar/milspace"), save(replicas[1], two, "terradaily/space"))
            assert sum(result.alternate_of is None for result in results) == 1, round_
        assert len(await replicas[0].stories_for("all", 50)) == 4
    finally:
        for replica in replicas:
            await replica.close()
