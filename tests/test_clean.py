"""Specification of body cleaning (feedsvc.clean): safe, regular, absolute, boilerplate-free HTML."""

from __future__ import annotations

import html
import random

import pytest

from feedsvc.clean import clean_body, text_of
from feedsvc.htmldoc import parse_fragment
from feedsvc.linkfix import absolute_url, absolutise_urls

BASE = "https://www.spacewar.com/reports/Some_story_999.html"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        pytest.param("<p>a<script>alert(1)</script>b</p>", "<p>ab</p>", id="script"),
        pytest.param("<style>p{color:red}</style><p>text</p>", "<p>text</p>", id="style"),
        pytest.param('<p>x</p><iframe src="https://evil.example/"></iframe><p>y</p>', "<p>x</p>\n<p>y</p>", id="iframe"),
        pytest.param('<p onclick="steal()" style="color:red" class="lead">text</p>', "<p>text</p>", id="event-handler-and-style"),
        pytest.param('<p><a href="javascript:alert(1)">link</a></p>', "<p>link</p>", id="javascript-url"),
        pytest.param('<p><img src="data:image/png;base64,AAAA" alt="x">text</p>', "<p>text</p>", id="data-url-image"),
        pytest.param('<p><a href="mailto:desk@example.org">mail</a></p>', '<p><a href="mailto:desk@example.org">mail</a></p>', id="mailto-kept"),
        pytest.param("<form><input name=q><button>Go</button></form><p>text</p>", "<p>text</p>", id="form"),
        pytest.param("<p>a <object data='x.swf'>fallback</object>b</p><p>c<embed src='y.swf'></p>", "<p>a b</p>\n<p>c</p>", id="embeds"),
        pytest.param('<p>text<ins class="adsbygoogle"></ins></p><noscript><img src="/p.gif"></noscript>', "<p>text</p>", id="ads"),
        pytest.param("<p>a<!-- comment -->b</p>", "<p>ab</p>", id="comment"),
        pytest.param('<svg onload="x()"><circle/></svg><p>t</p>', "<p>t</p>", id="svg"),
        pytest.param("<p>  lots   of\n\n   space  </p>", "<p>lots of space</p>", id="whitespace-collapsed"),
        pytest.param("<p></p><p> &nbsp; </p><p><b> </b></p><p>x</p>", "<p>x</p>", id="empty-paragraphs-dropped"),
        pytest.param("<pre>a\n\n  b</pre>", "<pre>a\n\n  b</pre>", id="pre-keeps-its-spacing"),
        pytest.param("<h1>Big</h1><h5>Small</h5>", "<h2>Big</h2>\n<h4>Small</h4>", id="heading-levels"),
        pytest.param("<ul><li>one</li><li>two</li></ul>", "<ul><li>one</li><li>two</li></ul>", id="list"),
        pytest.param("<ol start='3'><li>three</li></ol>", "<ol><li>three</li></ol>", id="ordered-list"),
        pytest.param("<blockquote>Quoted words.</blockquote>", "<blockquote><p>Quoted words.</p>\n</blockquote>", id="quote"),
        pytest.param("<p><font face='Arial' size='2'><span>plain</span></font></p>", "<p>plain</p>", id="font-unwrapped"),
    ],
)
def test_sanitizing(dirty: str, clean: str) -> None:
    assert clean_body(dirty, BASE) == clean


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        pytest.param('<p><a href="/reports/X_999.html">x</a></p>', '<p><a href="https://www.spacewar.com/reports/X_999.html">x</a></p>', id="site-root-relative"),
        pytest.param('<p><a href="../reports/X_999.html">x</a></p>', '<p><a href="https://www.spacewar.com/reports/X_999.html">x</a></p>', id="dot-dot-relative"),
        pytest.param('<p><a href="Y_999_2.html">x</a></p>', '<p><a href="https://www.spacewar.com/reports/Y_999_2.html">x</a></p>', id="relative"),
        pytest.param(
            '<p><img src="//www.spxdaily.com/images-lg/a.jpg" alt="a">text</p>',
            '<p><img src="https://www.spxdaily.com/images-lg/a.jpg" alt="a">text</p>', id="protocol-relative-becomes-https",
        ),
        pytest.param(
            '<p><a href="https://other.example/page">x</a></p>', '<p><a href="https://other.example/page">x</a></p>', id="absolute-kept",
        ),
    ],
)
def test_every_url_becomes_absolute(dirty: str, clean: str) -> None:
    assert clean_body(dirty, BASE) == clean


def test_root_relative_addresses_resolve_as_absolute_url_does() -> None:
    """absolutise_urls skips urljoin for plain "/path" addresses; the result must not differ from
    absolute_url's, whatever the address holds (dot segments, empty queries and fragments, ";", spaces)."""
    pieces = ["/", ".", "..", "//", "a", "x.html", "?", "??", "?a=1", "#", "##", "#x", ";", "=", "&", ":",
              "@", "~", "%2e", "é", " ", "\t", "\\", "+", ","]
    bases = [BASE, "http://h.example:8080/a/b/c?q=1#f", "https://h.example/"]
    chooser = random.Random(7)
    values = ["/" + "".join(chooser.choice(pieces) for _ in range(chooser.randint(0, 9))) for _ in range(4000)]
    for base in bases:
        root = parse_fragment("".join(f'<a href="{html.escape(v)}">x</a>' for v in values))
        absolutise_urls(root, base)
        assert [a.get("href") for a in root.iter("a")] == [absolute_url(v, base) for v in values]


@pytest.mark.parametrize(
    ("dirty", "src"),
    [
        pytest.param('<img src="data:image/gif;base64,R0l" data-src="/img/real.jpg">', "https://www.spacewar.com/img/real.jpg", id="data-src"),
        pytest.param('<img data-original="/img/real.jpg">', "https://www.spacewar.com/img/real.jpg", id="data-original"),
        pytest.param('<img srcset="/img/s.jpg 400w, /img/l.jpg 1200w, /img/m.jpg 800w">', "https://www.spacewar.com/img/l.jpg", id="srcset-largest"),
        pytest.param('<img src="/img/spacer.gif" data-lazy-src="/img/real.jpg">', "https://www.spacewar.com/img/real.jpg", id="placeholder-src"),
    ],
)
def test_lazy_images_get_their_real_address(dirty: str, src: str) -> None:
    assert clean_body(dirty, BASE) == f'<figure><img src="{src}"></figure>'


def test_a_site_lazy_attribute_wins() -> None:
    html = '<img src="/img/small.jpg" data-full="/img/full.jpg">'
    assert clean_body(html, BASE, lazy_attr="data-full") == '<figure><img src="https://www.spacewar.com/img/full.jpg"></figure>'


def test_tracking_pixels_are_dropped() -> None:
    assert clean_body('<p>text<img src="/t.gif" width="1" height="1"></p>', BASE) == "<p>text</p>"


def test_br_runs_become_paragraphs_and_single_breaks_stay() -> None:
    html = "First paragraph.<br><br>Second,<br>with a line break.<br>\n<br>\n&nbsp;<br>Third.<br><br><br>"
    assert clean_body(html, BASE) == "<p>First paragraph.</p>\n<p>Second,<br>with a line break.</p>\n<p>Third.</p>"


def test_br_runs_split_paragraphs_inside_font_and_span_wrappers() -> None:
    html = '<font size="2"><span>One <b>bold</b> start.<br><br>Two <a href="/x">linked</a>.</span></font>'
    assert clean_body(html, BASE) == (
        '<p>One <b>bold</b> start.</p>\n<p>Two <a href="https://www.spacewar.com/x">linked</a>.</p>'
    )


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        pytest.param("Text.<br><br>- North Korean labourers -<br><br>More.", "<p>Text.</p>\n<h3>North Korean labourers</h3>\n<p>More.</p>", id="dash-subhead"),
        pytest.param("<p>-- Soviet-era allies --</p>", "<h3>Soviet-era allies</h3>", id="double-dash"),
        pytest.param("<p>– Wining and dining –</p>", "<h3>Wining and dining</h3>", id="en-dash"),
        pytest.param("<p><b>A sharper view</b></p><p>Text.</p>", "<h3>A sharper view</h3>\n<p>Text.</p>", id="bold-only-paragraph"),
        pytest.param("<p>- not a subhead, a list item</p>", "<p>- not a subhead, a list item</p>", id="one-dash"),
        pytest.param("<p><b>Note:</b> the rest.</p>", "<p><b>Note:</b> the rest.</p>", id="bold-lead-in"),
    ],
)
def test_subheads(dirty: str, clean: str) -> None:
    assert clean_body(dirty, BASE) == clean


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(
            '<img src="/i/a.jpg" alt="A"><br><font size="1"><i>Caption text.</i></font>', id="small-font-on-next-line",
        ),
        pytest.param(
            '<table><tr><td><img src="/i/a.jpg" alt="A"></td></tr><tr><td><font size="1"><i>Caption text.</i></font></td></tr></table>',
            id="image-table",
        ),
        pytest.param('<div><img src="/i/a.jpg" alt="A"><p class="caption">Caption text.</p></div>', id="caption-class"),
        pytest.param('<figure><img src="/i/a.jpg" alt="A"><figcaption>Caption text.</figcaption></figure>', id="figure"),
    ],
)
def test_images_keep_their_captions_as_figures(html: str) -> None:
    cleaned = clean_body(html, BASE)
    assert cleaned.startswith('<figure><img src="https://www.spacewar.com/i/a.jpg" alt="A"><figcaption>')
    assert "Caption text.</" in cleaned and cleaned.endswith("</figcaption></figure>")


def test_an_image_without_caption_is_a_bare_figure() -> None:
    assert clean_body('<p><img src="/i/a.jpg"></p><p>Story text.</p>', BASE) == (
        '<figure><img src="https://www.spacewar.com/i/a.jpg"></figure>\n<p>Story text.</p>'
    )


@pytest.mark.parametrize(
    "widget",
    [
        '<div class="share-bar"><a href="/s">Share on Twitter</a></div>',
        '<div id="disqus_thread"><p>Comments</p></div>',
        '<aside class="relatedPosts"><a href="/r">Other story</a></aside>',
        '<div class="newsletter-signup"><p>Sign up for our newsletter</p></div>',
        '<section class="comments"><p>First!</p></section>',
    ],
)
def test_widgets_are_dropped_by_class_or_id_words(widget: str) -> None:
    assert clean_body(f"<p>Story.</p>{widget}<p>More story.</p>", BASE) == "<p>Story.</p>\n<p>More story.</p>"


def test_a_long_content_block_survives_an_unlucky_class_name() -> None:
    text = "A sentence of the story that goes on. " * 60
    assert text.strip() in text_of(clean_body(f'<div class="article with-comments"><p>{text}</p></div>', BASE))


def test_rule_texts_cut_the_end_and_strip_blocks() -> None:
    html = "<p>Story.</p><p>Advertisement</p><p>More.</p><p>Related Links</p><p>Other things.</p>"
    assert clean_body(html, BASE, strip_text=["advertisement"], end_text=["Related Links"]) == "<p>Story.</p>\n<p>More.</p>"


def test_typographic_characters_survive() -> None:
    html = "<p>“Jean-Yves Le Drian” — São Paulo’s … café</p>"
    assert clean_body(html, BASE) == html


def test_cleaning_is_idempotent() -> None:
    html = (
        '<font size="2">Para <a href="/a">one</a>.<br><br>- Sub head -<br><br><img src="//img.example/x.jpg">'
        '<br><font size="1"><i>Cap.</i></font><br><br><ul><li>i</li></ul><blockquote>q</blockquote></font>'
    )
    once = clean_body(html, BASE)
    assert clean_body(once, BASE) == once


def test_empty_input() -> None:
    assert clean_body("", BASE) == ""
    assert clean_body("<script>x()</script>", BASE) == ""


def test_text_of_gives_paragraphs_separated_by_blank_lines() -> None:
    assert text_of("<p>One <b>two</b>.</p><h3>Sub</h3><p>Three<br>four.</p>") == "One two.\n\nSub\n\nThree\nfour."
    assert text_of("") == ""
