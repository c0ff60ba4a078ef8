"""Precision and recall of near-duplicate detection on the labelled pairs.

Usage: ``python bench/dedupe_quality.py [FOLDER]`` (default: tests/fixtures/dedupe).

Each pair file holds two stories and a label, ``duplicate`` (the same story: a
cross-site wire copy with edits, a companion against its standalone page, a
re-post) or ``distinct`` (two reports of one event, the same dateline and agency,
a follow-up that quotes the first story). A pair counts as detected when the
store would merge it: the two fingerprints share an LSH band key (the store
only compares stories that do) and the same-story decision says yes.

File format::

    label: duplicate | distinct
    kind: what kind of pair this is
    note: optional

    === A URL
    title: ...
    dateline: ...

    paragraph

    paragraph
    === B URL
    ...
"""

from __future__ import annotations

import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from feedsvc.dedupe import Similarity, compare, duplicates, fingerprint, shares_band  # noqa: E402

DEFAULT_FOLDER = ROOT / "tests" / "fixtures" / "dedupe"
LABELS = ("duplicate", "distinct")


@dataclass(frozen=True)
class Side:
    url: str
    title: str
    dateline: str
    body_html: str


@dataclass(frozen=True)
class Pair:
    name: str
    label: str
    kind: str
    a: Side
    b: Side

    @property
    def is_duplicate(self) -> bool:
        return self.label == "duplicate"


@dataclass(frozen=True)
class Outcome:
    pair: Pair
    detected: bool
    candidate: bool
    similarity: Similarity


@dataclass(frozen=True)
class Quality:
    outcomes: tuple[Outcome, ...]

    @property
    def true_positives(self) -> int:
        return sum(o.detected and o.pair.is_duplicate for o in self.outcomes)

    @property
    def false_positives(self) -> int:
        return sum(o.detected and not o.pair.is_duplicate for o in self.outcomes)

    @property
    def false_negatives(self) -> int:
        return sum(not o.detected and o.pair.is_duplicate for o in self.outcomes)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def load_pairs(folder: Path = DEFAULT_FOLDER) -> list[Pair]:
    pairs = [_parse(path) for path in sorted(folder.glob("*.txt"))]
    if not pairs:
        raise SystemExit(f"no pair files (*.txt) in {folder}")
    return pairs


def _parse(path: Path) -> Pair:
    text = path.read_text(encoding="utf-8")
    header, *sides = re.split(r"^=== ", text, flags=re.MULTILINE)
    fields = dict(line.split(": ", 1) for line in header.strip().splitlines())
    if fields.get("label") not in LABELS or len(sides) != 2:
        raise ValueError(f"{path.name}: needs 'label: duplicate|distinct' and two '=== A/B URL' sides")
    a, b = (_side(path, chunk) for chunk in sides)
    return Pair(path.stem, fields["label"], fields.get("kind", ""), a, b)


def _side(path: Path, chunk: str) -> Side:
    first, _, rest = chunk.partition("\n")
    url = first.split(maxsplit=1)[1].strip()
    head, _, body = rest.strip("\n").partition("\n\n")
    meta = dict(line.split(": ", 1) for line in head.splitlines())
    if "title" not in meta:
        raise ValueError(f"{path.name}: side {url} has no title line")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    body_html = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    return Side(url, meta["title"], meta.get("dateline", ""), body_html)


def evaluate(pairs: list[Pair]) -> Quality:
    outcomes = []
    for pair in pairs:
        fa, fb = fingerprint(pair.a.body_html), fingerprint(pair.b.body_html)
        outcomes.append(Outcome(pair, duplicates(fa, fb), shares_band(fa, fb), compare(fa, fb)))
    return Quality(tuple(outcomes))


def report(quality: Quality) -> str:
    lines = [f"{'pair':<52} {'label':<9} {'found':<5} {'band':<4} {'jacc':>5} {'cont':>5} {'open':>5}"]
    for o in quality.outcomes:
        wrong = "" if o.detected == o.pair.is_duplicate else "  <-- wrong"
        s = o.similarity
        lines.append(
            f"{o.pair.name[:52]:<52} {o.pair.label:<9} {'yes' if o.detected else 'no':<5} "
            f"{'yes' if o.candidate else 'no':<4} {s.jaccard:5.2f} {s.containment:5.2f} {s.opening:5.2f}{wrong}"
        )
    dups = sum(o.pair.is_duplicate for o in quality.outcomes)
    lines.append(
        f"{len(quality.outcomes)} pairs ({dups} duplicate, {len(quality.outcomes) - dups} distinct): "
        f"TP {quality.true_positives}, FP {quality.false_positives}, FN {quality.false_negatives}"
    )
    lines.append(f"precision {quality.precision:.3f}  recall {quality.recall:.3f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_FOLDER
    print(report(evaluate(load_pairs(folder))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
