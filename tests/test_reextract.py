"""Re-extraction: when a rule file changes, stored stories are extracted again from their stored pages.

The fixture origin (tests/origin.py) logs every request: a restart after a rule change
must re-extract the affected stories without a single request to it, keep their ids and
published times, and give them a new ``updated`` (a correction, not a new entry).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from feedsvc.cli import main
from feedsvc.config import parse_settings
from feedsvc.models import Settings, Story
from feedsvc.pipeline import extract_page
from feedsvc.reextract import reextract_changed
from feedsvc.rules.book import RuleBook
from feedsvc.service import runtime
from feedsvc.store.open import open_store
from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
#: A correction of the rule file: the place name is spelled out on every page that prints it.
RULE_FIX = "\nreplace_string(Vladivostok): Vladivostok (Primorsky Krai)\n"


def config_text(origin: Origin, data_dir: Path, rules_dir: Path) -> str:
    return origin.feedsvc_config(data_dir, rules_dir, fetch={"timeout": 10})


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "config" / "rules", folder)
    return folder


@pytest.fixture
def settings(origin: Origin, tmp_path: Path, rules_dir: Path) -> Settings:
    return parse_settings(config_text(origin, tmp_path, rules_dir), "reextract.yaml", env={})


async def stored(settings: Settings) -> dict[str, Story]:
    store = open_store(settings.storage)
    try:
        return {story.key: story for story in await store.stories_for("all", 1000)}
    finally:
        await store.close()


async def scrape(settings: Settings, pool: ThreadPoolExecutor) -> None:
    async with runtime(settings, cpu=pool) as rt:
        for section in settings.sections():
            assert (await rt.scraper.refresh(section)).ok


async def test_a_changed_rule_file_heals_stored_stories_at_restart_without_fetching(
    settings: Settings, origin: Origin, rules_dir: Path, pool: ThreadPoolExecutor
) -> None:
    await scrape(settings, pool)
    before = await stored(settings)
    affected = {key for key, story in before.items() if "Vladivostok" in story.content_html}
    assert affected and len(affected) < len(before)

    with (rules_dir / "spacemedia.txt").open("a", encoding="utf-8") as rule_file:
        rule_file.write(RULE_FIX)
    origin.clear_log()
    async with runtime(settings, cpu=pool):  # a restart: re-extraction runs at start
        pass
    assert origin.requests() == []

    after = await stored(settings)
    assert after.keys() == before.keys()  # corrections, not new entries
    for key, old in before.items():
        new = after[key]
        assert (new.id, new.published, new.first_seen) == (old.id, old.published, old.first_seen)
        if key in affected:
            assert "Vladivostok (Primorsky Krai)" in new.content_html
            assert new.updated > old.updated
        else:
            assert (new.content_html, new.updated) == (old.content_html, old.updated)


async def test_unchanged_rules_re_extract_nothing_and_a_second_restart_does_not_repeat(
    settings: Settings, origin: Origin, rules_dir: Path, pool: ThreadPoolExecutor
) -> None:
    await scrape(settings, pool)
    store = open_store(settings.storage)
    try:
        book = RuleBook.load([rules_dir])
        assert (await reextract_changed(settings, store, book, pool, extract_page)).stale == 0
        (rules_dir / "spacemedia.txt").write_text((rules_dir / "spacemedia.txt").read_text() + RULE_FIX)
        book = RuleBook.load([rules_dir])
        first = await reextract_changed(settings, store, book, pool, extract_page)
        again = await reextract_changed(settings, store, book, pool, extract_page)
    finally:
        await store.close()
    assert first.stale == first.reextracted > 0 and first.failed == 0 and first.changed > 0
    assert again.stale == 0


async def test_reextract_command_does_it_on_demand_for_one_site(
    settings: Settings, origin: Origin, tmp_path: Path, rules_dir: Path, pool: ThreadPoolExecutor,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await scrape(settings, pool)
    before = await stored(settings)
    config = tmp_path / "feedsvc.yaml"
    config.write_text(config_text(origin, tmp_path, rules_dir), encoding="utf-8")
    origin.clear_log()
    assert await asyncio.to_thread(main, ["reextract", "--config", str(config), "--site", "spacedaily", "--all"]) == 0
    out = capsys.readouterr().out
    store = open_store(settings.storage)
    try:
        spacedaily = sum(group.count for group in await store.raw_page_versions() if group.site_id == "spacedaily")
    finally:
        await store.close()
    assert spacedaily > 0
    assert f"{spacedaily} stories to re-extract, {spacedaily} re-extracted, 0 corrected" in out
    assert origin.requests() == []
    after = await stored(settings)
    assert {k: (s.content_html, s.updated) for k, s in after.items()} == {
        k: (s.content_html, s.updated) for k, s in before.items()
    }


def test_reextract_command_rejects_an_unknown_site(settings: Settings, origin: Origin, tmp_path: Path, rules_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "feedsvc.yaml"
    config.write_text(config_text(origin, tmp_path, rules_dir), encoding="utf-8")
    assert main(["reextract", "--config", str(config), "--site", "nosuchsite"]) == 1
    assert "unknown site nosuchsite" in capsys.readouterr().err
