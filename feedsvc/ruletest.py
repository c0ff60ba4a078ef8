"""``feedsvc rules test [HOST|FILE]``: run rule files' ``test_url`` / ``test_contains`` checks.

A rule file may carry sample pages: ``test_url: URL`` and, after it, the
``test_contains: text`` lines its extraction must hold. Each test extracts the
page with the file's rules (plus ``global.txt``) and looks for every text in
the title and body, compared loosely (case, spacing, curly quotes and dashes do
not matter). A test without ``test_contains`` passes when the page yields an
article at all.

Pages come from a folder of saved pages (``--pages DIR``), or are fetched (for
a deployer with network; the site's ``http_header`` lines are sent). A saved
pages folder holds the pages and ``pages.json``, a mapping of URL to file name
(relative to the folder); a page missing from the mapping is looked up as the
URL percent-encoded whole (``https%3A%2F%2F...``) with ``.html`` appended.

The result is one row per test: ``pass``, ``fail`` (which texts are missing),
``missing`` (no saved page) or ``error`` (fetching or extraction failed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from feedsvc.charset import decode
from feedsvc.clean import text_of
from feedsvc.errors import FeedsvcError
from feedsvc.extract import extract_article
from feedsvc.fetch import Fetcher, new_session
from feedsvc.models import FetchSettings
from feedsvc.rules.book import RuleBook, rule_name
from feedsvc.rules.model import Problem, RuleTest, SiteRules
from feedsvc.rules.parser import parse_rules
from feedsvc.textmatch import fold

log = logging.getLogger(__name__)

PAGES_INDEX = "pages.json"
#: Fetches one page: (url, request headers) -> decoded text. Raises FeedsvcError.
PageSource = Callable[[str, dict[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class TestResult:
    rule_file: str
    url: str
    status: str  # "pass" | "fail" | "missing" | "error"
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass(frozen=True)
class RuleSet:
    """One rule file to test: its name and rules."""

    name: str
    rules: SiteRules


def select_rule_sets(target: str | None, book: RuleBook) -> tuple[list[RuleSet], list[Problem]]:
    """The rule files ``target`` names: a rule file's path, a host, a rule name, or (None) every file."""
    if target is None:
        return [RuleSet(name, rules) for name, rules in sorted(book.sites.items()) if rules.tests], []
    path = Path(target)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise FeedsvcError(f"cannot read rule file {target}: {exc.strerror or exc}") from exc
        rules, problems = parse_rules(text, str(path))
        return [RuleSet(rule_name(path), rules)], problems
    found = book.by_name(target) or book.for_host(target)
    if found is None:
        raise FeedsvcError(f"no rule file for {target!r} (not a file, a rule name or a host with rules)")
    name = next((key for key, value in book.sites.items() if value is found), target)
    return [RuleSet(name, found)], []


def saved_pages(folder: Path) -> Callable[[str], str | None]:
    """A lookup of saved pages by URL in ``folder`` (see the module docstring)."""
    mapping: dict[str, str] = {}
    index = folder / PAGES_INDEX
    if index.is_file():
        try:
            loaded = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FeedsvcError(f"cannot read {index}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise FeedsvcError(f"{index} must map page URLs to file names")
        mapping = {str(url): str(name) for url, name in loaded.items()}

    def lookup(url: str) -> str | None:
        for name in (mapping.get(url), quote(url, safe="") + ".html"):
            if name and (folder / name).is_file():
                return decode((folder / name).read_bytes(), None)[0]
        return None

    return lookup


def check_page(rule_set: RuleSet, test: RuleTest, html: str, global_rules: SiteRules | None) -> TestResult:
    """Extract ``html`` as ``test.url`` with the rules and look for every ``test_contains`` text."""
    try:
        article = extract_article(html, test.url, rule_set.rules, global_rules)
    except FeedsvcError as exc:
        return TestResult(rule_set.name, test.url, "error", str(exc))
    found = fold(" ".join((article.title, text_of(article.body_html))))
    missing = [text for text in test.contains if fold(text) not in found]
    if missing:
        return TestResult(rule_set.name, test.url, "fail", "missing: " + "; ".join(repr(m) for m in missing))
    return TestResult(rule_set.name, test.url, "pass", f"{len(test.contains)} texts found" if test.contains else "article found")


async def run_tests(
    rule_sets: Sequence[RuleSet],
    global_rules: SiteRules | None,
    *,
    pages: Callable[[str], str | None] | None = None,
    fetch: PageSource | None = None,
) -> list[TestResult]:
    """Every test of every rule set, on saved ``pages`` or, without them, on fetched ones."""
    results: list[TestResult] = []
    for rule_set in rule_sets:
        headers = dict(rule_set.rules.http_header)
        for test in rule_set.rules.tests:
            html: str | None = None
            if pages is not None:
                html = pages(test.url)
                if html is None:
                    results.append(TestResult(rule_set.name, test.url, "missing", "no saved page"))
                    continue
            elif fetch is not None:
                try:
                    html = await fetch(test.url, headers)
                except FeedsvcError as exc:
                    results.append(TestResult(rule_set.name, test.url, "error", str(exc)))
                    continue
            else:
                results.append(TestResult(rule_set.name, test.url, "missing", "no page source"))
                continue
            results.append(check_page(rule_set, test, html, global_rules))
    return results


def format_results(results: Sequence[TestResult]) -> str:
    """A pass/fail table, then ``N tests, N passed, N failed``."""
    rows = [("RESULT", "RULE FILE", "TEST URL", "DETAIL")] + [
        (r.status.upper(), r.rule_file, r.url, r.detail) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
    passed = sum(1 for r in results if r.passed)
    lines.append(f"{len(results)} tests, {passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


async def rules_test(
    target: str | None, rule_dirs: Sequence[str], *, pages_dir: str | None, fetch_settings: FetchSettings
) -> tuple[list[TestResult], list[Problem]]:
    """The ``rules test`` command's work: select the rule files, then run their tests."""
    book = RuleBook.load(list(rule_dirs))
    rule_sets, problems = select_rule_sets(target, book)
    if pages_dir is not None:
        folder = Path(pages_dir)
        if not folder.is_dir():
            raise FeedsvcError(f"--pages {pages_dir}: not a folder")
        return await run_tests(rule_sets, book.global_rules, pages=saved_pages(folder)), problems
    async with new_session(fetch_settings) as session:
        fetcher = Fetcher(fetch_settings, session)

        async def fetch(url: str, headers: dict[str, str]) -> str:
            return (await fetcher.fetch(url, headers=headers)).text

        return await run_tests(rule_sets, book.global_rules, fetch=fetch), problems
