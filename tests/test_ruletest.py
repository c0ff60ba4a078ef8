"""Specification of ``feedsvc rules test [HOST|FILE]`` (feedsvc.ruletest): rule files' own sample checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from feedsvc.cli import main
from feedsvc.rules.book import RuleBook
from feedsvc.ruletest import format_results, saved_pages, select_rule_sets
from feedsvc.errors import FeedsvcError

CASES = Path(__file__).parent / "fixtures" / "rules" / "directives"
URL = "https://news.example.com/2024/05/02/harbour-bridge-reopens"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rule folder with one passing and one failing sample test, and its saved pages."""
    folder = tmp_path / "rules"
    folder.mkdir()
    shutil.copy(CASES / "test_url" / "news.example.com.txt", folder / "news.example.com.txt")
    shutil.copy(CASES / "test_contains" / "news.example.com.txt", folder / "failing.example.com.txt")
    pages = tmp_path / "pages"
    pages.mkdir()
    shutil.copy(CASES / "test_url" / "page.html", pages / "bridge.html")
    (pages / "pages.json").write_text(json.dumps({URL: "bridge.html"}), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("target", "code", "rows"),
    [
        pytest.param("news.example.com", 0, ["PASS    news.example.com"], id="host-passes"),
        pytest.param("www.news.example.com", 0, ["PASS    news.example.com"], id="www-host-matches-the-file"),
        pytest.param("failing.example.com", 1, ["FAIL    failing.example.com", "missing: 'the bridge will close"], id="host-fails"),
        pytest.param(None, 1, ["PASS    news.example.com", "FAIL    failing.example.com", "2 tests, 1 passed, 1 failed"], id="all-files"),
    ],
)
def test_rules_test_prints_a_pass_fail_table(
    rules_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str | None, code: int, rows: list[str]
) -> None:
    args = ["rules", "test", *([target] if target else []), "--rules-dir", str(rules_dir), "--pages", str(tmp_path / "pages")]
    assert main(args) == code
    out = capsys.readouterr().out
    assert out.startswith("RESULT")
    for row in rows:
        assert row in out


def test_a_rule_file_given_by_path(rules_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = rules_dir / "news.example.com.txt"
    assert main(["rules", "test", str(file), "--rules-dir", str(rules_dir), "--pages", str(tmp_path / "pages")]) == 0
    assert "1 tests, 1 passed, 0 failed" in capsys.readouterr().out


def test_a_page_missing_from_the_folder_is_reported(rules_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["rules", "test", "news.example.com", "--rules-dir", str(rules_dir), "--pages", str(empty)]) == 1
    assert "MISSING" in capsys.readouterr().out


def test_saved_pages_are_found_by_mapping_or_by_encoded_url(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<p>mapped</p>", encoding="utf-8")
    (tmp_path / (quote("https://b.example/x", safe="") + ".html")).write_text("<p>encoded</p>", encoding="utf-8")
    (tmp_path / "pages.json").write_text(json.dumps({"https://a.example/x": "a.html"}), encoding="utf-8")
    lookup = saved_pages(tmp_path)
    assert lookup("https://a.example/x") == "<p>mapped</p>"
    assert lookup("https://b.example/x") == "<p>encoded</p>"
    assert lookup("https://c.example/x") is None


def test_an_unknown_target_is_an_error(rules_dir: Path) -> None:
    with pytest.raises(FeedsvcError, match="no rule file"):
        select_rule_sets("nothing.example.org", RuleBook.load([rules_dir]))


def test_the_table_of_no_tests() -> None:
    assert format_results([]).endswith("0 tests, 0 passed, 0 failed")
