"""Body-text quality of automatic extraction: feedsvc's fallback against plain readability-lxml.

    .venv/bin/python bench/extract_quality.py [--devset DIR] [--pages]

Runs both extractors, in the same run, on every page of the development set
(tests/fixtures/devset: news pages in many layouts, each with its expected body
text; see build_devset.py there) and scores each page's body text by token
overlap with the expected text: precision (share of the extracted words that
belong to the story), recall (share of the story's words extracted) and F1.
Words are lower-cased ``\\w+`` runs, counted with multiplicity. The summary
gives the mean over pages and the F1 of all pages pooled; ``--pages`` prints
every page's scores too.

feedsvc: ``extract_article(html, url, rules=None)`` (no site rules: the fallback),
body text as ``feedsvc.clean.text_of`` reads it. readability-lxml:
``Document(html).summary()``, its text content. If trafilatura is importable it
is scored as well (it is not a dependency of feedsvc).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lxml.html
from readability import Document

from feedsvc.clean import text_of
from feedsvc.errors import ExtractError
from feedsvc.extract import extract_article

ROOT = Path(__file__).resolve().parents[1]
DEVSET = ROOT / "tests" / "fixtures" / "devset"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    overlap: int
    predicted: int
    expected: int


def tokens(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def score(predicted: str, expected: str) -> Score:
    got, want = tokens(predicted), tokens(expected)
    overlap = sum((got & want).values())
    n_got, n_want = sum(got.values()), sum(want.values())
    precision = overlap / n_got if n_got else 0.0
    recall = overlap / n_want if n_want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, overlap, n_got, n_want)


def feedsvc_text(html: str, url: str) -> str:
    try:
        return text_of(extract_article(html, url, None).body_html)
    except ExtractError:
        return ""


def readability_text(html: str, url: str) -> str:
    summary = Document(html, url=url).summary()
    return lxml.html.fromstring(summary).text_content() if summary.strip() else ""


def trafilatura_extractor() -> Callable[[str, str], str] | None:
    try:
        import trafilatura  # type: ignore[import-not-found]
    except ImportError:
        return None

    def run(html: str, url: str) -> str:
        return trafilatura.extract(html, url=url, include_comments=False, include_tables=True) or ""

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devset", type=Path, default=DEVSET, help="development set folder (with index.json)")
    parser.add_argument("--pages", action="store_true", help="print every page's scores")
    args = parser.parse_args()
    index = json.loads((args.devset / "index.json").read_text(encoding="utf-8"))["pages"]
    extractors: dict[str, Callable[[str, str], str]] = {"feedsvc": feedsvc_text, "readability": readability_text}
    extra = trafilatura_extractor()
    if extra is not None:
        extractors["trafilatura"] = extra
    results: dict[str, list[Score]] = {name: [] for name in extractors}
    seconds: dict[str, float] = {name: 0.0 for name in extractors}
    rows = []
    for item in index:
        html = (args.devset / item["file"]).read_text(encoding="utf-8")
        expected = (args.devset / item["expected"]).read_text(encoding="utf-8")
        row = [Path(item["file"]).stem[:46]]
        for name, extract in extractors.items():
            start = time.perf_counter()
            text = extract(html, item["url"])
            seconds[name] += time.perf_counter() - start
            result = score(text, expected)
            results[name].append(result)
            row.append(f"{result.precision:5.2f} {result.recall:5.2f} {result.f1:5.2f}")
        rows.append(row)
    names = list(extractors)
    if args.pages:
        print(f"{'page':46}  " + "  ".join(f"{name + ' P R F1':17}" for name in names))
        for row in rows:
            print(f"{row[0]:46}  " + "  ".join(f"{cell:17}" for cell in row[1:]))
        print()
    print(f"{len(index)} pages of {args.devset.name}; body-text tokens, same run")
    print(f"{'extractor':12} {'precision':>9} {'recall':>7} {'F1 (mean)':>9} {'F1 (pooled)':>11} {'F1<0.8':>6} {'ms/page':>8}")
    for name in names:
        scores = results[name]
        overlap = sum(s.overlap for s in scores)
        predicted = sum(s.predicted for s in scores)
        expected = sum(s.expected for s in scores)
        pooled_p = overlap / predicted if predicted else 0.0
        pooled_r = overlap / expected if expected else 0.0
        pooled = 2 * pooled_p * pooled_r / (pooled_p + pooled_r) if pooled_p + pooled_r else 0.0
        print(
            f"{name:12} {statistics.mean(s.precision for s in scores):9.3f} {statistics.mean(s.recall for s in scores):7.3f}"
            f" {statistics.mean(s.f1 for s in scores):9.3f} {pooled:11.3f} {sum(1 for s in scores if s.f1 < 0.8):6d}"
            f" {1000 * seconds[name] / len(index):8.1f}"
        )


if __name__ == "__main__":
    main()
