"""render: stories -> Atom, RSS and JSON Feed bytes, read back by real parsers."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import atoma
import feedparser
import pytest
from lxml import etree

from feedsvc.feedgenext import image_type
from feedsvc.models import Story
from feedsvc.render import (
    EMPTY_FEED_UPDATED,
    FORMATS,
    JSON_FEED_VERSION,
    SUMMARY_CHARS,
    FeedInfo,
    FeedPage,
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


def test_rss_channel_link_is_the_html_page_and_self_link_is_its_own_url() -> None:
    root = etree.fromstring(render_rss(INFO, STORIES))
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("link") == INFO.html_url
    assert channel.findtext("description") == INFO.subtitle
    self_links = channel.findall("{http://www.w3.org/2005/Atom}link")
    assert [(x.get("rel"), x.get("href"), x.get("type")) for x in self_links] == [
        ("self", INFO.self_url("rss"), "application/rss+xml")
    ]
    # dated by the newest entry, never by the clock
    assert channel.findtext("lastBuildDate") == format_datetime(STORIES[0].updated)
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
    assert "image" not in item
    assert item["authors"] == [{"name": INFO.title}]  # no byline, agency or known site: the feed
    assert item["_feedsvc"] == {"site": "spacewar", "sections": list(bare.sections)}


# ---------------------------------------------------------------- lead images

ATOM = "{http://www.w3.org/2005/Atom}"
HUB = "https://hub.example.test/"

IMAGE_TYPES = [
    pytest.param("https://img.example.org/a/b.jpg", "image/jpeg", id="jpg"),
    pytest.param("https://img.example.org/a/b.JPEG?w=300", "image/jpeg", id="jpeg-upper-query"),
    pytest.param("https://img.example.org/b.png", "image/png", id="png"),
    pytest.param("https://img.example.org/b.gif#x", "image/gif", id="gif-fragment"),
    pytest.param("https://img.example.org/b.webp", "image/webp", id="webp"),
    pytest.param("https://img.example.org/b.svg", "image/svg+xml", id="svg"),
    pytest.param("https://img.example.org/image.php?id=3", None, id="script"),
    pytest.param("https://img.example.org/photo", None, id="no-extension"),
    pytest.param("https://img.example.org/dir.jpg/photo", None, id="dot-in-folder"),
    pytest.param("https://img.example.org/b.html", None, id="not-an-image"),
    pytest.param("data:image/png;base64,AAAA", None, id="data-url"),
]


@pytest.mark.parametrize(("url", "expected"), IMAGE_TYPES)
def test_image_type_comes_from_the_file_extension(url: str, expected: str | None) -> None:
    assert image_type(url) == expected


def test_lead_image_goes_out_with_its_type_in_every_format() -> None:
    s = story(1, lead_image="https://images.example.org/kim.jpg")

    entry = etree.fromstring(render_atom(INFO, [s])).find(f"{ATOM}entry")
    assert entry is not None
    links = [(x.get("rel"), x.get("type"), x.get("href")) for x in entry.findall(f"{ATOM}link")]
    assert ("enclosure", "image/jpeg", s.lead_image) in links
    assert [link for link in links if link[0] in (None, "alternate")] == [(None, None, s.url)]
    enclosure_links = [x for x in entry.findall(f"{ATOM}link") if x.get("rel") == "enclosure"]
    assert enclosure_links[0].get("length") is None  # unknown: left out in Atom

    item = etree.fromstring(render_rss(INFO, [s])).find("channel/item")
    assert item is not None
    assert item.find("enclosure") is None  # RSS needs a positive length, which is not known
    media = item.find("{http://search.yahoo.com/mrss/}content")
    assert media is not None
    assert dict(media.attrib) == {"url": s.lead_image, "type": "image/jpeg", "medium": "image"}

    assert json.loads(render_json(INFO, [s]))["items"][0]["image"] == s.lead_image
    atom = feedparser.parse(render_atom(INFO, [s]))
    assert atom.bozo == 0
    assert [(e.href, e.type) for e in atom.entries[0].enclosures] == [(s.lead_image, "image/jpeg")]
    rss = feedparser.parse(render_rss(INFO, [s]))
    assert rss.bozo == 0
    assert rss.entries[0].media_content == [{"url": s.lead_image, "type": "image/jpeg", "medium": "image"}]


def test_a_lead_image_of_unknown_type_is_left_out() -> None:
    s = story(1, lead_image="https://images.example.org/image.php?id=3")
    assert b"image.php" not in render_atom(INFO, [s])
    assert b"image.php" not in render_rss(INFO, [s])
    assert "image" not in json.loads(render_json(INFO, [s]))["items"][0]


# ---------------------------------------------------------------- titles and authors


TITLES = [
    pytest.param("Kim, Putin vow <b>closer</b> ties", "Kim, Putin vow closer ties", id="markup"),
    pytest.param("Range < 500 km & rising", "Range < 500 km & rising", id="plain-lt-amp"),
    pytest.param("  Two\n lines\t here ", "Two lines here", id="whitespace"),
    pytest.param("<br/>", "https://www.spacewar.com/reports/Story_1_999.html", id="empty-falls-back-to-url"),
]


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_titles_are_plain_text_in_every_format(title: str, expected: str) -> None:
    s = story(1, title=title)
    assert json.loads(render_json(INFO, [s]))["items"][0]["title"] == expected
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(render(fmt, INFO, [s]))
        assert parsed.entries[0].title == expected
        assert parsed.entries[0].title_detail.type == "text/plain"


def test_json_feed_names_authors_for_1_1_and_1_0_readers() -> None:
    feed = json.loads(render_json(INFO, STORIES))
    assert feed["authors"] == [{"name": INFO.title}] and feed["author"] == {"name": INFO.title}
    item = feed["items"][0]
    assert item["authors"] == [{"name": "Maria PANINA"}] and item["author"] == {"name": "Maria PANINA"}


# ---------------------------------------------------------------- WebSub and RFC 5005 links


def _feed_links(fmt: str, body: bytes) -> dict[str, str]:
    root = etree.fromstring(body)
    parent = root if fmt == "atom" else root.find("channel")
    assert parent is not None
    return {x.get("rel"): x.get("href") for x in parent.findall(f"{ATOM}link")}


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_a_configured_hub_is_advertised_beside_self(fmt: str) -> None:
    info = dataclasses.replace(INFO, hub_url=HUB)
    links = _feed_links(fmt, render(fmt, info, STORIES))
    assert links["hub"] == HUB
    assert links["self"] == info.self_url(fmt)
    assert "hub" not in _feed_links(fmt, render(fmt, INFO, STORIES))
    assert feedparser.parse(render(fmt, info, STORIES)).bozo == 0


def test_json_feed_lists_the_hub() -> None:
    info = dataclasses.replace(INFO, hub_url=HUB)
    assert json.loads(render_json(info, STORIES))["hubs"] == [{"type": "WebSub", "url": HUB}]
    assert "hubs" not in json.loads(render_json(INFO, STORIES))


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_current_feed_links_its_newest_archive_page(fmt: str) -> None:
    body = render(fmt, INFO, STORIES, FeedPage(prev_archive=7))
    links = _feed_links(fmt, body)
    assert links["prev-archive"] == INFO.archive_url(7, fmt)
    assert links["self"] == INFO.self_url(fmt)
    assert b"purl.org/syndication/history" not in body  # fh:archive marks archive pages only


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_archive_page_links_its_neighbours_and_the_current_feed(fmt: str) -> None:
    body = render(fmt, INFO, STORIES, FeedPage(archive=3, prev_archive=2))
    links = _feed_links(fmt, body)
    assert links == {
        "self": INFO.archive_url(3, fmt),
        "current": INFO.self_url(fmt),
        "prev-archive": INFO.archive_url(2, fmt),
        **({"alternate": INFO.html_url} if fmt == "atom" else {}),
    }
    root = etree.fromstring(body)
    parent = root if fmt == "atom" else root.find("channel")
    assert parent is not None and parent.find("{http://purl.org/syndication/history/1.0}archive") is not None
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0 and len(parsed.entries) == len(STORIES)


def test_json_archive_pages_chain_through_next_url() -> None:
    current = json.loads(render_json(INFO, STORIES, FeedPage(prev_archive=2)))
    assert current["next_url"] == INFO.archive_url(2, "json")
    page = json.loads(render_json(INFO, STORIES, FeedPage(archive=2, prev_archive=1)))
    assert page["next_url"] == INFO.archive_url(1, "json")
    assert page["feed_url"] == INFO.self_url("json")
    oldest = json.loads(render_json(INFO, STORIES, FeedPage(archive=1)))
    assert "next_url" not in oldest
    assert "next_url" not in json.loads(render_json(INFO, STORIES))


def test_etag_changes_with_the_hub_and_the_archive_links() -> None:
    tags = {
        feed_etag(INFO, STORIES),
        feed_etag(dataclasses.replace(INFO, hub_url=HUB), STORIES),
        feed_etag(INFO, STORIES, FeedPage(prev_archive=1)),
        feed_etag(INFO, STORIES, FeedPage(prev_archive=2)),
        feed_etag(INFO, STORIES, FeedPage(archive=1)),
    }
    assert len(tags) == 5
    assert feed_etag(INFO, STORIES, FeedPage(prev_archive=1)) == feed_etag(INFO, STORIES, FeedPage(prev_archive=1))


# ---------------------------------------------------------------- an independent reader


def test_atoma_reads_all_three_formats_alike() -> None:
    atom = atoma.parse_atom_bytes(render_atom(INFO, STORIES))
    rss = atoma.parse_rss_bytes(render_rss(INFO, STORIES))
    jsf = atoma.parse_json_feed_bytes(render_json(INFO, STORIES))
    for s, a, r, j in zip(STORIES, atom.entries, rss.items, jsf.items, strict=True):
        assert a.id_ == r.guid == j.id_ == s.id
        assert a.title.value == r.title == j.title == s.title
        assert a.content.value == r.content_encoded == j.content_html == s.content_html
        assert a.published == r.pub_date == j.date_published == s.published
        assert a.updated == j.date_modified == s.updated
        assert a.authors[0].name == j.author.name == s.author
        assert j.image == s.lead_image


CREDITS = [
    pytest.param({"author": "Maria PANINA", "agency": "AFP"}, "Maria PANINA", id="byline"),
    pytest.param({"author": None, "agency": "AFP"}, "AFP", id="wire-agency"),
    pytest.param({"author": " ", "agency": None}, "SpaceWar", id="site"),
]


@pytest.mark.parametrize(("changes", "expected"), CREDITS)
def test_every_entry_credits_an_author_in_every_format(changes: dict[str, object], expected: str) -> None:
    info = dataclasses.replace(INFO, site_titles={"spacewar": "SpaceWar"})
    s = story(1, **changes)
    assert json.loads(render_json(info, [s]))["items"][0]["authors"] == [{"name": expected}]
    for fmt in ("atom", "rss"):
        assert feedparser.parse(render(fmt, info, [s])).entries[0].author == expected


def test_rss_items_carry_their_updated_time_as_dcterms_modified() -> None:
    item = etree.fromstring(render_rss(INFO, STORIES)).find("channel/item")
    assert item is not None
    assert item.findtext("{http://purl.org/dc/terms/}modified") == STORIES[0].updated.isoformat()
    assert item.find("{http://purl.org/dc/elements/1.1/}date") is None  # never beside pubDate
    entry = feedparser.parse(render_rss(INFO, STORIES)).entries[0]
    assert entry.updated_parsed[:6] == STORIES[0].updated.timetuple()[:6]
    assert b"purl.org/dc/terms" not in render_atom(INFO, STORIES)
