"""Discover: section pages and summary feeds become the section's article references, each once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feedsvc.charset import decode
from feedsvc.discover import discover
from feedsvc.models import Page, Validators
from feedsvc.rules.book import RuleBook

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = Path(__file__).parent / "fixtures" / "origin"
BASE = {"spacewar": "http://127.0.0.1:8001", "spacedaily": "http://127.0.0.2:8002"}


def page_of(site: str, path: str, content_type: str) -> Page:
    body = (ORIGIN / site / path.lstrip("/")).read_bytes()
    text, codec = decode(body, None)
    url = BASE[site] + path
    return Page(url, url, 200, content_type, body, text, codec, Validators())


def listing_pages(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    return [(section, listing) for section in manifest["sections"] for listing in section["pages"]]


@pytest.fixture(scope="module")
def spacemedia() -> Any:
    rules = RuleBook.load([ROOT / "config" / "rules"]).by_name("spacemedia")
    assert rules is not None
    return rules


@pytest.mark.parametrize("use_rules", [True, False], ids=["spacemedia-rules", "no-rules"])
def test_every_listing_gives_its_articles_in_order_and_nothing_else(manifest: dict[str, Any], spacemedia: Any, use_rules: bool) -> None:
    for section, listing in listing_pages(manifest):
        kind = "application/rss+xml" if listing["kind"] == "rss" else "text/html"
        page = page_of(section["site"], listing["path"], kind)
        refs = discover(page, spacemedia if use_rules else None, BASE[section["site"]] + "/")
        paths = [ref.url.removeprefix(BASE[section["site"]]) for ref in refs]
        assert paths == section["articles"], (section["id"], listing["path"])
        assert not set(paths) & set(section["side_links"])
        for ref in refs:
            assert ref.title and "read more" not in ref.title.lower()
            assert ref.teaser and not ref.teaser.lower().endswith("read more")
            assert ref.published is not None or ref.published_day is not None


def test_titles_and_dates_of_a_section_page(manifest: dict[str, Any], spacemedia: Any) -> None:
    refs = discover(page_of("spacewar", "/Nuclear_Weapons.html", "text/html"), spacemedia, BASE["spacewar"] + "/")
    articles = {a["path"]: a for a in manifest["articles"] if a["site"] == "spacewar"}
    for ref in refs:
        expected = articles[ref.url.removeprefix(BASE["spacewar"])]
        assert ref.title == expected["title"]
        assert str(ref.published_day) == expected["date"]


def test_links_to_other_sites_are_not_articles(spacemedia: Any) -> None:
    html = """<html><body><table><tr><td>
    <a href="https://www.spacedaily.com/reports/Elsewhere_999.html">A story on another site of the network</a><br>
    Paris (AFP) April 21, 2019<br>Teaser text of the story ... <a href="https://www.spacedaily.com/reports/Elsewhere_999.html">read more</a>
    <br><br><a href="/reports/Here_999.html">A story on this very site today</a><br>
    Paris (AFP) April 21, 2019<br>Another teaser ... <a href="/reports/Here_999.html">read more</a>
    </td></tr></table></body></html>"""
    url = "http://127.0.0.1:8001/Section.html"
    page = Page(url, url, 200, "text/html", html.encode(), html, "utf-8", Validators())
    refs = discover(page, spacemedia, "http://127.0.0.1:8001/")
    assert [ref.url for ref in refs] == ["http://127.0.0.1:8001/reports/Here_999.html"]
