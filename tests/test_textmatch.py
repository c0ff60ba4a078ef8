"""Specification of loose text comparison, slugs and summaries (feedsvc.textmatch)."""

from __future__ import annotations

import pytest

from feedsvc.textmatch import fold, same_title, slugify, starts_with_any, summary_of


def test_fold_ignores_case_spacing_quotes_and_dashes() -> None:
    assert fold("  Don’t  STOP — “now”\u00a0") == fold("don't stop - \"now\"")


@pytest.mark.parametrize(
    ("text", "phrases", "expected"),
    [
        ("Related Links", ["related links"], True),
        ("  . RELATED   LINKS and more", ["Related Links"], True),
        ("Thanks for being here;", ["Thanks for being here"], True),
        ("We said: Related Links", ["Related Links"], False),
        ("Anything", [], False),
        ("Anything", ["", "  "], False),
    ],
)
def test_starts_with_any(text: str, phrases: list[str], expected: bool) -> None:
    assert starts_with_any(text, phrases) is expected


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        ("Kim, Putin vow to seek closer ties at first talks", "Kim, Putin vow to seek closer ties at first talks", True),
        ("Kim, Putin vow to seek closer ties at first talks", "Kim, Putin vow to seek closer ties at first talks - SpaceWar.com", True),
        ("NUKEWARS Kim, Putin vow to seek closer ties at first talks", "Kim, Putin vow to seek closer ties at first talks", True),
        ("Kim, Putin", "Kim, Putin vow to seek closer ties at first talks", False),
        ("Something else", "Kim, Putin vow to seek closer ties at first talks", False),
        ("", "x", False),
    ],
)
def test_same_title(text: str, title: str, expected: bool) -> None:
    assert same_title(text, title) is expected


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Pompeo expects N.Korea diplomacy to be 'bumpy'", "pompeo-expects-n-korea-diplomacy-to-be-bumpy"),
        ("São Paulo’s café — 2019", "sao-paulo-s-cafe-2019"),
        ("!!!", "story"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_slugs_are_cut_between_words() -> None:
    slug = slugify("word " * 40)
    assert len(slug) <= 80 and not slug.endswith("-") and slug.endswith("word")


def test_summary_of() -> None:
    assert summary_of("Short  text.") == "Short text."
    long = "A sentence that goes on and on. " * 20
    summary = summary_of(long)
    assert len(summary) <= 302 and summary.endswith(" …") and long.startswith(summary.removesuffix(" …"))
