"""Canonical URLs: every link to one article gives one key (feedsvc/urls.py)."""

from __future__ import annotations

import pytest

from feedsvc.urls import canonical_url, same_site

ARTICLE = "https://spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"


@pytest.mark.parametrize(
    "link",
    [
        "https://spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "http://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "HTTPS://WWW.SpaceWar.COM/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "http://www.spacewar.com:80/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "https://www.spacewar.com:443/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "https://www.spacewar.com./reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html#comments",
        "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html?utm_source=rss&utm_medium=feed",
        "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html?fbclid=IwAR0x&gclid=abc",
        "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html?PHPSESSID=9f8e7d",
        "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html;jsessionid=A1B2C3",
        "https://www.spacewar.com/reports/../reports/./Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "https://www.spacewar.com/reports/Kim%5FPutin_vow_to_seek_closer_ties_at_first_talks_999.html",
        "  https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html?  ",
        "https://user:secret@www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html",
    ],
    ids=[
        "already-canonical", "http-and-www", "case-of-scheme-and-host", "default-http-port", "default-https-port",
        "trailing-dot-host", "fragment", "utm-parameters", "click-ids", "session-parameter", "session-path-parameter",
        "dot-segments", "escaped-unreserved-character", "whitespace-and-empty-query", "user-info",
    ],
)
def test_every_link_to_one_article_gives_one_key(link: str) -> None:
    assert canonical_url(link) == ARTICLE


@pytest.mark.parametrize(
    ("link", "key"),
    [
        ("https://www.spacewar.com/index.html", "https://spacewar.com/"),
        ("https://www.spacewar.com/", "https://spacewar.com/"),
        ("https://www.spacewar.com", "https://spacewar.com/"),
        ("https://www.spacedaily.com/news/INDEX.HTM", "https://spacedaily.com/news/"),
        ("https://www.spacedaily.com/news/index.php", "https://spacedaily.com/news/"),
        ("https://example.com/default.aspx", "https://example.com/"),
        ("https://example.com/story?id=7&page=2", "https://example.com/story?id=7&page=2"),
        ("https://example.com/story?page=2&id=7", "https://example.com/story?id=7&page=2"),
        ("https://example.com/story?page=2&utm_campaign=x&id=7", "https://example.com/story?id=7&page=2"),
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com:8080/x", "https://example.com:8080/x"),
        ("http://example.com:443/x", "https://example.com:443/x"),
        ("https://example.com/a/b/..", "https://example.com/a/"),
        ("https://example.com/a/./", "https://example.com/a/"),
    ],
    ids=[
        "home-index-page", "home", "home-without-slash", "index-page-any-case", "index-php", "default-aspx",
        "parameters-kept", "parameters-sorted", "tracking-among-parameters", "reserved-escape-kept-upper-case",
        "non-ascii-escape-kept", "other-port-kept", "port-of-the-other-scheme-kept", "parent-segment",
        "current-segment",
    ],
)
def test_canonical_form(link: str, key: str) -> None:
    assert canonical_url(link) == key


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://www.spacewar.com/reports/A_999.html", "https://www.spacewar.com/reports/B_999.html"),
        ("https://www.spacewar.com/reports/A_999.html", "https://www.spacedaily.com/reports/A_999.html"),
        ("https://www.spacewar.com/reports/A_999.html", "https://www.spacewar.com/reports/a_999.html"),
        ("https://example.com/story?id=7", "https://example.com/story?id=8"),
        ("https://www.spacewar.com/reports/A_999.html", "https://www.spacewar.com/reports/A_999_2.html"),
    ],
    ids=["other-article", "other-site", "path-case-matters", "content-parameter-matters", "second-page"],
)
def test_different_articles_keep_different_keys(left: str, right: str) -> None:
    assert canonical_url(left) != canonical_url(right)


def test_canonical_url_is_idempotent() -> None:
    for link in ("http://www.SpaceWar.com/reports/../x/index.html?b=2&a=1&utm_x=3#top", "https://e.com/%7euser/"):
        once = canonical_url(link)
        assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("url", "site", "same"),
    [
        ("https://www.spacewar.com/reports/A_999.html", "https://www.spacewar.com/", True),
        ("http://spacewar.com/reports/A_999.html", "https://www.spacewar.com/", True),
        ("https://www.spacedaily.com/reports/A_999.html", "https://www.spacewar.com/", False),
        ("https://images.spacewar.com/a.jpg", "https://www.spacewar.com/", False),
    ],
    ids=["same-host", "scheme-and-www-ignored", "other-site", "subdomain-is-another-host"],
)
def test_same_site(url: str, site: str, same: bool) -> None:
    assert same_site(url, site) is same
