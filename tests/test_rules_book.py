"""Specification of rule folders and host lookup (feedsvc.rules.book)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedsvc.rules.book import RuleBook, host_candidates

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
SHARED_SAMPLE = Path(
    os.environ.get("FEEDSVC_FTR_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "ftr-site-config-sample"
)


def write_rules(folder: Path, files: dict[str, str]) -> Path:
    """Write rule files whose body names the file, so a lookup result shows where it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(f"body: {body}\n", encoding="utf-8")
    return folder


def body_of(book: RuleBook, host: str) -> str | None:
    rules = book.for_host(host)
    return rules.body[0] if rules is not None else None


# ------------------------------------------------------------------ host matching


HOST_FILES = {
    "example.com.txt": "//exact-example-com",
    ".example.org.txt": "//wild-example-org",
    ".sub.example.org.txt": "//wild-sub-example-org",
    "news.example.net.txt": "//exact-news-example-net",
    ".example.net.txt": "//wild-example-net",
    "www.odd.example.txt": "//exact-www-odd-example",
    "odd.example.txt": "//exact-odd-example",
    "bücher.example.txt": "//exact-buecher",
}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.com", "//exact-example-com", id="exact"),
        pytest.param("www.example.com", "//exact-example-com", id="www. stripped"),
        pytest.param("WWW.Example.COM.", "//exact-example-com", id="case and trailing dot"),
        pytest.param("example.com:8080", "//exact-example-com", id="port ignored"),
        pytest.param("news.example.com", None, id="plain file does not cover other subdomains"),
        pytest.param("fr.example.org", "//wild-example-org", id="leading dot: subdomain"),
        pytest.param("www.example.org", "//wild-example-org", id="leading dot: www subdomain"),
        pytest.param("a.b.example.org", "//wild-example-org", id="leading dot: deeper subdomain"),
        pytest.param("example.org", None, id="leading dot: not the domain itself"),
        pytest.param("x.sub.example.org", "//wild-sub-example-org", id="nearest wildcard first"),
        pytest.param("news.example.net", "//exact-news-example-net", id="exact beats wildcard"),
        pytest.param("www.news.example.net", "//exact-news-example-net", id="www. stripped before wildcard"),
        pytest.param("sport.example.net", "//wild-example-net", id="sibling uses wildcard"),
        pytest.param("deep.news.example.net", "//wild-example-net", id="host file does not cover its subdomains"),
        pytest.param("example.net", None, id="no file for the bare domain"),
        pytest.param("www.odd.example", "//exact-www-odd-example", id="exact www file beats stripped"),
        pytest.param("www.bücher.example", "//exact-buecher", id="internationalised name"),
        pytest.param("unknown.test", None, id="no match"),
        pytest.param("", None, id="empty"),
        pytest.param("not a host", None, id="not a host name"),
        pytest.param("[::1]", None, id="IPv6 literal"),
    ],
)
def test_for_host(tmp_path: Path, host: str, expected: str | None) -> None:
    book = RuleBook.load([write_rules(tmp_path, HOST_FILES)])
    assert body_of(book, host) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", ["example.com"]),
        ("www.example.com", ["www.example.com", "example.com", ".example.com"]),
        ("a.b.example.co.uk", ["a.b.example.co.uk", ".b.example.co.uk", ".example.co.uk", ".co.uk"]),
        ("www.com", ["www.com"]),
        ("localhost", ["localhost"]),
        ("bad_host!", []),
    ],
)
def test_host_candidates_best_first(host: str, expected: list[str]) -> None:
    assert host_candidates(host) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.com/news/a.html?x=1#y", "//exact-example-com"),
        ("http://fr.example.org:8080/", "//wild-example-org"),
        ("/relative/path", None),
        ("http://[::1]/", None),
        ("http://[broken/", None),
    ],
)
def test_for_url(tmp_path: Path, url: str, expected: str | None) -> None:
    book = RuleBook.load([write_rules(tmp_path, HOST_FILES)])
    rules = book.for_url(url)
    assert (rules.body[0] if rules else None) == expected


# ------------------------------------------------------------------ layering, global, names


def test_first_folder_wins_for_the_same_file_name(tmp_path: Path) -> None:
    own = write_rules(tmp_path / "own", {"example.com.txt": "//own"})
    bundled = write_rules(tmp_path / "bundled", {"example.com.txt": "//bundled", "other.com.txt": "//other"})
    book = RuleBook.load([own, bundled])
    assert (body_of(book, "example.com"), body_of(book, "other.com")) == ("//own", "//other")
    assert body_of(RuleBook.load([bundled, own]), "example.com") == "//bundled"
    assert (book.files, book.loaded) == (3, 3)


def test_a_more_specific_file_in_a_later_folder_still_matches_first(tmp_path: Path) -> None:
    own = write_rules(tmp_path / "own", {".example.com.txt": "//own-wildcard"})
    bundled = write_rules(tmp_path / "bundled", {"news.example.com.txt": "//bundled-exact"})
    book = RuleBook.load([own, bundled])
    assert body_of(book, "news.example.com") == "//bundled-exact"
    assert body_of(book, "sport.example.com") == "//own-wildcard"


def test_one_folder_may_be_given_bare(tmp_path: Path) -> None:
    folder = write_rules(tmp_path, {"example.com.txt": "//x"})
    for given in (folder, str(folder)):
        assert body_of(RuleBook.load(given), "example.com") == "//x"  # type: ignore[arg-type]


def test_global_rules_are_kept_apart(tmp_path: Path) -> None:
    own = write_rules(tmp_path / "own", {"global.txt": "//own-global"})
    bundled = write_rules(tmp_path / "bundled", {"global.txt": "//bundled-global", "example.com.txt": "//site"})
    book = RuleBook.load([own, bundled])
    assert book.global_rules is not None and book.global_rules.body == ("//own-global",)
    assert book.for_host("global") is None
    assert body_of(book, "example.com") == "//site"
    assert book.by_name("global") is book.global_rules


def test_no_global_file(tmp_path: Path) -> None:
    assert RuleBook.load([write_rules(tmp_path, {"example.com.txt": "//x"})]).global_rules is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [("spacemedia", "//sm"), ("spacemedia.txt", "//sm"), (" SpaceMedia ", "//sm"), ("example.com", "//ex"),
     ("missing", None), ("../spacemedia", None)],
)
def test_by_name(tmp_path: Path, name: str, expected: str | None) -> None:
    book = RuleBook.load([write_rules(tmp_path, {"spacemedia.txt": "//sm", "example.com.txt": "//ex"})])
    rules = book.by_name(name)
    assert (rules.body[0] if rules else None) == expected


# ------------------------------------------------------------------ files, counts, failures


def test_license_and_readme_are_not_rule_files(tmp_path: Path) -> None:
    write_rules(tmp_path, {"example.com.txt": "//x"})
    (tmp_path / "LICENSE.txt").write_text("These files are released to the public domain.\n")
    (tmp_path / "README.txt").write_text("See https://example.com/ for more.\n")
    (tmp_path / "notes.md").write_text("body: //ignored\n")
    book = RuleBook.load([tmp_path])
    assert (book.files, book.loaded, book.problems) == (1, 1, [])


def test_an_unreadable_file_fails_to_load(tmp_path: Path) -> None:
    write_rules(tmp_path, {"example.com.txt": "//x"})
    (tmp_path / "folder.example.txt").mkdir()
    book = RuleBook.load([tmp_path])
    assert (book.files, book.loaded, book.failed) == (2, 1, 1)
    [problem] = book.problems
    assert (problem.source, problem.line, problem.level) == (str(tmp_path / "folder.example.txt"), 0, "error")


def test_a_missing_folder_is_reported_and_the_others_load(tmp_path: Path) -> None:
    present = write_rules(tmp_path / "present", {"example.com.txt": "//x"})
    book = RuleBook.load([tmp_path / "missing", present])
    assert (book.files, book.loaded, book.failed) == (1, 1, 1)
    assert [(p.source, p.line, p.level) for p in book.problems] == [(str(tmp_path / "missing"), 0, "error")]
    assert body_of(book, "example.com") == "//x"


def test_bytes_that_are_not_utf8_are_replaced_and_reported(tmp_path: Path) -> None:
    (tmp_path / "example.com.txt").write_bytes(
        b"\xef\xbb\xbfbody: //article\nstrip_id_or_class: caf\xe9\nstrip: //nav\n"
    )
    book = RuleBook.load([tmp_path])
    rules = book.for_host("example.com")
    assert rules is not None
    assert (rules.body, rules.strip_id_or_class, rules.strip) == (("//article",), ("caf\ufffd",), ("//nav",))
    assert [(p.line, p.level) for p in book.problems] == [(2, "warning")]


def test_a_file_name_that_is_no_host_is_usable_by_name(tmp_path: Path) -> None:
    book = RuleBook.load([write_rules(tmp_path, {"My Rules.txt": "//mine"})])
    rules = book.by_name("my rules")
    assert rules is not None and rules.body == ("//mine",)
    assert [(p.line, p.level) for p in book.problems] == [(0, "warning")]


def test_problems_of_shadowed_files_are_still_reported(tmp_path: Path) -> None:
    own = write_rules(tmp_path / "own", {"example.com.txt": "//own"})
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "example.com.txt").write_text("body: //broken[\n")
    book = RuleBook.load([own, bundled])
    assert body_of(book, "example.com") == "//own"
    assert [(p.source, p.level) for p in book.problems] == [(str(bundled / "example.com.txt"), "error")]


def test_the_bundled_sample_fixture_loads(tmp_path: Path) -> None:
    book = RuleBook.load([FIXTURES / "ftr-sample"])
    names = sorted(p.name for p in (FIXTURES / "ftr-sample").glob("*.txt") if p.name != "LICENSE.txt")
    assert (book.files, book.loaded, book.failed) == (len(names), len(names), 0)
    assert [p for p in book.problems if p.level == "error"] == []
    for host in ("www.bbc.co.uk", "lwn.net", "aeon.co", "www.spiegel.de", "www.reuters.com", "digg.com"):
        assert book.for_host(host) is not None, host


@pytest.mark.skipif(
    not SHARED_SAMPLE.is_dir(),
    reason=f"ftr-site-config sample not found at {SHARED_SAMPLE} (set FEEDSVC_FTR_SAMPLE)",
)
def test_the_shared_sample_corpus_loads_without_errors() -> None:
    book = RuleBook.load([SHARED_SAMPLE])
    rule_files = [p for p in SHARED_SAMPLE.iterdir() if p.suffix == ".txt" and p.name != "LICENSE.txt"]
    assert (book.files, book.loaded, book.failed) == (len(rule_files), len(rule_files), 0)
    assert [str(p) for p in book.problems if p.level == "error"] == []
    wildcard = [p.name for p in rule_files if p.name.startswith(".")]
    for name in wildcard:
        assert book.for_host("someone" + name.removesuffix(".txt")) is not None, name


def test_rule_versions_change_with_the_file_and_with_global_txt(tmp_path: Path) -> None:
    (tmp_path / "example.com.txt").write_text("body: //article\n", encoding="utf-8")
    (tmp_path / "other.org.txt").write_text("body: //main\n", encoding="utf-8")
    first = RuleBook.load([tmp_path])
    site, other = first.for_host("example.com"), first.for_host("other.org")
    assert first.version_of(site).file == "example.com" and first.version_of(None).file == ""
    assert first.version_of(site) == RuleBook.load([tmp_path]).version_of(RuleBook.load([tmp_path]).for_host("example.com"))
    (tmp_path / "example.com.txt").write_text("body: //article\nstrip: //aside\n", encoding="utf-8")
    second = RuleBook.load([tmp_path])
    assert second.version_of(second.for_host("example.com")) != first.version_of(site)
    assert second.version_of(second.for_host("other.org")) == first.version_of(other)
    (tmp_path / "global.txt").write_text("strip: //nav\n", encoding="utf-8")
    third = RuleBook.load([tmp_path])
    assert third.version_of(third.for_host("other.org")) != first.version_of(other)
    assert third.version_of(None) != first.version_of(None)
