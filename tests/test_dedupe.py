"""Near-duplicate detection and corrections (feedsvc/dedupe.py, feedsvc/dedupe_text.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from feedsvc.dedupe import (
    FINGERPRINT_VERSION,
    MIN_WORDS,
    Fingerprint,
    Similarity,
    compare,
    duplicates,
    fingerprint,
    is_correction,
    judge,
    revises,
    same_story,
    shares_band,
)
from feedsvc.dedupe_text import is_cosmetic, normalise, paragraphs, story_words, strip_dateline

ROOT = Path(__file__).resolve().parents[1]
PAIRS = Path(__file__).parent / "fixtures" / "dedupe"

STORY = """
<p>Russia on Monday launched a Glonass-M navigation satellite from the Plesetsk cosmodrome in the country's north, the defence ministry said, as Moscow works to keep its rival to the US Global Positioning System fully operational.</p>
<p>A Soyuz-2.1b rocket with a Fregat upper stage lifted off at 0917 Moscow time (0617 GMT) and placed the satellite into its planned orbit about three and a half hours later, the ministry said in a statement.</p>
<p>Ground controllers from the Aerospace Forces took control of the spacecraft shortly after separation and reported that its systems were working normally.</p>
<p>Glonass, which was developed by the Soviet military in the 1970s and 1980s, fell into disrepair in the 1990s before being restored to full global coverage in 2011.</p>
<p>The constellation needs 24 working satellites, but several of the older spacecraft have outlived their design lifetimes and must be replaced, officials have said.</p>
"""


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dedupe_quality", ROOT / "bench" / "dedupe_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the labelled pairs


def test_precision_and_recall_on_the_labelled_pairs_are_at_least_095() -> None:
    quality_bench = bench_module()
    pairs = quality_bench.load_pairs(PAIRS)
    quality = quality_bench.evaluate(pairs)
    report = quality_bench.report(quality)
    assert len(pairs) >= 30
    labels = {pair.label for pair in pairs}
    assert labels == {"duplicate", "distinct"}
    assert quality.precision >= 0.95, report
    assert quality.recall >= 0.95, report


def test_the_pairs_cover_the_kinds_the_issue_names() -> None:
    kinds = " | ".join(pair.kind for pair in bench_module().load_pairs(PAIRS))
    for needed in ("cross-site", "headline", "added sentence", "companion", "same dateline and agency",
                   "follow-up", "same launch on the same day", "re-posted"):
        assert needed in kinds, needed


# ---------------------------------------------------------------- wording


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>One.</p><p>Two.</p>", ["One.", "Two."]),
        ("First line<br><br>Second   line", ["First line", "Second line"]),
        ("<div>Outer <b>bold</b> text<div>inner</div>tail</div>", ["Outer bold text", "inner", "tail"]),
        ("<p>\u201cQuoted\u201d \u2014 it\u2019s\u00a0here</p>", ['"Quoted" - it\'s here']),
        ("<p>Before</p><script>var x = 1;</script><p>After</p>", ["Before", "After"]),
        ("", []),
    ],
    ids=["paragraphs", "br-breaks", "nested-blocks", "typography", "script", "empty"],
)
def test_paragraphs(html: str, expected: list[str]) -> None:
    assert paragraphs(html) == expected


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("Washington (AFP) April 24, 2019 - US Secretary of State Mike Pompeo said", "US Secretary of State Mike Pompeo said"),
        ("Vladivostok, Russia (AFP) Apr 25, 2019 - Kim said", "Kim said"),
        ("Paris (ESA) April 10, 2019 - The orbiter", "The orbiter"),
        ("Denver CO (SPX) 22 April 2019 - A startup", "A startup"),
        ("The United States (US) said on April 24, 2019 that", "The United States (US) said on April 24, 2019 that"),
    ],
    ids=["afp", "place-with-comma-and-short-month", "esa", "day-first", "not-a-dateline"],
)
def test_strip_dateline(paragraph: str, expected: str) -> None:
    assert strip_dateline(paragraph) == expected


@pytest.mark.parametrize(
    ("paragraph", "cosmetic"),
    [
        ("Advertisement", True),
        ("Story continues below advertisement", True),
        ("Viewed 1,234 times", True),
        ("12 comments", True),
        ("The death toll rose to 12.", False),
        ("Kim Jong Un", False),
        ("- North Korean labourers -", False),
        ("By 2020, 24 satellites will be in orbit", False),
    ],
    ids=["ad-label", "ad-continues", "view-counter", "comment-counter", "short-sentence-with-number",
         "short-name", "subhead", "seven-words-with-numbers"],
)
def test_is_cosmetic(paragraph: str, cosmetic: bool) -> None:
    assert is_cosmetic(paragraph) is cosmetic


def test_story_words_leave_out_dateline_subheads_and_furniture() -> None:
    html = (
        "<p>Seoul (AFP) May 4, 2019 - North Korea fired projectiles on Saturday.</p>"
        "<p>- Talks stalled -</p><p>Advertisement</p><p>Viewed 99 times</p><p>Analysts said the talks had stalled.</p>"
    )
    assert story_words(html) == "north korea fired projectiles on saturday analysts said the talks had stalled".split()


def test_normalise_is_idempotent() -> None:
    text = "  \u201cA\u201d\u2013B\u00a0\u2026 "
    assert normalise(normalise(text)) == normalise(text) == '"A"-B ...'


# ---------------------------------------------------------------- fingerprints and the decision


def test_fingerprint_is_deterministic_and_survives_storage() -> None:
    made = fingerprint(STORY)
    assert made == fingerprint(STORY)
    assert made.version == FINGERPRINT_VERSION and made.comparable
    assert Fingerprint.from_bytes(made.to_bytes(), made.bands) == made


@pytest.mark.parametrize(
    "stored", [b"", b"not a fingerprint at all", fingerprint(STORY).to_bytes()[:-3]], ids=["empty", "other-bytes", "truncated"]
)
def test_from_bytes_rejects_what_is_not_a_fingerprint(stored: bytes) -> None:
    assert Fingerprint.from_bytes(stored) is None
    assert judge(fingerprint(STORY), stored) is None


def test_a_short_text_is_not_compared() -> None:
    short = fingerprint("<p>" + " ".join(["word"] * (MIN_WORDS - 1)) + "</p>")
    assert not short.comparable and short.bands == ()
    assert not duplicates(short, short)


def test_an_identical_story_is_a_duplicate_with_full_scores() -> None:
    one, other = fingerprint(STORY), fingerprint(STORY.replace("<p>", "<p> "))
    assert compare(one, other) == Similarity(1.0, 1.0, 1.0)
    assert shares_band(one, other) and duplicates(one, other)
    score = judge(one, other.to_bytes())
    assert score is not None and score > 1.0


def test_a_different_story_shares_no_band() -> None:
    other = fingerprint(
        "<p>" + " ".join(f"unrelated{i} words{i % 7} here" for i in range(60)) + "</p>"
    )
    mine = fingerprint(STORY)
    assert not shares_band(mine, other) and not duplicates(mine, other)
    assert judge(mine, other.to_bytes()) is None


@pytest.mark.parametrize(
    ("similarity", "same"),
    [
        (Similarity(jaccard=0.9, containment=0.95, opening=0.0), True),
        (Similarity(jaccard=0.5, containment=0.7, opening=0.8), True),
        (Similarity(jaccard=0.3, containment=0.95, opening=0.9), True),
        (Similarity(jaccard=0.5, containment=0.7, opening=0.1), False),
        (Similarity(jaccard=0.2, containment=0.5, opening=0.9), False),
        (Similarity(jaccard=0.05, containment=0.1, opening=0.0), False),
    ],
    ids=["near-identical-new-lead", "edited-copy", "excerpt", "follow-up-with-new-lead",
         "roundup-opening-with-the-lead", "same-event"],
)
def test_same_story_decision(similarity: Similarity, same: bool) -> None:
    assert same_story(similarity) is same


# ---------------------------------------------------------------- corrections


BODY = "<p>The ministry said 220 people would work there.</p><p>Officials \u201cwelcomed\u201d the decision.</p>"


@pytest.mark.parametrize(
    ("title", "body", "correction"),
    [
        ("Title", BODY.replace("<p>The", "<p>  The").replace("</p><p>", "</p>\n\n<p>"), False),
        ("Title", BODY.replace("</p><p>Officials", "</p><p>Advertisement</p><p>Officials"), False),
        ("Title", BODY + "<p>Viewed 1,234 times</p>", False),
        ("Title", BODY.replace("\u201c", "\"").replace("\u201d", "\""), False),
        ("Title", BODY.replace("</p><p>", " "), False),
        ("Title", BODY.replace("220", "250"), True),
        ("Title", BODY.replace("welcomed", "criticised"), True),
        ("Title", BODY + "<p>The ministry later denied the report.</p>", True),
        ("Corrected title", BODY, True),
    ],
    ids=["whitespace", "ad-label", "counter", "straight-quotes", "paragraph-break", "changed-number",
         "changed-word", "added-paragraph", "changed-title"],
)
def test_is_correction(title: str, body: str, correction: bool) -> None:
    assert is_correction("Title", BODY, title, body) is correction
    assert revises(title, body, "Title", BODY) is correction
