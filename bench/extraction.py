"""Point 4: extraction throughput on one core, rules path vs readability-lxml.

The same fixture article pages, decoded as the pipeline decodes them, go
through feedsvc's rules path (``pipeline.extract_page``: parse once, site
rules, companion stories, cleaning) and through readability-lxml's
``Document(html).summary()``, in alternating rounds in this one process (one
core). A cProfile pass over the rules path names its hot spots.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from readability import Document

from bench.fixture_origin import FIXTURE_TREE
from bench.report import Figure, Report
from feedsvc.charset import decode
from feedsvc.pipeline import extract_page, prepare_cpu_worker
from feedsvc.rules.book import RuleBook

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ExtractionPlan:
    rounds: int
    repeat: int  # passes over the pages per timed round


QUICK = ExtractionPlan(rounds=3, repeat=1)
FULL = ExtractionPlan(rounds=9, repeat=4)


def fixture_pages() -> list[tuple[str, str]]:
    """(decoded html, page URL) of every article page of the fixture origin."""
    manifest = json.loads((FIXTURE_TREE / "manifest.json").read_text(encoding="utf-8"))
    pages = []
    for article in manifest["articles"]:
        raw = (FIXTURE_TREE / article["site"] / article["path"].lstrip("/")).read_bytes()
        url = manifest["sites"][article["site"]]["url"].rstrip("/") + article["path"]
        pages.append((decode(raw, None)[0], url))
    return pages


async def run(report: Report, plan: ExtractionPlan, log: Callable[[str], None]) -> None:
    pages = fixture_pages()
    book = RuleBook.load([str(ROOT / "config" / "rules")])
    rules = book.by_name("spacemedia")
    if rules is None:
        raise RuntimeError("config/rules has no spacemedia rule file")

    def rules_path() -> None:
        for html, url in pages:
            extract_page(html, url, url, rules, book.global_rules)

    def readability_path() -> None:
        for html, _ in pages:
            Document(html).summary()

    rules_path()
    readability_path()  # warm both (imports, compiled XPath and regex caches)
    prepare_cpu_worker()  # as the service's CPU workers run (garbage collector settings)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(plan.rounds):
        ours.append(_pages_per_second(rules_path, len(pages), plan.repeat))
        theirs.append(_pages_per_second(readability_path, len(pages), plan.repeat))
    value, base = statistics.median(ours), statistics.median(theirs)
    figure = report.add(Figure("4", "extraction, rules path (extract + clean)", value, "pages/s", base,
                               "readability-lxml summary()", ">= 3x", None,
                               f"{len(pages)} fixture pages, one core (CPU time), median of {plan.rounds} alternating rounds; "
                               f"{1000 / value:.2f} vs {1000 / base:.2f} ms/page"))
    figure.met = figure.ratio is not None and figure.ratio >= 3.0
    log(f"extraction: {value:.0f} vs {base:.0f} pages/s ({figure.ratio or 0:.2f}x)")
    hot = hot_spots(rules_path)
    report.details["extraction_hot_spots"] = hot
    figure.note += "; hot spots (own time): " + ", ".join(f"{h['function']} {h['share']:.0%}" for h in hot[:6])


def _pages_per_second(work: Callable[[], None], pages: int, repeat: int) -> float:
    """Pages per second of this process's CPU time (one core): on a shared machine, wall time
    also counts the moments other tenants hold the core, unevenly between the two paths."""
    started = time.process_time()
    for _ in range(repeat):
        work()
    return pages * repeat / (time.process_time() - started)


def hot_spots(work: Callable[[], None], top: int = 15) -> list[dict[str, object]]:
    """The functions with the most own time in ``work`` (cProfile), with their share of the total."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(3):
        work()
    profile.disable()
    stats = pstats.Stats(profile)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        own, cumulative = entry[2], entry[3]
        rows.append({
            "function": f"{_short(filename)}:{name}",
            "line": line,
            "own_s": round(own, 4),
            "cumulative_s": round(cumulative, 4),
            "share": own / total if total else 0.0,
        })
    rows.sort(key=lambda r: float(str(r["own_s"])), reverse=True)
    return rows[:top]


def _short(filename: str) -> str:
    path = Path(filename)
    if "feedsvc" in path.parts:
        return "feedsvc/" + "/".join(path.parts[path.parts.index("feedsvc") + 1:])
    if "site-packages" in path.parts:
        return "/".join(path.parts[path.parts.index("site-packages") + 1:])
    return path.name
