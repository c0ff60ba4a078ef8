"""Specification of article extraction (feedsvc.extract) with the Space Media Network rules and without rules.

Golden facts come from the fixture origin's manifest (tests/fixtures/origin/manifest.json);
more page variants live in tests/fixtures/extract/. The seed page's whole result is kept in
tests/golden/seed.json: regenerate it with FEEDSVC_UPDATE_GOLDEN=1 after a deliberate change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from feedsvc.clean import clean_body, text_of
from feedsvc.errors import ExtractError
from feedsvc.extract import extract_article, join_pages, single_page_url
from feedsvc.models import Article
from feedsvc.rules.model import LinkRule, SiteRules
from feedsvc.rules.parser import parse_rules

TESTS = Path(__file__).parent
ORIGIN = TESTS / "fixtures" / "origin"
VARIANTS = TESTS / "fixtures" / "extract"
GOLDEN = TESTS / "golden" / "seed.json"
RULE_FILE = TESTS.parent / "config" / "rules" / "spacemedia.txt"
MANIFEST: dict[str, Any] = json.loads((ORIGIN / "manifest.json").read_text(encoding="utf-8"))
SEED_PATH = "/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"
SEED_URL = "https://www.spacewar.com" + SEED_PATH
#: What DESIGN.md says a feed entry never shows.
BOILERPLATE = (
    "Related Links", "Thanks for being here", "read more", "Disqus", "Share this article", "The content herein",
    "Military Space News .", "Billed Once", "paypal only", "Copyright 1995", "adsbygoogle", "Advertisement",
)


def spacemedia() -> SiteRules:
    rules, problems = parse_rules(RULE_FILE.read_text(encoding="utf-8"), "spacemedia")
    assert problems == []
    return rules


def origin_page(article: dict[str, Any]) -> tuple[str, str]:
    raw = (ORIGIN / article["site"] / article["path"].lstrip("/")).read_bytes()
    encoding = "cp1252" if article["encoding"].lower() in ("windows-1252", "cp1252") else article["encoding"]
    return raw.decode(encoding), MANIFEST["sites"][article["site"]]["url"].rstrip("/") + article["path"]


def story_text(body_html: str) -> str:
    """The body's text without figures (captions are not story paragraphs)."""
    if not body_html:
        return ""
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    for figure in list(root.iter("figure")):
        figure.drop_tree()
    return text_of(lxml.html.tostring(root, encoding="unicode"))


def absolute(src: str) -> str:
    return "https:" + src if src.startswith("//") else src


def article_id(article: dict[str, Any]) -> str:
    return f"{article['site']}{article['path']}"


ARTICLES = [pytest.param(a, id=article_id(a)) for a in MANIFEST["articles"]]


# ------------------------------------------------------------------ the seed page (the acceptance check)


def test_the_rule_file_loads_without_problems() -> None:
    rules = spacemedia()
    assert rules.body and rules.title and rules.body_end_text and rules.companion_pattern and rules.section_item


def test_seed_page() -> None:
    html, url = origin_page(next(a for a in MANIFEST["articles"] if a["path"] == SEED_PATH))
    article = extract_article(html, url, spacemedia())
    assert article.title == "Kim, Putin vow to seek closer ties at first talks"
    assert article.author == "Maria PANINA"
    assert article.published_day == date(2019, 4, 25)
    assert (article.place, article.agency) == ("Vladivostok, Russia", "AFP")
    text = text_of(article.body_html)
    assert text.startswith("Russia's Vladimir Putin and North Korea's Kim Jong Un met face-to-face for the first time")
    assert text.endswith("capable of reaching the entire US mainland.")
    assert "<h3>North Korean labourers</h3>" in article.body_html
    assert "<h3>Soviet-era allies</h3>" in article.body_html
    companions = [(c.title, c.place, c.agency, c.published_day) for c in article.companions]
    assert companions == [
        ("Pompeo expects N.Korea diplomacy to be 'bumpy'", "Washington", "AFP", date(2019, 4, 24)),
        ("Never mind the substance, here's the visuals: Putin summit a win for Kim", "Seoul", "AFP", date(2019, 4, 25)),
    ]
    for companion in article.companions:
        assert companion.key.startswith(SEED_URL + "#") and companion.url == SEED_URL
        assert companion.summary and text_of(companion.body_html).startswith(companion.summary.removesuffix(" …"))
        assert companion.title not in article.body_html
    assert "Pompeo said that years of previous diplomatic efforts" not in text
    assert "selfie diplomacy" not in text
    for phrase in BOILERPLATE + ("NUKEWARS", "China invites North Korea", "NATO to use THAAD"):
        assert phrase not in article.body_html


def test_seed_golden_file() -> None:
    html, url = origin_page(next(a for a in MANIFEST["articles"] if a["path"] == SEED_PATH))
    result = json.loads(json.dumps(dataclasses.asdict(extract_article(html, url, spacemedia())), default=str))
    if os.environ.get("FEEDSVC_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert result == json.loads(GOLDEN.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ every page of the fixture origin


@pytest.mark.parametrize("expected", ARTICLES)
def test_origin_article(expected: dict[str, Any]) -> None:
    html, url = origin_page(expected)
    article = extract_article(html, url, spacemedia())
    assert article.title == expected["title"]
    assert article.author == expected["author"]
    assert str(article.published_day) == expected["date"]
    assert (article.place, article.agency) == (expected["place"], expected["agency"])
    assert article.lead_image == expected["lead_image"]
    assert article.lead_image_caption == expected["lead_image_caption"]
    text = story_text(article.body_html)
    assert text.startswith(expected["first_sentence"])
    assert text.endswith(expected["last_sentence"])
    subheads = [s.strip("-– ") for s in expected["subheads"]]
    assert len([p for p in text.split("\n\n") if p not in subheads]) == expected["paragraphs"]
    for subhead in subheads:
        assert f"<h3>{subhead}</h3>" in article.body_html
    for image in expected["inline_images"]:
        assert f'<img src="{absolute(image["src"])}"' in article.body_html
        assert f"{image['caption']}</i></figcaption>" in article.body_html
    for phrase in (*expected["must_not_contain"], *BOILERPLATE, expected["label"]):
        assert phrase not in text, phrase
    next_page = expected["next_page"]
    assert article.next_page_url == (MANIFEST["sites"][expected["site"]]["url"].rstrip("/") + next_page if next_page else None)


@pytest.mark.parametrize("expected", ARTICLES)
def test_origin_companions(expected: dict[str, Any]) -> None:
    html, url = origin_page(expected)
    article = extract_article(html, url, spacemedia())
    assert [c.title for c in article.companions] == [c["title"] for c in expected["companions"]]
    for companion, wanted in zip(article.companions, expected["companions"]):
        assert (companion.place, companion.agency, str(companion.published_day)) == (wanted["place"], wanted["agency"], wanted["date"])
        text = story_text(companion.body_html)
        assert text.startswith(wanted["first_sentence"]) and text.endswith(wanted["last_sentence"])
        assert len([p for p in text.split("\n\n") if f"- {p} -" not in wanted["subheads"]]) == wanted["paragraphs"]
        assert text.startswith(companion.summary.removesuffix(" …")) and len(companion.summary) <= 302
        assert wanted["first_sentence"] not in story_text(article.body_html)


@pytest.mark.parametrize("expected", ARTICLES)
def test_origin_body_is_already_clean(expected: dict[str, Any]) -> None:
    html, url = origin_page(expected)
    article = extract_article(html, url, spacemedia())
    for story in (article, *article.companions):
        assert clean_body(story.body_html, url) == story.body_html


def test_multi_page_articles_are_joined() -> None:
    rules = spacemedia()
    first_meta = next(a for a in MANIFEST["articles"] if a["next_page"])
    second_meta = next(a for a in MANIFEST["articles"] if a["path"] == first_meta["next_page"])
    first = extract_article(*origin_page(first_meta), rules)
    second = extract_article(*origin_page(second_meta), rules)
    joined = join_pages(first, [second])
    text = story_text(joined.body_html)
    assert text.startswith(first_meta["first_sentence"]) and text.endswith(second_meta["last_sentence"])
    assert second_meta["first_sentence"] in text
    assert (joined.title, joined.key, joined.published_day) == (first.title, first.key, first.published_day)
    assert joined.next_page_url is None
    assert join_pages(first, []) is first


# ------------------------------------------------------------------ more page variants


VARIANT_CASES = [
    pytest.param(
        "smn_font_headline.html",
        dict(
            title="Europe's new weather satellite sends first images", author="Staff Writers", published_day=date(2023, 1, 5),
            place="Darmstadt, Germany", agency="ESA",
            lead_image="https://www.spxdaily.com/images-lg/mtg-first-image-lg.jpg",
            lead_image_caption="The first image from the Meteosat Third Generation imager, showing Europe and Africa.",
        ),
        "The first pictures from Europe’s newest weather satellite", "a first for a European geostationary mission.",
        ["A sharper view"], [("Second satellite due in 2025", "Paris", date(2023, 1, 4), 2)],
        id="font-headline-byline-and-dateline-in-one-cell-br-paragraphs-box-after",
    ),
    pytest.param(
        "smn_span_headline_p.html",
        dict(
            title="India test-fires new nuclear-capable missile", author=None, published_day=date(2018, 12, 10),
            place="New Delhi", agency="AFP", lead_image="https://www.spxdaily.com/images-lg/agni-lg.jpg", language="en",
            next_page_url="https://www.example.com/reports/India_test_fires_new_nuclear_capable_missile_999_2.html",
        ),
        "India successfully test-fired", "with a high degree of accuracy,” the ministry said in a statement.",
        [], [("Pakistan says it will match India's deterrent", "Islamabad", date(2018, 12, 9), 2)],
        id="xml-declaration-span-headline-no-byline-p-paragraphs-box-before-with-title-row",
    ),
    pytest.param(
        "smn_div_layout.html",
        dict(
            title="Mars rover finds organic molecules in ancient lakebed", author="Marc JOURDIER", published_day=date(2018, 6, 7),
            place="Pasadena, California", agency="AFP", lead_image="https://www.example.com/images/curiosity-drill.jpg",
            lead_image_caption="Curiosity's drill hole in the Mojave rock target.", language="en",
        ),
        "NASA's Curiosity rover has found organic molecules", "it is still climbing Mount Sharp.",
        ["Seasonal methane"], [],
        id="div-layout-h1-headline-also-in-nav-image-caption-in-one-block-flat-donation-teaser",
    ),
    pytest.param(
        "smn_flat_companion.html",
        dict(title="Russia to extend ISS participation to 2028", author="Anna SMOLCHENKO", place="Moscow", agency="AFP"),
        "Russia will stay on the International Space Station", "despite tensions over Ukraine.",
        [], [("NASA welcomes the decision", "Washington", date(2022, 4, 25), 1)],
        id="companion-without-a-box-taken-conservatively",
    ),
]


@pytest.mark.parametrize(("name", "fields", "first", "last", "subheads", "companions"), VARIANT_CASES)
def test_page_variants(
    name: str, fields: dict[str, Any], first: str, last: str, subheads: list[str], companions: list[tuple[str, str, date, int]]
) -> None:
    html = (VARIANTS / name).read_text(encoding="utf-8")
    article = extract_article(html, "https://www.example.com/reports/x_999.html", spacemedia())
    assert {key: getattr(article, key) for key in fields} == fields
    text = story_text(article.body_html)
    assert text.startswith(first) and text.endswith(last)
    assert [h for h in subheads if f"<h3>{h}</h3>" in article.body_html] == subheads
    for phrase in BOILERPLATE + ("By ", "Pasadena CA (JPL)", "Dust storm season", "TERRADAILY", "MARSDAILY", "NUKEWARS", "Next Page"):
        assert phrase not in text, phrase
    assert "javascript:" not in article.body_html and "onclick" not in article.body_html
    got = [(c.title, c.place, c.published_day, len(story_text(c.body_html).split("\n\n"))) for c in article.companions]
    assert got == companions


def test_a_generic_news_page_without_rules_uses_readability() -> None:
    html = (VARIANTS / "generic_news.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://news.example.org/2023/03/14/cycle-lanes", None)
    assert article.title == "Council approves new cycle lanes for city centre"
    assert article.author == "Jane Doe, Sam Roe"  # the printed byline, normalised as JSON-LD's list would be
    assert article.published is not None and article.published.isoformat() == "2023-03-14T08:30:00+00:00"
    assert article.language == "en-GB"
    assert article.lead_image == "https://cdn.example.org/img/cycle-lanes.jpg"
    text = story_text(article.body_html)
    assert text.startswith("Councillors have approved plans for eight kilometres")
    assert text.endswith("beginning with the route along the river.")
    assert "<h2>Opposition from businesses</h2>" in article.body_html
    assert '<a href="https://example.org/petition">The petition</a>' in article.body_html
    for phrase in ("Share on Twitter", "Bus fares", "morning briefing", "Great news for the city", "Most read", "All rights reserved", "By Jane Doe"):
        assert phrase not in text, phrase


def test_rules_that_match_nothing_fall_back_to_readability_unless_told_not_to() -> None:
    html = (VARIANTS / "generic_news.html").read_text(encoding="utf-8")
    url = "https://news.example.org/cycle-lanes"
    rules = SiteRules(source="other.txt", body=("//div[@id='no-such-thing']",))
    assert extract_article(html, url, rules).title == "Council approves new cycle lanes for city centre"
    with pytest.raises(ExtractError, match="match nothing"):
        extract_article(html, url, dataclasses.replace(rules, autodetect_on_failure=False))


def test_global_rules_add_to_the_site_rules() -> None:
    html = (VARIANTS / "generic_news.html").read_text(encoding="utf-8")
    site = SiteRules(source="site.txt", body=("//div[@class='article-body']",))
    global_rules = SiteRules(source="global.txt", strip=("//blockquote",))
    article = extract_article(html, "https://news.example.org/x", site, global_rules)
    assert "Cities that build safe routes" not in article.body_html
    assert "Councillors have approved" in article.body_html


def test_replace_string_edits_the_raw_page_first() -> None:
    html = (VARIANTS / "smn_flat_companion.html").read_text(encoding="utf-8")
    rules = dataclasses.replace(spacemedia(), replace_string=(("continuously crewed", "permanently crewed"),))
    assert "permanently crewed" in extract_article(html, "https://www.example.com/reports/x_999.html", rules).body_html


def test_single_page_link() -> None:
    html = '<html><body><p>Text.</p><a class="print" href="/print/42">Print</a></body></html>'
    rules = SiteRules(source="t", single_page_link=(LinkRule("//a[@class='print']"),))
    assert single_page_url(html, "https://example.org/story/42", rules) == "https://example.org/print/42"
    assert single_page_url(html, "https://example.org/story/42", None) is None


@pytest.mark.parametrize(
    ("html", "rules", "message"),
    [
        pytest.param("", None, "empty page", id="empty"),
        pytest.param("   \n ", None, "empty page", id="blank"),
        pytest.param(
            "<html><body><div class='sponsored'><p>Buy now.</p></div></body></html>",
            SiteRules(source="t", native_ad_clue=("//div[@class='sponsored']",)), "advertisement", id="native-ad",
        ),
        pytest.param(
            "<html><body><div id='story'><script>x()</script></div></body></html>",
            SiteRules(source="t", body=("//div[@id='story']",)), "no article text", id="no-text",
        ),
    ],
)
def test_pages_without_an_article_raise(html: str, rules: SiteRules | None, message: str) -> None:
    with pytest.raises(ExtractError, match=message) as caught:
        extract_article(html, "https://example.org/page", rules)
    assert caught.value.url == "https://example.org/page"


def test_the_key_is_the_url_without_fragment() -> None:
    html = (VARIANTS / "smn_flat_companion.html").read_text(encoding="utf-8")
    article = extract_article(html, "https://www.example.com/reports/x_999.html#comments", spacemedia())
    assert article.key == article.url == "https://www.example.com/reports/x_999.html"
    assert article.companions[0].key == "https://www.example.com/reports/x_999.html#nasa-welcomes-the-decision"


def test_extraction_runs_in_a_worker_process() -> None:
    html, url = origin_page(next(a for a in MANIFEST["articles"] if a["path"] == SEED_PATH))
    rules = spacemedia()
    with ProcessPoolExecutor(max_workers=1) as pool:
        article = pool.submit(extract_article, html, url, rules, None).result(timeout=60)
    assert isinstance(article, Article) and article == extract_article(html, url, rules)
    assert pickle.loads(pickle.dumps(article)) == article


def test_json_ld_article_body_when_the_markup_holds_no_text() -> None:
    html = (
        '<html><head><script type="application/ld+json">{"@type": "NewsArticle", "headline": "Only in JSON-LD",'
        ' "articleBody": "First paragraph <b>as text</b>.\\n\\nSecond paragraph."}</script></head>'
        "<body><div id='story'><script>render()</script></div></body></html>"
    )
    article = extract_article(html, "https://example.org/a", SiteRules(source="t", body=("//div[@id='story']",)))
    assert article.title == "Only in JSON-LD"
    assert article.body_html == "<p>First paragraph &lt;b&gt;as text&lt;/b&gt;.</p>\n<p>Second paragraph.</p>"


def test_a_story_whose_dateline_opens_its_first_paragraph_is_not_a_companion() -> None:
    html = (
        "<html><head><title>Site front</title></head><body><table><tr><td>"
        "<b>Launch delayed by weather</b><br>Kourou (AFP) May 2, 2019 - The launch was put off by a day.<br><br>"
        "Winds were too strong.</td></tr></table></body></html>"
    )
    article = extract_article(html, "https://example.org/a", SiteRules(source="t", body=("//td",)))
    assert (article.title, article.place, article.published_day) == ("Launch delayed by weather", "Kourou", date(2019, 5, 2))
    assert text_of(article.body_html) == "The launch was put off by a day.\n\nWinds were too strong."
    assert article.companions == ()
