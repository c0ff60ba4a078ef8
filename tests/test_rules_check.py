"""Specification of ``feedsvc rules check`` (feedsvc.rules.check)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feedsvc.rules.check import CheckReport, check_dirs, format_report
from feedsvc.rules.model import Problem

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
BAD = FIXTURES / "bad"

# Every problem the handwritten bad files hold: (file, line, level, part of the message).
EXPECTED_BAD = [
    ("legacy.example.txt", 2, "warning", "directive dissolve is not applied"),
    ("legacy.example.txt", 3, "warning", "directive convert_double_br_tags is not applied"),
    ("legacy.example.txt", 4, "warning", "directive requires_login is not applied"),
    ("legacy.example.txt", 5, "warning", "directive login_uri is not applied"),
    ("legacy.example.txt", 7, "warning", "directive move_into is not applied"),
    ("malformed.example.txt", 3, "warning", "not a 'directive: value' line"),
    ("malformed.example.txt", 4, "warning", "prune must be yes or no"),
    ("malformed.example.txt", 5, "warning", "title needs a value"),
    ("malformed.example.txt", 6, "warning", "unknown directive 'frobnicate'"),
    ("malformed.example.txt", 7, "warning", "replace_string without a find_string"),
    ("malformed.example.txt", 8, "warning", "test_contains without a test_url"),
    ("malformed.example.txt", 9, "warning", "if_page_contains follows no single_page_link"),
    ("malformed.example.txt", 10, "warning", "body takes no argument"),
    ("malformed.example.txt", 11, "warning", "http_header needs an argument"),
    ("malformed.example.txt", 12, "warning", "http_header(x-forwarded-for) is not supported"),
    ("malformed.example.txt", 13, "warning", "wrap_in('script') is not supported"),
    ("malformed.example.txt", 14, "warning", "has no replace_string after it"),
    ("syntax.example.txt", 3, "error", "body: invalid XPath"),
    ("syntax.example.txt", 4, "error", "ends-with() is not an XPath 1.0 function"),
    ("syntax.example.txt", 5, "error", "Undefined namespace prefix"),
    ("syntax.example.txt", 6, "error", "Invalid type"),
    ("syntax.example.txt", 8, "error", "the single_page_link it guards are skipped"),
    ("syntax.example.txt", 9, "error", "article_url: invalid regular expression"),
    ("syntax.example.txt", 11, "error", "variables are not supported"),
]
LINE = re.compile(r"(?P<file>.+):(?P<line>\d+): (?P<level>warning|error): (?P<message>.+)\Z")
SUMMARY = re.compile(r"(\d+) files, (\d+) loaded, (\d+) warnings, (\d+) errors\Z")


def test_report_on_the_bad_files_names_every_problem_with_file_and_line() -> None:
    report = check_dirs([BAD])
    found = [(Path(p.source).name, p.line, p.level, p.message) for p in report.problems]
    assert len(found) == len(EXPECTED_BAD)
    for (name, line, level, message), (want_name, want_line, want_level, fragment) in zip(found, EXPECTED_BAD):
        assert (name, line, level) == (want_name, want_line, want_level)
        assert fragment in message


def test_bad_files_still_load() -> None:
    report = check_dirs([BAD])
    files = len(list(BAD.glob("*.txt")))
    warnings = sum(1 for *_, level, _ in EXPECTED_BAD if level == "warning")
    errors = len(EXPECTED_BAD) - warnings
    assert (report.files, report.loaded, report.failed, report.ok) == (files, files, 0, True)
    assert (report.warnings, report.errors) == (warnings, errors)


def test_report_format_one_line_per_problem_then_the_counts() -> None:
    report = check_dirs([BAD])
    lines = format_report(report).split("\n")
    assert len(lines) == len(report.problems) + 1
    for text, problem in zip(lines, report.problems):
        match = LINE.match(text)
        assert match is not None, text
        assert (match["file"], int(match["line"]), match["level"]) == (problem.source, problem.line, problem.level)
        assert match["file"] == str(BAD / Path(problem.source).name)
    summary = SUMMARY.match(lines[-1])
    assert summary is not None, lines[-1]
    assert tuple(int(n) for n in summary.groups()) == (report.files, report.loaded, report.warnings, report.errors)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        pytest.param(CheckReport([], 0, 0, 0), "0 files, 0 loaded, 0 warnings, 0 errors", id="empty"),
        pytest.param(
            CheckReport([Problem("a.txt", 3, "warning", "w"), Problem("b.txt", 0, "error", "e")], 2, 1, 1),
            "a.txt:3: warning: w\nb.txt:0: error: e\n2 files, 1 loaded, 1 warnings, 1 errors",
            id="one of each",
        ),
    ],
)
def test_format_report(report: CheckReport, expected: str) -> None:
    assert format_report(report) == expected


def test_the_sample_corpus_checks_without_errors() -> None:
    report = check_dirs([FIXTURES / "ftr-sample"])
    files = len([p for p in (FIXTURES / "ftr-sample").glob("*.txt") if p.name != "LICENSE.txt"])
    assert (report.files, report.loaded, report.errors, report.ok) == (files, files, 0, True)
    assert all(p.level == "warning" and "is not applied" in p.message for p in report.problems)


def test_several_folders_are_checked_together() -> None:
    report = check_dirs([FIXTURES / "ftr-sample", BAD])
    alone = [check_dirs([FIXTURES / "ftr-sample"]), check_dirs([BAD])]
    assert report.files == sum(r.files for r in alone)
    assert report.problems == alone[0].problems + alone[1].problems


def test_a_file_that_cannot_be_read_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "example.com.txt").write_text("body: //article\n")
    (tmp_path / "directory.example.txt").mkdir()
    report = check_dirs([tmp_path])
    assert (report.files, report.loaded, report.failed, report.ok) == (2, 1, 1, False)
    assert format_report(report).split("\n")[0].startswith(f"{tmp_path / 'directory.example.txt'}:0: error: ")


def test_a_missing_folder_fails_the_check(tmp_path: Path) -> None:
    report = check_dirs([tmp_path / "missing"])
    assert (report.files, report.failed, report.ok, report.errors) == (0, 1, False, 1)
    assert format_report(report).startswith(f"{tmp_path / 'missing'}:0: error: cannot list rule folder")
