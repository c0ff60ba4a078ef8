"""Milliseconds per page of extraction (rules path and fallback), on the fixture pages.

    .venv/bin/python bench/extract_speed.py [--rounds N]

Rules path: every article page of the fixture origin (tests/fixtures/origin) with
config/rules/spacemedia.txt. Fallback: every page of the development set
(tests/fixtures/devset), with no rules. Each figure is the median of N rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from feedsvc.extract import extract_article
from feedsvc.rules.parser import parse_rules

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = ROOT / "tests" / "fixtures" / "origin"
DEVSET = ROOT / "tests" / "fixtures" / "devset"


def origin_pages() -> list[tuple[str, str]]:
    manifest = json.loads((ORIGIN / "manifest.json").read_text(encoding="utf-8"))
    pages = []
    for article in manifest["articles"]:
        raw = (ORIGIN / article["site"] / article["path"].lstrip("/")).read_bytes()
        encoding = "cp1252" if article["encoding"].lower() in ("windows-1252", "cp1252") else article["encoding"]
        pages.append((raw.decode(encoding), manifest["sites"][article["site"]]["url"].rstrip("/") + article["path"]))
    return pages


def devset_pages() -> list[tuple[str, str]]:
    if not (DEVSET / "index.json").exists():
        return []
    index = json.loads((DEVSET / "index.json").read_text(encoding="utf-8"))
    return [((DEVSET / item["file"]).read_text(encoding="utf-8"), item["url"]) for item in index["pages"]]


def ms_per_page(pages: list[tuple[str, str]], run: Callable[[str, str], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for html, url in pages:
            run(html, url)
        timings.append((time.perf_counter() - start) * 1000 / len(pages))
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rules, _ = parse_rules((ROOT / "config" / "rules" / "spacemedia.txt").read_text(encoding="utf-8"), "spacemedia")
    origin = origin_pages()
    print(f"rules path (spacemedia.txt), {len(origin)} fixture pages: "
          f"{ms_per_page(origin, lambda h, u: extract_article(h, u, rules), args.rounds):.2f} ms/page")
    dev = devset_pages()
    if dev:
        print(f"fallback (no rules), {len(dev)} devset pages: "
              f"{ms_per_page(dev, lambda h, u: extract_article(h, u, None), args.rounds):.2f} ms/page")


if __name__ == "__main__":
    main()
