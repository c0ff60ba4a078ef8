"""Specification of applying standard ftr-site-config directives (feedsvc.rulesapply)."""

from __future__ import annotations

import lxml.html
import pytest
from lxml.html import HtmlElement

from feedsvc.rules.model import LinkRule, SiteRules
from feedsvc.rulesapply import apply_edits, body_elements, evaluate, find_link, first_texts, is_native_ad, merge_rules

PAGE = """<html><head><title>T</title></head><body>
<div id="main" class="article-body">
  <h1 class="headline">The headline</h1>
  <span class="author">Jane Doe</span><span class="author">Sam Roe</span>
  <div class="social-share">share</div>
  <p>Para <img src="https://ads.example/banner.gif"> <img src="/a.jpg" data-lazy="/a-big.jpg" srcset="/a-2x.jpg 2x"></p>
  <p class="note">A note.</p>
  <a class="next" href="/story?page=2">Next</a>
</div>
<div id="inner-dup"><div id="inner"><p>x</p></div></div>
</body></html>"""


def page() -> HtmlElement:
    return lxml.html.document_fromstring(PAGE)


@pytest.mark.parametrize(
    ("xpath", "expected"),
    [
        pytest.param("//h1", 1, id="elements"),
        pytest.param("//h2", 0, id="no-element"),
        pytest.param("string(//h1)", 1, id="string"),
        pytest.param("string(//h2)", 0, id="empty-string"),
        pytest.param("count(//p) > 1", 1, id="true"),
        pytest.param("count(//h2) > 0", 0, id="false"),
        pytest.param("count(//p)", 1, id="number"),
        pytest.param("//p[", 0, id="invalid"),
        pytest.param("//h1/@class", 1, id="attribute"),
    ],
)
def test_evaluate_counts_only_real_matches(xpath: str, expected: int) -> None:
    assert len(evaluate(page(), xpath)) == expected


def test_the_first_matching_alternative_wins() -> None:
    assert first_texts(page(), ["//h2", "//h1", "//title"]) == ["The headline"]
    assert first_texts(page(), ["//span[@class='author']"]) == ["Jane Doe", "Sam Roe"]
    assert first_texts(page(), ["//h2"]) == []


def test_body_keeps_the_outermost_matches() -> None:
    rules = SiteRules(source="t", body=("//nothing", "//div[starts-with(@id, 'inner')]"))
    assert [e.get("id") for e in body_elements(page(), rules)] == ["inner-dup"]


def test_strip_directives() -> None:
    root = page()
    apply_edits(root, SiteRules(
        source="t",
        strip=("//p[@class='note']",),
        strip_id_or_class=("social",),
        strip_image_src=("ads.example",),
        strip_attr=("//img/@srcset",),
        src_lazy_load_attr="data-lazy",
    ))
    html = lxml.html.tostring(root, encoding="unicode")
    assert "A note." not in html and "social-share" not in html and "banner.gif" not in html
    assert "srcset" not in html
    assert root.xpath("//img/@src") == ["/a-big.jpg"]


def test_wrap_in() -> None:
    root = page()
    apply_edits(root, SiteRules(source="t", wrap_in=(("blockquote", "//p[@class='note']"),)))
    quote = root.xpath("//blockquote")[0]
    assert [child.get("class") for child in quote] == ["note"]
    assert quote.getnext().tag == "a"


def test_native_ad_clue() -> None:
    assert is_native_ad(page(), SiteRules(source="t", native_ad_clue=("//div[@class='article-body']",)))
    assert not is_native_ad(page(), SiteRules(source="t", native_ad_clue=("//div[@class='sponsored']",)))


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        pytest.param((LinkRule("//a[@class='next']/@href"),), "https://example.org/story?page=2", id="attribute"),
        pytest.param((LinkRule("//a[@class='next']"),), "https://example.org/story?page=2", id="element"),
        pytest.param((LinkRule("//a[@class='next']", if_page_contains="//div[@class='paged']"),), None, id="condition-false"),
        pytest.param((LinkRule("//a[@class='next']", if_page_contains="//h1"),), "https://example.org/story?page=2", id="condition-true"),
        pytest.param((LinkRule("//a[@class='prev']"),), None, id="no-link"),
    ],
)
def test_find_link(links: tuple[LinkRule, ...], expected: str | None) -> None:
    assert find_link(page(), links, "https://example.org/story") == expected


def test_merge_rules_puts_site_alternatives_first() -> None:
    site = SiteRules(source="site", body=("//article",), strip=("//nav",), prune=False)
    global_rules = SiteRules(source="global", body=("//main",), strip=("//footer",), prune=True)
    merged = merge_rules(site, global_rules)
    assert merged is not None
    assert (merged.body, merged.strip, merged.prune, merged.source) == (("//article", "//main"), ("//nav", "//footer"), False, "site")
    assert merge_rules(None, global_rules) is global_rules
    assert merge_rules(site, None) is site
    assert merge_rules(None, None) is None
