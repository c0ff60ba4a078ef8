"""render: stories -> Atom, RSS and JSON Feed bytes, read back by real parsers."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import etree

from feedsvc.models import Story
from feedsvc.render import (
    EMPTY_FEED_UPDATED,
    FORMATS,
    JSON_FEED_VERSION,
    SUMMARY_CHARS,
    FeedInfo,
    feed_etag,
    render,
    render_atom,
    render_json,
    render_rss,
    summary_text,
)

PUBLIC = "http://feeds.example.test"
INFO = FeedInfo(
    key="spacewar/nukewars",
    title="SpaceWar: Nuclear Wars",
    subtitle="Full-text stories from the Nuclear Wars section of SpaceWar",
    html_url="https://www.spacewar.com/nuclear_wars.html",
    self_url_base=f"{PUBLIC}/feeds/spacewar/nukewars",
    section_titles={"spacewar/nukewars": "SpaceWar: Nuclear Wars"},
)
T0 = datetime(2019, 4, 25, 9, 30, tzinfo=UTC)


def story(n: int, **changes: object) -> Story:
    base = Story(
        id=f"urn:uuid:00000000-0000-5000-8000-{n:012d}",
        key=f"https://www.spacewar.com/reports/Story_{n}_999.html",
        url=f"https://www.spacewar.com/reports/Story_{n}_999.html",
        site_id="spacewar",
        title=f"Kim, Putin vow to seek closer ties, part {n}",
        content_html=(
            f"<p>Paragraph one of story {n}.</p><h3>A subhead</h3>"
            f'<p>Paragraph two with <a href="https://example.org/x{n}">a link</a>.</p>'
        ),
        summary=f"Teaser of story {n}.",
        author="Maria PANINA",
        published=T0 - timedelta(hours=n),
        updated=T0 - timedelta(hours=n) + timedelta(minutes=5),
        first_seen=T0 - timedelta(hours=n),
        place="Vladivostok, Russia",
        agency="AFP",
        lead_image=f"https://images.example.org/{n}.jpg",
        sections=("spacewar/nukewars", "spacewar/other"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


STORIES = [story(1), story(2), story(3)]


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_xml_feeds_read_back_with_feedparser(fmt: str) -> None:
    parsed = feedparser.parse(render(fmt, INFO, STORIES))

    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == INFO.title
    assert [e.id for e in parsed.entries] == [s.id for s in STORIES]  # order kept
    for entry, s in zip(parsed.entries, STORIES, strict=True):
        assert entry.link == s.url
        assert entry.title == s.title
        assert entry.author == s.author
        assert entry.published_parsed[:6] == s.published.timetuple()[:6]
        assert entry.content[0].value == s.content_html
        assert entry.summary == s.summary
    if fmt == "atom":
        for entry, s in zip(parsed.entries, STORIES, strict=True):
            assert entry.updated_parsed[:6] == s.updated.timetuple()[:6]
            assert [(t.term, t.label) for t in entry.tags][0] == (
                "spacewar/nukewars",
                "SpaceWar: Nuclear Wars",
            )


def test_atom_is_dated_by_its_newest_entry_and_links_self_and_page() -> None:
    newest = story(9, updated=T0 + timedelta(days=2))
    parsed = feedparser.parse(render_atom(INFO, [*STORIES, newest]))

    assert parsed.feed.updated_parsed[:6] == newest.updated.timetuple()[:6]
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links == {"self": INFO.self_url("atom"), "alternate": INFO.html_url}


def test_rss_channel_link_is_the_html_page_and_self_link_is_atom_link() -> None:
    root = etree.fromstring(render_rss(INFO, STORIES))
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("link") == INFO.html_url
    self_links = channel.findall("{http://www.w3.org/2005/Atom}link")
    assert [(x.get("rel"), x.get("href")) for x in self_links] == [("self", INFO.self_url("atom"))]
    item = channel.find("item")
    assert item is not None
    assert item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") == STORIES[0].content_html
    assert item.findtext("description") == STORIES[0].summary
    assert item.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]


def test_json_feed_has_the_1_1_fields() -> None:
    feed = json.loads(render_json(INFO, STORIES))

    assert feed["version"] == JSON_FEED_VERSION
    assert feed["title"] == INFO.title
    assert feed["home_page_url"] == INFO.html_url
    assert feed["feed_url"] == INFO.self_url("json")
    assert [item["id"] for item in feed["items"]] == [s.id for s in STORIES]
    for item, s in zip(feed["items"], STORIES, strict=True):
        assert item["url"] == s.url
        assert item["title"] == s.title
        assert item["content_html"] == s.content_html
        assert item["summary"] == s.summary
        assert item["image"] == s.lead_image
        assert datetime.fromisoformat(item["date_published"]) == s.published
        assert datetime.fromisoformat(item["date_modified"]) == s.updated
        assert datetime.fromisoformat(item["date_modified"]).tzinfo is not None
        assert item["authors"] == [{"name": s.author}]
        assert item["tags"] == ["SpaceWar: Nuclear Wars", "spacewar/other"]
        assert item["_feedsvc"] == {
            "site": "spacewar",
            "sections": list(s.sections),
            "place": s.place,
            "agency": s.agency,
        }


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendering_is_deterministic(fmt: str) -> None:
    assert render(fmt, INFO, STORIES) == render(fmt, INFO, list(STORIES))


def test_empty_feed_is_valid_and_dated_by_the_fixed_epoch() -> None:
    parsed = feedparser.parse(render_atom(INFO, []))
    assert parsed.bozo == 0
    assert parsed.entries == []
    assert parsed.feed.updated_parsed[:6] == EMPTY_FEED_UPDATED.timetuple()[:6]
    assert feedparser.parse(render_rss(INFO, [])).bozo == 0
    assert json.loads(render_json(INFO, []))["items"] == []


ETAG_CHANGES = [
    pytest.param({"updated": T0 + timedelta(days=1)}, id="updated"),
    pytest.param({"content_html": "<p>Corrected text.</p>"}, id="content"),
    pytest.param({"title": "A corrected headline"}, id="title"),
    pytest.param({"sections": ("spacewar/nukewars",)}, id="sections"),
]


def test_etag_is_stable_for_the_same_stories() -> None:
    again = [dataclasses.replace(s) for s in STORIES]
    assert feed_etag(INFO, STORIES) == feed_etag(INFO, again)
    assert feed_etag(INFO, STORIES).startswith('W/"')


@pytest.mark.parametrize("change", ETAG_CHANGES)
def test_etag_changes_when_an_entry_changes(change: dict[str, object]) -> None:
    changed = [story(1, **change), *STORIES[1:]]
    assert feed_etag(INFO, changed) != feed_etag(INFO, STORIES)


def test_etag_changes_with_feed_metadata_and_entry_set() -> None:
    renamed = dataclasses.replace(INFO, title="Renamed")
    assert feed_etag(renamed, STORIES) != feed_etag(INFO, STORIES)
    assert feed_etag(INFO, STORIES[:2]) != feed_etag(INFO, STORIES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_characters_are_removed(fmt: str) -> None:
    dirty = story(
        1,
        title="Bad\x00 title\x0b here",
        content_html="<p>Body\x1f with\x08 controls\ufffe</p>",
        author="Maria\x0c PANINA",
        summary="Tease\x1b",
    )
    body = render(fmt, INFO, [dirty])
    for char in ("\x00", "\x0b", "\x1f", "\x08", "\x0c", "\x1b", "\ufffe"):
        assert char.encode("utf-8") not in body
    if fmt == "json":
        item = json.loads(body)["items"][0]
        assert (item["title"], item["content_html"]) == ("Bad title here", "<p>Body with controls</p>")
    else:
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0
        assert parsed.entries[0].title == "Bad title here"
        assert parsed.entries[0].content[0].value == "<p>Body with controls</p>"


def test_summary_falls_back_to_the_start_of_the_text() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    long = story(1, summary="", content_html=f"<p>First.</p><p>{words}</p>")
    text = summary_text(long)
    assert text.startswith("First. word0 word1")
    assert len(text) <= SUMMARY_CHARS + 1
    assert text.endswith("\u2026")
    short = story(2, summary="", content_html="<p>One.</p><p>Two.</p>")
    assert summary_text(short) == "One. Two."


def test_story_without_author_or_content_still_renders() -> None:
    bare = story(1, author=None, content_html="", lead_image=None, place=None, agency=None)
    parsed = feedparser.parse(render_atom(INFO, [bare]))
    assert parsed.bozo == 0
    assert parsed.entries[0].summary == bare.summary
    item = json.loads(render_json(INFO, [bare]))["items"][0]
    assert item["content_text"] == bare.summary
    assert "authors" not in item and "image" not in item
    assert item["_feedsvc"] == {"site": "spacewar", "sections": list(bare.sections)}
