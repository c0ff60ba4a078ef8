"""Specification of companion story splitting (feedsvc.companions)."""

from __future__ import annotations

from datetime import date

import lxml.html

from feedsvc.blocks import linearise
from feedsvc.companions import Companion, split_companions
from feedsvc.storyhead import find_head

HEAD = "<h1>Main headline of the story</h1>By A. WRITER<br>Paris (AFP) May 2, 2019<br><br>"
STORY = "Main one.<br><br>Main two.<br><br>Main three.<br><br>"


def split(html: str) -> tuple[list[str], list[Companion]]:
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    head = find_head(linearise(root), title_hints=["Main headline of the story"])
    main, companions = split_companions(head.body, marks=head.marks, roots=[root])
    return [block.text for block in main], companions


def texts(companion: Companion) -> list[str]:
    return [block.text for block in companion.blocks]


def test_a_boxed_companion_before_the_story() -> None:
    html = HEAD + (
        '<table align="right"><tr><td><font><b>Side story title</b><br>'
        "Washington (AFP) May 1, 2019 - Side one.<br><br>Side two.<br><br></font></td></tr></table>"
    ) + STORY
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two.", "Main three."]
    assert companion.title == "Side story title"
    assert (companion.dateline.place, companion.dateline.agency, companion.dateline.day) == ("Washington", "AFP", date(2019, 5, 1))
    assert texts(companion) == ["Side one.", "Side two."]
    assert companion.boxed


def test_a_boxed_companion_after_the_story_with_paragraphs() -> None:
    html = HEAD + STORY + (
        '<div style="border: 1px solid"><p><b>Side story title</b></p>'
        "<p>Seoul (AFP) May 2, 2019 - Side one.</p><p>- Side subhead -</p><p>Side two.</p></div>"
        "<p>Related Links</p>"
    )
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two.", "Main three.", "Related Links"]
    assert texts(companion) == ["Side one.", "- Side subhead -", "Side two."]


def test_the_title_may_sit_in_its_own_row_of_the_box() -> None:
    html = HEAD + (
        "<table border='1'><tr><td><b>Side story title</b></td></tr>"
        "<tr><td><p>Islamabad (AFP) Dec 9, 2018 - Side one.</p><p>Side two.</p></td></tr></table>"
    ) + STORY
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two.", "Main three."]
    assert texts(companion) == ["Side one.", "Side two."]


def test_without_a_box_only_the_title_and_first_paragraph_are_taken() -> None:
    html = HEAD + "<b>Side story title</b><br><br>Washington (AFP) May 1, 2019 - Side one.<br><br>" + STORY
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two.", "Main three."]
    assert texts(companion) == ["Side one."]
    assert not companion.boxed


def test_a_box_holding_the_whole_rest_is_the_story_s_not_the_companion_s() -> None:
    html = HEAD + "<div><b>Side story title</b><br>Washington (AFP) May 1, 2019 - Side one.<br><br>" + STORY + "</div>"
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two.", "Main three."]
    assert texts(companion) == ["Side one."]


def test_an_opening_dateline_without_a_title_is_not_a_companion() -> None:
    html = HEAD + "Main one ends here.<br><br>Washington (AFP) May 1, 2019 - a quoted wire paragraph.<br><br>"
    main, companions = split(html)
    assert companions == []
    assert main == ["Main one ends here.", "Washington (AFP) May 1, 2019 - a quoted wire paragraph."]


def test_two_boxed_companions() -> None:
    box = '<table><tr><td><b>{title}</b><br>{place} (AFP) May 1, 2019 - {text}<br><br>More {text}</td></tr></table>'
    html = HEAD + box.format(title="First side story", place="Tokyo", text="first") + STORY + box.format(
        title="Second side story", place="Seoul", text="second"
    )
    main, companions = split(html)
    assert main == ["Main one.", "Main two.", "Main three."]
    assert [(c.title, c.dateline.place, texts(c)) for c in companions] == [
        ("First side story", "Tokyo", ["first", "More first"]),
        ("Second side story", "Seoul", ["second", "More second"]),
    ]


def test_two_companions_sharing_one_box_are_each_taken_conservatively() -> None:
    html = HEAD + STORY + (
        "<div><b>First side story</b><br>Tokyo (AFP) May 1, 2019 - first<br><br>More first<br><br>"
        "<b>Second side story</b><br>Seoul (AFP) May 1, 2019 - second<br><br>More second</div>"
    )
    main, companions = split(html)
    assert [texts(c) for c in companions] == [["first"], ["second"]]
    assert main == ["Main one.", "Main two.", "Main three.", "More first", "More second"]


def test_a_box_named_by_the_rules_is_taken_as_is() -> None:
    html = HEAD + STORY + "<div class='side'><b>Side story title</b><br>Tokyo (AFP) May 1, 2019 - first<br><br>More</div>"
    root = lxml.html.fragment_fromstring(html + "<p>After.</p>", create_parent="div")
    head = find_head(linearise(root), title_hints=["Main headline of the story"])
    main, (companion,) = split_companions(
        head.body, marks=head.marks, roots=[root], boxes=root.xpath("//div[@class='side']")
    )
    assert texts(companion) == ["first", "More"]
    assert [block.text for block in main] == ["Main one.", "Main two.", "Main three.", "After."]


def test_story_lines_before_a_companion_title_in_the_same_block_stay() -> None:
    html = HEAD + "Main one.<br>Side story title<br>Washington (AFP) May 1, 2019 - Side one.<br><br>Main two."
    main, (companion,) = split(html)
    assert main == ["Main one.", "Main two."]
    assert companion.title == "Side story title" and texts(companion) == ["Side one."]
