"""Specification of parsing pages and removing what is never content (feedsvc.htmldoc)."""

from __future__ import annotations

import lxml.html
import pytest

from feedsvc.errors import ExtractError
from feedsvc.htmldoc import drop_junk, parse_document, parse_fragment


@pytest.mark.parametrize(
    "page",
    [
        pytest.param('<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>café “q”</p></body></html>', id="xml-declaration"),
        pytest.param('\ufeff<html><head><meta charset="windows-1252"></head><body><p>café “q”</p></body></html>', id="bom-and-meta-charset"),
        pytest.param("<p>café “q”</p>", id="fragment"),
    ],
)
def test_decoded_text_parses_whatever_encoding_it_declares(page: str) -> None:
    assert parse_document(page, "https://example.org/").text_content().strip() == "café “q”"


def test_replacements_apply_to_the_raw_page_in_order() -> None:
    root = parse_document("<p>a <x-ad>AD</x-ad> b</p>", "u", [("<x-ad>AD</x-ad>", ""), ("a  b", "a-b")])
    assert root.text_content().strip() == "a-b"


@pytest.mark.parametrize("page", ["", "  \n\t "])
def test_an_empty_page_is_an_extract_error(page: str) -> None:
    with pytest.raises(ExtractError, match="empty page"):
        parse_document(page, "https://example.org/empty")


def test_drop_junk() -> None:
    root = parse_fragment(
        "<p>keep<!-- c --><script>s()</script><style>p{}</style><noscript>n</noscript></p>"
        "<iframe src='x'></iframe><ins class='adsbygoogle'></ins><form><input name='q'>search</form>tail"
    )
    drop_junk(root)
    assert lxml.html.tostring(root, encoding="unicode") == "<div><p>keep</p>tail</div>"


def test_a_form_wrapping_the_whole_page_is_unwrapped_not_dropped() -> None:
    story = "Story text that goes on. " * 40
    root = parse_fragment(f"<form action='/post'><p>{story}</p><input type='submit'></form>")
    drop_junk(root)
    assert root.text_content().strip() == story.strip()


def test_parse_fragment_wraps_several_elements() -> None:
    root = parse_fragment("text <b>bold</b><p>para</p>")
    assert root.tag == "div" and root.text_content() == "text boldpara"
