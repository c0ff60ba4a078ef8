"""``feedsvc rules check DIR...``: load rule folders and report every problem.

The report lists one line per problem, ``file:line: warning|error: message``
(line 0 when the problem is about the whole file or folder), then
``N files, N loaded, N warnings, N errors``. A check passes when no file
failed to load (``report.failed == 0``): a file that cannot be read, or a
folder that cannot be listed. Warnings and rule errors (a skipped directive)
do not fail it, so a checkout of the whole ftr-site-config corpus passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from feedsvc.rules.book import RuleBook
from feedsvc.rules.model import Problem


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    files: int
    loaded: int
    failed: int

    @property
    def warnings(self) -> int:
        return sum(1 for problem in self.problems if problem.level == "warning")

    @property
    def errors(self) -> int:
        return sum(1 for problem in self.problems if problem.level == "error")

    @property
    def ok(self) -> bool:
        return self.failed == 0


def check_dirs(dirs: Sequence[str | Path]) -> CheckReport:
    book = RuleBook.load(dirs)
    return CheckReport(list(book.problems), book.files, book.loaded, book.failed)


def format_report(report: CheckReport) -> str:
    lines = [str(problem) for problem in report.problems]
    lines.append(
        f"{report.files} files, {report.loaded} loaded, "
        f"{report.warnings} warnings, {report.errors} errors"
    )
    return "\n".join(lines)
