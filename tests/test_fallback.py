"""Specification of automatic extraction (pages without rules): feedsvc.fallback, pageclean, storyroot.

The development set (tests/fixtures/devset, built by build_devset.py there) holds news pages in
many layouts with their expected body text; bench/extract_quality.py measures the same pages
against plain readability-lxml. Here every page must come out nearly whole and nearly clean.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from readability import Document

from feedsvc.clean import text_of
from feedsvc.extract import extract_article
from feedsvc.htmldoc import parse_document
from feedsvc.pageclean import clear_page, drop_teaser_lists
from feedsvc.storyroot import json_ld_root, named_root, scored_root

DEVSET = Path(__file__).parent / "fixtures" / "devset"
INDEX: list[dict[str, Any]] = json.loads((DEVSET / "index.json").read_text(encoding="utf-8"))["pages"]
PAGES = [pytest.param(item, id=Path(item["file"]).stem) for item in INDEX]
WORD = re.compile(r"\w+")


def f1(predicted: str, expected: str) -> float:
    got, want = Counter(WORD.findall(predicted.lower())), Counter(WORD.findall(expected.lower()))
    overlap = sum((got & want).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(got.values()), overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def test_the_development_set_is_large_and_varied() -> None:
    assert len(INDEX) >= 40
    assert len({item["layout"] for item in INDEX}) >= 20


@pytest.mark.parametrize("item", PAGES)
def test_devset_page_body_text(item: dict[str, Any]) -> None:
    html = (DEVSET / item["file"]).read_text(encoding="utf-8")
    expected = (DEVSET / item["expected"]).read_text(encoding="utf-8")
    article = extract_article(html, item["url"], None)
    assert f1(text_of(article.body_html), expected) >= 0.9
    assert article.title == item["title"]
    assert "<script" not in article.body_html and "Share on Facebook" not in article.body_html


def test_the_fallback_is_ahead_of_plain_readability_on_the_development_set() -> None:
    ours, theirs = [], []
    for item in INDEX:
        html = (DEVSET / item["file"]).read_text(encoding="utf-8")
        expected = (DEVSET / item["expected"]).read_text(encoding="utf-8")
        ours.append(f1(text_of(extract_article(html, item["url"], None).body_html), expected))
        summary = Document(html, url=item["url"]).summary()
        theirs.append(f1(lxml.html.fromstring(summary).text_content(), expected))
    assert sum(ours) / len(ours) > sum(theirs) / len(theirs)


JSON_LD_PAGES = [pytest.param(item, id=Path(item["file"]).stem) for item in INDEX if "jsonld" in item["layout"]]


@pytest.mark.parametrize("item", JSON_LD_PAGES)
def test_metadata_from_json_ld_pages(item: dict[str, Any]) -> None:
    html = (DEVSET / item["file"]).read_text(encoding="utf-8")
    article = extract_article(html, item["url"], None)
    assert article.author == ", ".join(item["authors"])
    assert article.published == datetime.fromisoformat(item["published"])
    assert article.language == "en" and article.lead_image


# ------------------------------------------------------------------ the pieces


def page(body: str, head: str = "") -> lxml.html.HtmlElement:
    return parse_document(f"<html><head>{head}</head><body>{body}</body></html>", "https://example.org/a")


STORY = "".join(f"<p>Paragraph {n} of the harbour bridge story, which reopened after eleven weeks of repairs to its deck.</p>" for n in range(5))
CARDS = "".join(f'<div class="c"><h3><a href="/n{n}">Another story number {n} headline</a></h3><p>Its teaser text.</p></div>' for n in range(4))


def test_teaser_lists_go_but_the_story_stays() -> None:
    root = page(f'<div id="story">{STORY}</div><div class="box"><h2>Latest</h2>{CARDS}</div>')
    assert drop_teaser_lists(root) == 1
    assert root.find(".//div[@class='box']") is None and root.find(".//div[@id='story']") is not None


def test_embedded_posts_keep_their_text_and_hidden_elements_go() -> None:
    root = page(
        f'<article>{STORY}<blockquote class="twitter-tweet"><p>What a day for the bridge!</p>&mdash; Mayor</blockquote>'
        '<div style="display: none">Hidden promo</div><div hidden>Also hidden</div></article><nav>Home News</nav>'
    )
    clear_page(root)
    text = root.text_content()
    assert "What a day for the bridge!" in text
    assert "Hidden promo" not in text and "Also hidden" not in text and "Home News" not in text


def test_json_ld_article_body_locates_the_story_container() -> None:
    body = "\n\n".join(p.text_content() for p in page(STORY).iter("p"))
    head = '<script type="application/ld+json">' + json.dumps({"@type": "NewsArticle", "articleBody": body}) + "</script>"
    root = page(f'<div class="x1"><div class="x2">{STORY}</div><div class="x3">{CARDS}</div></div>', head)
    found = json_ld_root(root, body)
    assert found is not None and found.get("class") == "x2"


def test_a_named_body_container_is_used_when_it_holds_the_text() -> None:
    root = page(f'<div class="wrap"><div class="entry-content">{STORY}</div><div class="side"><p>Short note.</p></div></div>')
    found = named_root(root)
    assert found is not None and found.get("class") == "entry-content"


def test_scoring_prefers_the_story_over_unrelated_prose_beside_it() -> None:
    about = "<p>The Courier is an independent newspaper owned by its readers and volunteers since 1870, every week.</p>" * 3
    root = page(f'<div id="top"><a href="/">Home</a> <a href="/a">Archive</a></div><div id="col1"><div class="t">{"<br><br>".join(["Harbour bridge story paragraph about repairs to the deck of the bridge, now reopened."] * 5)}</div></div><div id="col2">{about}</div>')
    found = scored_root(root, ["Harbour bridge reopens after repairs"])
    assert found is not None and found.get("class") == "t"
