"""Specification of the ``tidy: yes`` clean-up (feedsvc.tidy) and of the ``parser: html5lib`` tree building."""

from __future__ import annotations

import lxml.html
import pytest

from feedsvc.htmldoc import parse_document
from feedsvc.tidy import tidy_tree


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("Lead <b>bold</b> text<br><br>more<div>block</div>tail <a>x</a> end",
                     "<p>Lead <strong>bold</strong> text<br><br>more</p><div>block</div><p>tail <a>x</a> end</p>",
                     id="enclose-text-in-body"),
        pytest.param("<blockquote>Quoted <i>words</i></blockquote>", "<blockquote><p>Quoted <em>words</em></p></blockquote>",
                     id="enclose-block-text-and-logical-emphasis"),
        pytest.param("<p> </p><p><img src='a.jpg'></p><p>x</p>", '<p><img src="a.jpg"></p><p>x</p>', id="drop-empty-paras"),
        pytest.param("<div>Text in a div stays as it is</div>", "<div>Text in a div stays as it is</div>", id="divs-untouched"),
    ],
)
def test_tidy_tree(body: str, expected: str) -> None:
    root = parse_document(f"<html><body>{body}</body></html>", "u")
    tidy_tree(root)
    assert lxml.html.tostring(root.body, encoding="unicode") == f"<body>{expected}</body>"


def test_the_html5_parser_builds_the_tree_as_browsers_do() -> None:
    page = "<html><body><table id='t'><tr><td>cell</td></tr><p class='stray'>Stray</p></table></body></html>"
    assert parse_document(page, "u").xpath("//table/tbody") == []
    html5 = parse_document(page, "u", parser="html5lib")
    assert html5.xpath("//table[@id='t']/tbody/tr/td/text()") == ["cell"]
    assert html5.xpath("//p[@class='stray']/following-sibling::table")  # moved before the table
    assert parse_document(page, "u", parser="libxml").xpath("//table/tbody") == []
