"""Specification of datelines and bylines (feedsvc.datelines)."""

from __future__ import annotations

from datetime import date

import pytest

from feedsvc.datelines import (
    find_dateline,
    parse_byline,
    parse_dateline,
    parse_day,
    split_byline_dateline,
    split_opening_dateline,
)
from feedsvc.models import Dateline

SMN_PATTERN = (
    r"(?P<place>[A-Z][^()\n]{0,60}?)\s*\((?P<agency>[A-Za-z][^()\n]{0,30}?)\)\s*"
    r"(?P<date>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4})"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("Vladivostok, Russia (AFP) April 25, 2019", Dateline("Vladivostok, Russia", "AFP", date(2019, 4, 25)), id="place-with-comma"),
        pytest.param("Washington DC (SPX) Apr 25, 2019", Dateline("Washington DC", "SPX", date(2019, 4, 25)), id="abbreviated-month"),
        pytest.param("Paris (ESA News) Sept. 3, 2019", Dateline("Paris", "ESA News", date(2019, 9, 3)), id="two-word-agency"),
        pytest.param("São Paulo (AFP) Jan 5, 2020", Dateline("São Paulo", "AFP", date(2020, 1, 5)), id="accented-place"),
        pytest.param("Cape Canaveral, Fla. (UPI) Dec 1, 2018", Dateline("Cape Canaveral, Fla.", "UPI", date(2018, 12, 1)), id="abbreviation-in-place"),
        pytest.param("  New Delhi (IANS)   May 2,  2019 ", Dateline("New Delhi", "IANS", date(2019, 5, 2)), id="loose-spacing"),
        pytest.param("Beijing (Xinhua) 25 April 2019", Dateline("Beijing", "Xinhua", date(2019, 4, 25)), id="day-first"),
        pytest.param("(AFP) April 25, 2019", Dateline(None, "AFP", date(2019, 4, 25)), id="agency-without-place"),
        pytest.param("April 25, 2019", Dateline(None, None, date(2019, 4, 25)), id="date-only"),
        pytest.param("Apr 25, 2019", Dateline(None, None, date(2019, 4, 25)), id="abbreviated-date-only"),
    ],
)
def test_a_whole_line_is_read_as_a_dateline(line: str, expected: Dateline) -> None:
    assert parse_dateline(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("Kim, Putin vow to seek closer ties at first talks", id="headline"),
        pytest.param("By Maria PANINA", id="byline"),
        pytest.param("Washington (AFP) April 24, 2019 - US Secretary of State said", id="dateline-opening-a-paragraph"),
        pytest.param("The talks ended on April 25, 2019 without a deal.", id="date-inside-a-sentence"),
        pytest.param("Paris (AFP) Febtober 31, 2019", id="no-such-month"),
        pytest.param("", id="empty"),
    ],
)
def test_other_lines_are_not_datelines(line: str) -> None:
    assert parse_dateline(line) is None


def test_rule_patterns_are_tried_before_the_built_in_ones() -> None:
    custom = r"(?P<agency>[A-Z]+) / (?P<place>\w+) / (?P<date>.+)"
    assert parse_dateline("AFP / Paris / May 2, 2019", [custom]) == Dateline("Paris", "AFP", date(2019, 5, 2))
    assert parse_dateline("Paris (AFP) May 2, 2019", [custom]) == Dateline("Paris", "AFP", date(2019, 5, 2))


@pytest.mark.parametrize(
    ("text", "patterns", "dateline", "rest"),
    [
        pytest.param(
            "Washington (AFP) April 24, 2019 - US Secretary of State Mike Pompeo said Wednesday",
            (), Dateline("Washington", "AFP", date(2019, 4, 24)), "US Secretary of State Mike Pompeo said Wednesday",
            id="companion-form",
        ),
        pytest.param(
            "Seoul (AFP) April 25, 2019 -- The first summit", (), Dateline("Seoul", "AFP", date(2019, 4, 25)), "The first summit",
            id="double-hyphen",
        ),
        pytest.param(
            "Paris (AFP) May 2, 2019 — Europe's rocket", (), Dateline("Paris", "AFP", date(2019, 5, 2)), "Europe's rocket",
            id="em-dash",
        ),
        pytest.param(
            "Washington (AFP) April 24, 2019 - US officials", (SMN_PATTERN + r"\s*-\s+",),
            Dateline("Washington", "AFP", date(2019, 4, 24)), "US officials", id="rule-pattern",
        ),
    ],
)
def test_an_opening_dateline_is_split_from_its_paragraph(text: str, patterns: tuple[str, ...], dateline: Dateline, rest: str) -> None:
    assert split_opening_dateline(text, patterns) == (dateline, rest)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Washington (AFP) April 24, 2019", id="no-text-after"),
        pytest.param("Washington (AFP) April 24, 2019 US Secretary", id="no-dash"),
        pytest.param("He said in Washington (AFP) April 24, 2019 - that", id="not-at-the-start"),
    ],
)
def test_no_opening_dateline(text: str) -> None:
    assert split_opening_dateline(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Beijing (AFP) April 19, 2019 China said Friday ... read more",
            (Dateline("Beijing", "AFP", date(2019, 4, 19)), "China said Friday ... read more"), id="teaser-after-dateline",
        ),
        pytest.param(
            "China invites North Korea to Belt and Road summit Beijing (AFP) April 19, 2019 China said",
            (Dateline("Beijing", "AFP", date(2019, 4, 19)), "China said"), id="after-a-headline",
        ),
        pytest.param("  Apr 19, 2019 - China said", (Dateline(None, None, date(2019, 4, 19)), "China said"), id="bare-date-first"),
        pytest.param("China said on Apr 19, 2019 that", None, id="bare-date-inside-text"),
        pytest.param("NATO to use THAAD in Romania this summer", None, id="none"),
    ],
)
def test_find_dateline_in_running_text(text: str, expected: tuple[Dateline, str] | None) -> None:
    assert find_dateline(text) == expected


@pytest.mark.parametrize(
    ("line", "author"),
    [
        pytest.param("By Maria PANINA", "Maria PANINA", id="wire-byline"),
        pytest.param("by Staff Writers", "Staff Writers", id="staff-writers-kept-as-is"),
        pytest.param("BY: John Smith", "John Smith", id="colon"),
        pytest.param("By Jane Doe and Sam Roe", "Jane Doe and Sam Roe", id="two-authors"),
        pytest.param("By 2030, the network will have grown", None, id="sentence-with-number"),
        pytest.param("by the end of the year it was over.", None, id="sentence"),
        pytest.param("Bypass road opens", None, id="not-by"),
    ],
)
def test_bylines(line: str, author: str | None) -> None:
    assert parse_byline(line) == author


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "by Staff Writers Washington DC (SPX) Apr 25, 2019",
            ("Staff Writers", Dateline("Washington DC", "SPX", date(2019, 4, 25))), id="staff-writers",
        ),
        pytest.param(
            "By Maria PANINA Vladivostok, Russia (AFP) April 25, 2019",
            ("Maria PANINA", Dateline("Vladivostok, Russia", "AFP", date(2019, 4, 25))), id="two-word-name",
        ),
        pytest.param("Vladivostok, Russia (AFP) April 25, 2019", None, id="no-byline"),
    ],
)
def test_byline_and_dateline_on_one_line(line: str, expected: tuple[str, Dateline] | None) -> None:
    assert split_byline_dateline(line) == expected


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("April 25, 2019", date(2019, 4, 25)),
        ("Sept. 3 2019", date(2019, 9, 3)),
        ("25 Apr 2019", date(2019, 4, 25)),
        ("Feb 30, 2019", None),
        ("no date here", None),
    ],
)
def test_parse_day(text: str, day: date | None) -> None:
    assert parse_day(text) == day
