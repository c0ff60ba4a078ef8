"""Specification of finding a story's head (feedsvc.storyhead): headline, byline, dateline out of the body."""

from __future__ import annotations

from datetime import date

import lxml.html
import pytest

from feedsvc.blocks import Block, linearise
from feedsvc.models import Dateline
from feedsvc.storyhead import StoryHead, find_head, settled_head

TITLE = "Kim, Putin vow to seek closer ties at first talks"
DATELINE = Dateline("Vladivostok, Russia", "AFP", date(2019, 4, 25))


def head_of(html: str, hints: tuple[str, ...] = (TITLE,)) -> StoryHead:
    return find_head(linearise(lxml.html.fragment_fromstring(html, create_parent="div")), title_hints=hints)


def body(head: StoryHead) -> list[str]:
    return [block.text for block in head.body]


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(f"<b>NUKEWARS</b><h1>{TITLE}</h1><b>By Maria PANINA</b><br>Vladivostok, Russia (AFP) April 25, 2019<p>Story.</p>", id="h1-then-one-cell"),
        pytest.param(f"NUKEWARS<br><font size=5><b>{TITLE}</b></font><br>By Maria PANINA<br>Vladivostok, Russia (AFP) April 25, 2019<br><br>Story.", id="all-in-one-cell"),
        pytest.param(f"<p>{TITLE}</p><p>By Maria PANINA</p><p>Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p>", id="paragraphs"),
        pytest.param(f"<p>{TITLE}</p><p>Vladivostok, Russia (AFP) April 25, 2019</p><p>By Maria PANINA</p><p>Story.</p>", id="byline-under-dateline"),
        pytest.param(f"<p>{TITLE}</p><p>By Maria PANINA Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p>", id="byline-and-dateline-one-line"),
    ],
)
def test_the_head_is_found_by_its_text(html: str) -> None:
    head = head_of(html)
    assert (head.title, head.author, head.dateline) == (TITLE, "Maria PANINA", DATELINE)
    assert body(head) == ["Story."]


def test_a_dateline_opening_the_first_paragraph() -> None:
    head = head_of(f"<h1>{TITLE}</h1><p>Vladivostok, Russia (AFP) April 25, 2019 - Story <b>starts</b>.</p><p>Next.</p>")
    assert head.dateline == DATELINE and head.author is None
    assert body(head) == ["Story starts.", "Next."]
    assert head.body[0].html == "Story <b>starts</b>."


def test_navigation_before_the_headline_is_dropped_even_if_it_names_the_story() -> None:
    html = (
        f'<div><a href="/a">Section</a><br><a href="/k">{TITLE}</a></div>'
        f"<h1>{TITLE}</h1><p>Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p>"
    )
    assert body(head_of(html)) == ["Story."]


def test_a_picture_between_headline_and_dateline_stays() -> None:
    head = head_of(f"<h1>{TITLE}</h1><p><img src='/a.jpg'></p><p>Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p>")
    assert head.body[0].is_image and body(head)[1:] == ["Story."]


def test_the_page_title_may_carry_a_site_suffix_or_be_wrong() -> None:
    html = f"<h1>{TITLE}</h1><p>Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p>"
    assert head_of(html, (f"{TITLE} - SpaceWar.com",)).title == TITLE
    head = head_of(html, ("Something else entirely",))
    assert (head.title, head.dateline) == (TITLE, DATELINE) and body(head) == ["Story."]


def test_without_dateline_the_headline_and_byline_still_go() -> None:
    head = head_of(f"<p>Menu</p><h1>{TITLE}</h1><p>by Staff Writers</p><p>Story.</p>")
    assert (head.title, head.author, head.dateline) == (TITLE, "Staff Writers", None)
    assert body(head) == ["Story."]


def test_without_any_head_the_blocks_stay() -> None:
    head = head_of("<p>Just text.</p><p>More text.</p>", ())
    assert (head.title, head.dateline, body(head)) == (None, None, ["Just text.", "More text."])


def test_a_section_label_printed_on_the_headline_line_is_not_part_of_the_title() -> None:
    head = head_of(f"<b>NUKEWARS</b> <font size=6><b>{TITLE}</b></font><br>Vladivostok, Russia (AFP) April 25, 2019<br><br>Story.")
    assert (head.title, head.dateline) == (TITLE, DATELINE)
    assert body(head) == ["Story."]


# ---------------------------------------------------------------- reading no further than needed


def blocks_of(html: str) -> list[Block]:
    return linearise(lxml.html.fragment_fromstring(html, create_parent="div"))


HEAD = f"<h1>{TITLE}</h1><p>By Maria PANINA</p><p>Vladivostok, Russia (AFP) April 25, 2019</p>"


@pytest.mark.parametrize(
    ("html", "settled"),
    [
        pytest.param(HEAD + "<p>Story.</p><p>Related Links</p>", True, id="dateline-near-headline-then-more"),
        pytest.param(HEAD, False, id="dateline-is-the-last-line: a byline may follow"),
        pytest.param(HEAD + "<p>By Maria PANINA</p>", False, id="the-late-byline-is-the-last-block"),
        pytest.param("<p>Vladivostok, Russia (AFP) April 25, 2019</p><p>Story.</p><p>More.</p>", False, id="no-headline-before-the-dateline"),
        pytest.param(f"<h1>{TITLE}</h1><p>Story without a dateline.</p><p>More.</p>", False, id="no-dateline-yet"),
    ],
)
def test_a_head_is_settled_once_later_blocks_cannot_change_it(html: str, settled: bool) -> None:
    blocks = blocks_of(html)
    head = settled_head(blocks, title_hints=(TITLE,))
    assert (head is not None) == settled
    if head is not None:
        assert head == find_head(blocks, title_hints=(TITLE,))


def test_a_settled_head_is_the_head_of_the_whole_page() -> None:
    """What settled_head decides on the first blocks holds for the page: later headline
    look-alikes and datelines (a teaser of another story) change nothing."""
    page = HEAD + "<p>Story.</p><p>Related Links</p>" + f"<p>{TITLE}</p><p>Seoul (AFP) April 26, 2019</p><p>Other.</p>"
    blocks = blocks_of(page)
    for count in range(1, len(blocks) + 1):
        head = settled_head(blocks[:count], title_hints=(TITLE,))
        if head is not None:
            whole = find_head(blocks, title_hints=(TITLE,))
            assert (head.title, head.author, head.dateline, head.marks) == (whole.title, whole.author, whole.dateline, whole.marks)
            assert head.body == whole.body[: len(head.body)]
            break
    else:
        pytest.fail("the head was never settled")
