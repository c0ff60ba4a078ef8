"""Specification of the block model (feedsvc.blocks): a region read as a reader sees it."""

from __future__ import annotations

import lxml.html
import pytest

from feedsvc.blocks import Line, is_data_table, linearise, linearise_all, trim_line_start


def blocks_of(html: str) -> list[list[str]]:
    """The lines of text of each block of ``html``."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return [[line.text for line in block.lines] for block in linearise(root)]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("One.<br><br>Two.", [["One."], ["Two."]], id="br-run"),
        pytest.param("One.<br>\n \n<br>Two.", [["One."], ["Two."]], id="br-run-with-whitespace"),
        pytest.param("One.<br>&nbsp;<br>Two.", [["One."], ["Two."]], id="br-run-with-nbsp"),
        pytest.param("One.<br>Two.", [["One.", "Two."]], id="single-br-is-a-line"),
        pytest.param("<br><br>One.<br><br><br><br>", [["One."]], id="leading-and-trailing-brs"),
        pytest.param("<p>One.</p><p>Two.</p>", [["One."], ["Two."]], id="paragraphs"),
        pytest.param("Lead <div>inner</div> tail", [["Lead"], ["inner"], ["tail"]], id="block-element-splits"),
        pytest.param("<font>One <b>bold</b>.<br><br>Two.</font>", [["One bold."], ["Two."]], id="split-inside-inline-wrapper"),
        pytest.param(
            "<table><tr><td>Left cell</td><td>Right cell</td></tr></table>", [["Left cell"], ["Right cell"]], id="layout-table",
        ),
        pytest.param("<b>By Maria PANINA</b><br>Vladivostok, Russia (AFP) April 25, 2019", [["By Maria PANINA", "Vladivostok, Russia (AFP) April 25, 2019"]], id="byline-and-dateline-in-one-cell"),
        pytest.param("<p>   </p><span></span><a name='top'></a>", [], id="nothing-visible"),
    ],
)
def test_linearise(html: str, expected: list[list[str]]) -> None:
    assert blocks_of(html) == expected


def test_blocks_keep_their_inline_html() -> None:
    root = lxml.html.fragment_fromstring('Go <a href="/x">there</a> <i>now</i>.<br><br><img src="/p.jpg">', create_parent="div")
    first, second = linearise(root)
    assert first.html == 'Go <a href="/x">there</a> <i>now</i>.'
    assert first.lines[0].link_chars == len("there")
    assert second.is_image and second.text == ""


def test_block_kinds() -> None:
    root = lxml.html.fragment_fromstring(
        "<h2>Head</h2><ul><li>a</li><li>b</li></ul><blockquote>q</blockquote><figure><img src='/x.jpg'><figcaption>c</figcaption></figure>",
        create_parent="div",
    )
    assert [block.kind for block in linearise(root)] == ["h2", "li", "li", "blockquote", "p", "caption"]


def test_small_print_and_italics_mark_caption_lines() -> None:
    root = lxml.html.fragment_fromstring('<font size="1"><i>A caption.</i></font><br><br>Plain text.', create_parent="div")
    caption, plain = linearise(root)
    assert caption.lines[0].small and not plain.lines[0].small


def test_blocks_know_their_box() -> None:
    root = lxml.html.fragment_fromstring(
        "<p>Story.</p><table id='box'><tr><td><b>Title</b><br>Text.<br><br>More.</td></tr></table>", create_parent="div"
    )
    box = root.get_element_by_id("box")
    story, title, more = linearise(root)
    assert not story.within(box)
    assert title.within(box) and more.within(box)
    assert title.node.tag == "b" and any(node is root for node in title.path)


@pytest.mark.parametrize(
    ("html", "data"),
    [
        pytest.param("<table><tr><th>Year</th><th>Launches</th></tr><tr><td>2018</td><td>114</td></tr></table>", True, id="header-row"),
        pytest.param("<table><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></table>", True, id="grid"),
        pytest.param("<table><tr><td>only one row</td><td>x</td></tr></table>", False, id="one-row"),
        pytest.param("<table><tr><td><table><tr><td>x</td></tr></table></td><td>y</td></tr><tr><td>a</td><td>b</td></tr></table>", False, id="nested"),
        pytest.param(f"<table><tr><td>{'long story text ' * 40}</td><td>x</td></tr><tr><td>a</td><td>b</td></tr></table>", False, id="layout-cell"),
    ],
)
def test_data_tables(html: str, data: bool) -> None:
    assert is_data_table(lxml.html.fragment_fromstring(html)) is data


def test_a_data_table_stays_one_block() -> None:
    html = "<p>Before.</p><table><tr><th>Year</th><th>Launches</th></tr><tr><td>2018</td><td>114</td></tr></table>"
    blocks = linearise(lxml.html.fragment_fromstring(html, create_parent="div"))
    assert [b.kind for b in blocks] == ["p", "table"]
    assert blocks[1].html.startswith("<table>")


@pytest.mark.parametrize(
    ("html", "prefix", "expected_html", "expected_text"),
    [
        pytest.param(
            "Washington (AFP) April 24, 2019 - US Secretary", "Washington (AFP) April 24, 2019 - ",
            "US Secretary", "US Secretary", id="plain",
        ),
        pytest.param(
            "<b>Washington</b> (AFP) April 24, 2019 - US <i>Secretary</i>", "Washington (AFP) April 24, 2019 - ",
            "<b></b> US <i>Secretary</i>", "US Secretary", id="markup-kept",
        ),
    ],
)
def test_trim_line_start(html: str, prefix: str, expected_html: str, expected_text: str) -> None:
    line = trim_line_start(Line(html, " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())), prefix)
    assert line is not None
    assert (line.html, line.text) == (expected_html, expected_text)


def test_trimming_everything_leaves_nothing() -> None:
    assert trim_line_start(Line("Paris (AFP) May 2, 2019", "Paris (AFP) May 2, 2019"), "Paris (AFP) May 2, 2019") is None


def test_linearise_all_reads_no_further_than_asked() -> None:
    roots = [lxml.html.fragment_fromstring(html, create_parent="div") for html in ("<p>a</p><p>b</p><p>c</p>", "<p>d</p>")]
    assert [b.text for b in linearise_all(roots)] == ["a", "b", "c", "d"]
    assert [b.text for b in linearise_all(roots, until=lambda blocks: blocks[-1].text == "b")] == ["a", "b"]
    assert [b.text for b in linearise_all(roots, until=lambda blocks: False)] == ["a", "b", "c", "d"]
