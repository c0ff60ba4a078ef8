"""Specification of page metadata (feedsvc.metadata): JSON-LD, OpenGraph, meta tags, <time>, lang."""

from __future__ import annotations

from datetime import date, datetime, timezone

import lxml.html
import pytest

from feedsvc.metadata import PageMeta, normalise_authors, page_title, parse_date_value, read_metadata


def meta_of(head: str, body: str = "", lang: str = "", skip_json_ld: bool = False) -> PageMeta:
    html = f"<html{' lang=' + repr(lang) if lang else ''}><head>{head}</head><body>{body}<p>x</p></body></html>"
    return read_metadata(lxml.html.document_fromstring(html), skip_json_ld=skip_json_ld)


JSON_LD = """<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "name": "Site"},
  {"@type": ["NewsArticle"], "headline": "From JSON-LD", "datePublished": "2019-04-25T09:41:12Z",
   "author": [{"@type": "Person", "name": "Maria PANINA"}, {"name": "John DOE"}],
   "image": [{"url": "https://img.example/a.jpg"}], "inLanguage": "en-US",
   "articleBody": "The whole   text.", "description": "Teaser."}]}
</script>"""
OPEN_GRAPH = (
    '<meta property="og:title" content="From OpenGraph">'
    '<meta property="og:image" content="https://img.example/og.jpg">'
    '<meta property="article:published_time" content="2019-04-24T10:00:00+02:00">'
    '<meta name="author" content="Meta Author">'
    '<meta name="description" content="Meta description.">'
)


def test_json_ld_article_fields() -> None:
    meta = meta_of(JSON_LD + OPEN_GRAPH)
    assert meta.title == "From JSON-LD"
    assert meta.author == "Maria PANINA, John DOE"
    assert meta.published == datetime(2019, 4, 25, 9, 41, 12, tzinfo=timezone.utc)
    assert meta.image == "https://img.example/a.jpg"
    assert meta.language == "en-US"
    assert meta.body_text == "The whole   text."  # line breaks and spacing kept for paragraphs
    assert meta.description == "Meta description."


def test_opengraph_and_meta_fill_in_without_json_ld() -> None:
    meta = meta_of(JSON_LD + OPEN_GRAPH, skip_json_ld=True)
    assert (meta.title, meta.author, meta.image) == ("From OpenGraph", "Meta Author", "https://img.example/og.jpg")
    assert meta.published == datetime(2019, 4, 24, 8, 0, tzinfo=timezone.utc)


def test_broken_json_ld_is_skipped() -> None:
    meta = meta_of('<script type="application/ld+json">{"@type": "NewsArticle", broken</script>' + OPEN_GRAPH)
    assert meta.title == "From OpenGraph"


def test_time_element_and_html_lang() -> None:
    meta = meta_of("", body='<time datetime="2019-04-25T11:00:00">April 25</time>', lang="fr")
    assert meta.published == datetime(2019, 4, 25, 11, 0, tzinfo=timezone.utc)
    assert meta.language == "fr"


def test_a_date_only_value_is_a_day() -> None:
    meta = meta_of('<meta name="date" content="2019-04-25">')
    assert (meta.published, meta.published_day) == (None, date(2019, 4, 25))


def test_an_author_given_as_a_url_is_ignored() -> None:
    assert meta_of('<meta property="article:author" content="https://facebook.com/someone">').author is None


def test_page_title_and_base() -> None:
    meta = meta_of("<title>Kim, Putin vow to seek closer ties at first talks</title><base href='https://cdn.example/'>")
    assert meta.page_title == "Kim, Putin vow to seek closer ties at first talks"
    assert meta.base_href == "https://cdn.example/"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Council approves cycle lanes | The Daily Example", "Council approves cycle lanes"),
        ("India test-fires new missile - SpaceWar.com", "India test-fires new missile"),
        ("Kim - Putin summit: what the two leaders want from each other", "Kim - Putin summit: what the two leaders want from each other"),
        ("Plain headline", "Plain headline"),
        ("   ", None),
    ],
)
def test_page_title_drops_a_site_name(title: str, expected: str | None) -> None:
    assert page_title(title) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-04-25T09:41:12Z", datetime(2019, 4, 25, 9, 41, 12, tzinfo=timezone.utc)),
        ("2019-04-25T11:41:12+02:00", datetime(2019, 4, 25, 9, 41, 12, tzinfo=timezone.utc)),
        ("2019-04-25T09:41:12", datetime(2019, 4, 25, 9, 41, 12, tzinfo=timezone.utc)),
        ("2019-04-25 09:41", datetime(2019, 4, 25, 9, 41, tzinfo=timezone.utc)),
        ("Thu, 25 Apr 2019 09:41:12 GMT", datetime(2019, 4, 25, 9, 41, 12, tzinfo=timezone.utc)),
        ("2019-04-25", date(2019, 4, 25)),
        ("April 25, 2019", date(2019, 4, 25)),
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_date_value(value: str, expected: datetime | date | None) -> None:
    assert parse_date_value(value) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["By Maria PANINA"], "Maria PANINA", id="byline"),
        pytest.param(["by Staff Writers"], "Staff Writers", id="collective-byline-kept"),
        pytest.param(["Jane Doe and Sam Roe"], "Jane Doe, Sam Roe", id="and"),
        pytest.param(["A. One, B. Two & C. Three"], "A. One, B. Two, C. Three", id="commas-and-ampersand"),
        pytest.param(["Ann Lee", "ann lee", "Bob Stone"], "Ann Lee, Bob Stone", id="several-values-each-once"),
        pytest.param(["https://example.org/people/x"], None, id="an-address-is-not-a-name"),
        pytest.param([], None, id="none"),
    ],
)
def test_authors_are_normalised_the_same_way_from_every_source(values: list[str], expected: str | None) -> None:
    assert normalise_authors(values) == expected


@pytest.mark.parametrize(
    "head",
    [
        pytest.param('<script type="application/ld+json">{"@type": "NewsArticle", "author": [{"name": "Jane Doe"},'
                     ' {"name": "Sam Roe"}]}</script>', id="json-ld-list"),
        pytest.param('<script type="application/ld+json">{"@type": "NewsArticle", "author": {"name": "By Jane Doe and Sam Roe"}}'
                     "</script>", id="json-ld-one-string"),
        pytest.param('<meta name="author" content="Jane Doe & Sam Roe">', id="meta"),
    ],
)
def test_several_authors_read_alike_from_json_ld_and_meta(head: str) -> None:
    assert meta_of(head).author == "Jane Doe, Sam Roe"


@pytest.mark.parametrize(
    ("head", "body"),
    [
        pytest.param('<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2024-05-02T10:15:00+02:00"}'
                     "</script>", "", id="json-ld"),
        pytest.param('<meta property="article:published_time" content="2024-05-02T08:15:00Z">', "", id="meta"),
        pytest.param("", '<time datetime="2024-05-02T04:15:00-04:00">2 May</time>', id="time-element"),
    ],
)
def test_published_times_become_the_same_aware_utc_time_whatever_the_source(head: str, body: str) -> None:
    assert meta_of(head, body).published == datetime(2024, 5, 2, 8, 15, tzinfo=timezone.utc)
