"""Specification of the ftr-site-config reader (feedsvc.rules.parser)."""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

import pytest

from feedsvc.rules.model import LinkRule, Problem, RuleTest, SiteRules
from feedsvc.rules.parser import DIRECTIVES, NOT_APPLIED, parse_rules, split_line, xpath_problem

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
SAMPLE_FIXTURES = FIXTURES / "ftr-sample"
SHARED_SAMPLE = Path(
    os.environ.get("FEEDSVC_FTR_SAMPLE")
    or Path(__file__).resolve().parents[2] / "shared" / "ftr-site-config-sample"
)


def rule_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.txt") if p.name != "LICENSE.txt")


def parse(text: str) -> tuple[SiteRules, list[Problem]]:
    return parse_rules(text, "test.txt")


def parse_clean(text: str) -> SiteRules:
    rules, problems = parse(text)
    assert problems == []
    return rules


def parse_file(name: str) -> SiteRules:
    path = SAMPLE_FIXTURES / name
    rules, problems = parse_rules(path.read_text(encoding="utf-8"), str(path))
    assert [p for p in problems if p.level == "error"] == []
    return rules


# ------------------------------------------------------------------ the corpus


@pytest.mark.parametrize("path", rule_files(SAMPLE_FIXTURES), ids=lambda p: p.name)
def test_bundled_sample_files_parse_without_errors(path: Path) -> None:
    rules, problems = parse_rules(path.read_text(encoding="utf-8"), str(path))
    assert [str(p) for p in problems if p.level == "error"] == []
    assert rules.source == str(path)


@pytest.mark.skipif(
    not rule_files(SHARED_SAMPLE),
    reason=f"ftr-site-config sample not found at {SHARED_SAMPLE} (set FEEDSVC_FTR_SAMPLE)",
)
def test_every_shared_sample_file_parses_without_errors() -> None:
    files = rule_files(SHARED_SAMPLE)
    errors: list[str] = []
    for path in files:
        data = path.read_bytes().decode("utf-8", errors="replace")
        _, problems = parse_rules(data, path.name)
        errors.extend(str(p) for p in problems if p.level == "error")
    assert errors == []
    assert len(files) >= 30


# ------------------------------------------------------------------ facts from named sample files


FACTS = [
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.body[:4],
        ('//article[contains(@class, "-ArticleWrapper")]',
         "(//div[contains(@class, 'article__body-content')])[1]",
         '(//div[@id="story-body"])[1]',
         '//div[contains(@class, "videoInStory") or @id="meta-information"]'),
        id="bbc.co.uk body alternatives in file order",
    ),
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.body[-1],
        "//div[contains(concat(' ',normalize-space(@class),' '),' LongArticle-body ')]",
        id="bbc.co.uk body alternative after the test urls",
    ),
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.title,
        ('//meta[@property="og:title"]/@content', '//h1[@class="story-header"]',
         "//h1[contains(concat(' ',normalize-space(@class),' '),' LongArticle-headline ')]"),
        id="bbc.co.uk title alternatives",
    ),
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.replace_string[:4],
        (("http://ichef.bbci.co.uk/news/200/", "http://ichef.bbci.co.uk/news/624/"),
         ("http://ichef.bbci.co.uk/news/304/", "http://ichef.bbci.co.uk/news/624/"),
         ("http://ichef.bbci.co.uk/news/320/", "http://ichef.bbci.co.uk/news/660/"),
         ("{width}{hidpi}", "624")),
        id="bbc.co.uk find_string/replace_string pairs then replace_string(find) in order",
    ),
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.native_ad_clue,
        ("//meta[@property=\"og:url\" and contains(@content, '/sponsored/')]",),
        id="bbc.co.uk native_ad_clue",
    ),
    pytest.param(
        "bbc.co.uk.txt", lambda r: r.tests[:2],
        (RuleTest("http://www.bbc.co.uk/sport/0/football/23224017",
                  ("Swansea City have completed the club-record signing",)),
         RuleTest("http://www.bbc.co.uk/news/business-15060862",
                  ("Europe's leaders are meeting again to try to solve",))),
        id="bbc.co.uk test_url with its test_contains",
    ),
    pytest.param("bbc.co.uk.txt", lambda r: (r.prune, r.tidy), (False, False), id="bbc.co.uk prune/tidy no"),
    pytest.param(
        "bbc.co.uk.txt", lambda r: "//div[@class=\"story-feature narrow\"]" in r.strip, False,
        id="bbc.co.uk commented-out strip is not read",
    ),
    pytest.param(
        "lwn.net.txt", lambda r: r.single_page_link,
        (LinkRule("//div[@class='ArticleText']//a[contains(text(), 'Full Story')]/@href"),
         LinkRule("concat(//div[@class='ArticleText']//a[contains(text(), 'Read more')]/@href, 'bigpage')",
                  "//div[@class='ArticleText']//a[contains(text(), 'Read more')]")),
        id="lwn.net if_page_contains guards the single_page_link before it",
    ),
    pytest.param(
        "lwn.net.txt", lambda r: r.replace_string[-1], ("to post comments)", "</div>"),
        id="lwn.net replace_string argument ending in a parenthesis",
    ),
    pytest.param(
        "lwn.net.txt", lambda r: r.ignored,
        ("requires_login", "login_uri", "login_username_field", "login_password_field", "not_logged_in_xpath"),
        id="lwn.net login directives recorded as ignored",
    ),
    pytest.param("lwn.net.txt", lambda r: r.tidy, True, id="lwn.net tidy yes"),
    pytest.param(
        "digg.com.txt", lambda r: r.single_page_link[0].if_page_contains,
        '//link[@rel="canonical" and contains(@href, "https://digg.com/longreads/link/")]',
        id="digg.com if_page_contains",
    ),
    pytest.param(
        "aeon.co.txt", lambda r: r.wrap_in, (("blockquote", "//p[@class='pullquote']"),),
        id="aeon.co wrap_in(blockquote)",
    ),
    pytest.param(
        "aeon.co.txt", lambda r: r.title,
        ("substring-before(//meta[@property='og:title']/@content , ' | Aeon')",),
        id="aeon.co substring-before title",
    ),
    pytest.param(
        "spiegel.de.txt", lambda r: r.http_header,
        (("user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:140.0) Gecko/20100101 Firefox/140.0"),),
        id="spiegel.de http_header(user-agent)",
    ),
    pytest.param("spiegel.de.txt", lambda r: r.skip_json_ld, True, id="spiegel.de skip_json_ld"),
    pytest.param(
        "spiegel.de.txt", lambda r: r.replace_string,
        (('src="data', 'data-src-disabled="data'), ('data-src="', 'src="')),
        id="spiegel.de replace_string(find) forms, commented ones skipped",
    ),
    pytest.param(
        "reuters.com.txt", lambda r: r.strip_attr,
        ("//div[contains(concat(' ',normalize-space(@class),' '),' container ')]/@class",),
        id="reuters.com strip_attr",
    ),
    pytest.param(
        "reuters.com.txt", lambda r: dict(r.http_header),
        {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
         "referer": "https://www.reuters.com/"},
        id="reuters.com two headers, commented one skipped",
    ),
    pytest.param(
        "reuters.com.txt", lambda r: r.tests[-1],
        RuleTest("https://www.reuters.com/investigates/adoption", ("There is one potential safeguard",)),
        id="reuters.com last test",
    ),
]


@pytest.mark.parametrize(("name", "get", "expected"), FACTS)
def test_facts_parsed_from_sample_files(name: str, get: object, expected: object) -> None:
    assert callable(get)
    assert get(parse_file(name)) == expected


# ------------------------------------------------------------------ syntax


SYNTAX = [
    pytest.param("body: //article\n# body: //main\n  # strip: //nav\n\n", "body", ("//article",),
                 id="comments only at line start, blank lines ignored"),
    pytest.param("replace_string(&#160;): &nbsp;", "replace_string", (("&#160;", "&nbsp;"),),
                 id="hash inside a value is not a comment"),
    pytest.param("strip_id_or_class: ad # sidebar", "strip_id_or_class", ("ad # sidebar",),
                 id="trailing hash stays in the value"),
    pytest.param("BODY: //article\nStrip: //nav", "body", ("//article",), id="directive names case-insensitive"),
    pytest.param("title://h1", "title", ("//h1",), id="no space after the colon"),
    pytest.param("body: //div[@id='a'] | //div[@id='b']", "body", ("//div[@id='a'] | //div[@id='b']",),
                 id="union"),
    pytest.param("date: substring-after(//p[@class='by'], 'on ')", "date",
                 ("substring-after(//p[@class='by'], 'on ')",), id="substring-after"),
    pytest.param("author: normalize-space(translate(//span, 'ab', 'AB'))", "author",
                 ("normalize-space(translate(//span, 'ab', 'AB'))",), id="normalize-space and translate"),
    pytest.param("strip: //li[position() = last()] | //*[local-name()='svg']", "strip",
                 ("//li[position() = last()] | //*[local-name()='svg']",), id="position last local-name"),
    pytest.param("strip: //div[@x and (@y or @z)]/child::text()", "strip",
                 ("//div[@x and (@y or @z)]/child::text()",), id="operators before parentheses, node tests"),
    pytest.param("body: //a\nbody: //b\nbody: //c", "body", ("//a", "//b", "//c"), id="alternatives in order"),
    pytest.param("strip: //a\nbody: //x\nstrip: //b", "strip", ("//a", "//b"), id="strip accumulates"),
    pytest.param("replace_string( | Site</title>): </title>", "replace_string", ((" | Site</title>", "</title>"),),
                 id="argument keeps its spaces"),
    pytest.param("replace_string(<H2 Class=x>): <h3>", "replace_string", (("<H2 Class=x>", "<h3>"),),
                 id="argument keeps its case"),
    pytest.param("replace_string(http://a.example/): https://a.example/", "replace_string",
                 (("http://a.example/", "https://a.example/"),), id="argument containing a colon"),
    pytest.param("replace_string(<br>):", "replace_string", (("<br>", ""),), id="empty replacement"),
    pytest.param("find_string: x\nreplace_string:", "replace_string", (("x", ""),), id="empty paired replacement"),
    pytest.param("find_string: a\nfind_string: b\nreplace_string: A\nreplace_string: B", "replace_string",
                 (("a", "A"), ("b", "B")), id="finds pair with replacements first come first paired"),
    pytest.param("http_header(User-Agent): Bot/1.0 (x)", "http_header", (("user-agent", "Bot/1.0 (x)"),),
                 id="header name lowercased, value kept"),
    pytest.param("http_header(cookie): a=1\nhttp_header(Cookie): a=2", "http_header", (("cookie", "a=2"),),
                 id="repeated header: last wins"),
    pytest.param("wrap_in(BlockQuote): //p[@class='q']", "wrap_in", (("blockquote", "//p[@class='q']"),),
                 id="wrap_in tag lowercased"),
    pytest.param("parser: html5php", "parser", "html5php", id="parser"),
    pytest.param("src_lazy_load_attr: data-src", "src_lazy_load_attr", "data-src", id="src_lazy_load_attr"),
    pytest.param("native_ad_clue: //meta[@name='sponsored']", "native_ad_clue", ("//meta[@name='sponsored']",),
                 id="native_ad_clue"),
    pytest.param("strip_image_src: '/_images/'", "strip_image_src", ("'/_images/'",), id="strip_image_src as is"),
    pytest.param("\ufeffbody: //article", "body", ("//article",), id="byte order mark"),
    pytest.param("body: //article\r\nstrip: //nav\r\n", "strip", ("//nav",), id="CRLF line ends"),
    pytest.param("body: //article\rstrip: //nav\r", "strip", ("//nav",), id="CR line ends"),
    pytest.param(
        "test_url: https://a.example/1\ntest_contains: one\ntest_contains: two\ntest_url: https://a.example/2",
        "tests", (RuleTest("https://a.example/1", ("one", "two")), RuleTest("https://a.example/2")),
        id="test_contains attaches to the test_url before it",
    ),
    pytest.param(
        "single_page_link: //a[@class='all']\nnext_page_link: //a[@rel='next']\nif_page_contains: //nav",
        "next_page_link", (LinkRule("//a[@rel='next']", "//nav"),),
        id="if_page_contains guards the latest link before it",
    ),
    pytest.param(
        "single_page_link: //a[1]\nstrip: //nav\nif_page_contains: //div[@class='paged']",
        "single_page_link", (LinkRule("//a[1]", "//div[@class='paged']"),),
        id="other directives between link and condition",
    ),
]


@pytest.mark.parametrize(("text", "attribute", "expected"), SYNTAX)
def test_syntax(text: str, attribute: str, expected: object) -> None:
    assert getattr(parse_clean(text), attribute) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("no", False), ("true", True), ("false", False), ("1", True), ("0", False),
     ("YES", True), ("No", False)],
)
@pytest.mark.parametrize("directive", ["prune", "tidy", "autodetect_on_failure", "skip_json_ld"])
def test_booleans(directive: str, value: str, expected: bool) -> None:
    assert getattr(parse_clean(f"{directive}: {value}"), directive) is expected


def test_values_are_trimmed_so_a_trailing_space_needs_an_escape() -> None:
    rules = parse_clean("companion_pattern: \\) - \nstrip_text:   Thanks  ")
    assert (rules.companion_pattern, rules.strip_text) == (("\\) -",), ("Thanks",))


def test_for_yes_no_directives_the_last_line_wins() -> None:
    rules = parse_clean("prune: no\ntidy: no\nprune: yes")
    assert (rules.prune, rules.tidy) == (True, False)


def test_defaults_of_an_empty_file() -> None:
    assert parse_clean("") == SiteRules(source="test.txt")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("body: //a", ("body", None, "//a")),
        ("Http_Header (Referer) : https://x.example/", ("http_header", "Referer", "https://x.example/")),
        ("replace_string(a): b): c", ("replace_string", "a", "b): c")),
        ("title: substring-before(//title, ' | ')", ("title", None, "substring-before(//title, ' | ')")),
        ("no colon here", None),
        ("two words: value", None),
        ("replace_string(unclosed: x", None),
    ],
)
def test_split_line(line: str, expected: tuple[str, str | None, str] | None) -> None:
    assert split_line(line) == expected


# ------------------------------------------------------------------ feedsvc extension directives


EXTENSIONS = [
    ("section_item", "//div[@class='newsitem']"),
    ("section_link", ".//a[1]/@href"),
    ("section_title", "normalize-space(.//span[@class='title'])"),
    ("section_date", ".//span[@class='date']"),
    ("section_teaser", ".//p[1]"),
    ("article_url", r"^/reports/[A-Za-z0-9_]+_999\.html$"),
    ("dateline", "//span[@class='BX']"),
    ("dateline_pattern", r"^(?P<place>[^(]+?) \((?P<agency>[^)]+)\) (?P<date>\w+ \d{1,2}, \d{4})"),
    ("companion", "//div[@class='companion']"),
    ("companion_pattern", r"^[A-Z][\w .'-]+ \([\w ]+\) \w+ \d{1,2}, \d{4} -\s"),
    ("body_end_text", "Related Links"),
    ("strip_text", "Thanks for being here"),
]


@pytest.mark.parametrize(("directive", "value"), EXTENSIONS, ids=[d for d, _ in EXTENSIONS])
def test_extension_directives(directive: str, value: str) -> None:
    rules = parse_clean(f"{directive}: {value}\n{directive}: {value}")
    assert getattr(rules, directive) == (value, value)


@pytest.mark.parametrize(
    ("directive", "value"),
    [("section_item", "//div[@class='x'"), ("section_link", ".//a[1]/@"), ("section_title", "lower-case(.//h2)"),
     ("section_date", "//x:date"), ("section_teaser", ".//p["), ("dateline", "//span[@class='BX'"),
     ("companion", "//div[$c]"), ("article_url", "^/reports/(["), ("dateline_pattern", "(?P<date>\\w+"),
     ("companion_pattern", "*dateline")],
)
def test_extension_directives_with_invalid_expressions_are_errors(directive: str, value: str) -> None:
    rules, problems = parse(f"{directive}: {value}")
    assert getattr(rules, directive) == ()
    assert [(p.line, p.level) for p in problems] == [(1, "error")]
    assert directive in problems[0].message


def test_every_rule_field_has_a_directive() -> None:
    fields = {f.name for f in dataclasses.fields(SiteRules)} - {"source", "tests", "ignored"}
    assert fields - DIRECTIVES == set()
    assert DIRECTIVES & NOT_APPLIED == set()


# ------------------------------------------------------------------ problems


PROBLEMS = [
    pytest.param("body: //a\nthis line has no colon", (2, "warning", "not a 'directive: value' line"),
                 id="no colon"),
    pytest.param("two words: x", (1, "warning", "not a 'directive: value' line"), id="bad directive name"),
    pytest.param("prune: maybe", (1, "warning", "prune must be yes or no"), id="bad boolean"),
    pytest.param("title:", (1, "warning", "title needs a value"), id="empty value"),
    pytest.param("frobnicate: //div", (1, "warning", "unknown directive 'frobnicate'"), id="unknown directive"),
    pytest.param("replace_string: x", (1, "warning", "replace_string without a find_string"), id="orphan replace"),
    pytest.param("find_string: x", (1, "warning", "has no replace_string after it"), id="orphan find"),
    pytest.param("replace_string(): x", (1, "warning", "replace_string() needs the text to find"), id="empty find"),
    pytest.param("test_contains: x", (1, "warning", "test_contains without a test_url"), id="orphan test_contains"),
    pytest.param("test_url: /relative", (1, "warning", "test_url is not an http(s) URL"), id="relative test_url"),
    pytest.param("if_page_contains: //x", (1, "warning", "follows no single_page_link"), id="orphan condition"),
    pytest.param("body(x): //div", (1, "warning", "body takes no argument"), id="unexpected argument"),
    pytest.param("http_header: Bot", (1, "warning", "http_header needs an argument"), id="missing argument"),
    pytest.param("wrap_in: //p", (1, "warning", "wrap_in needs an argument"), id="wrap_in without tag"),
    pytest.param("http_header(x forwarded): 1", (1, "warning", "is not a header name"), id="bad header name"),
    pytest.param("http_header(host): evil.example", (1, "warning", "http_header(host) is not supported"),
                 id="unsupported header"),
    pytest.param("wrap_in(script): //p", (1, "warning", "wrap_in('script') is not supported"), id="wrap_in tag"),
    pytest.param("dissolve: //h2", (1, "warning", "directive dissolve is not applied"), id="legacy directive"),
    pytest.param("move_into(//a): //b", (1, "warning", "directive move_into is not applied"), id="legacy with arg"),
    pytest.param("requires_login: yes", (1, "warning", "directive requires_login is not applied"), id="login"),
    pytest.param("dateline_pattern: ^(\\w+) - ", (1, "warning", "none of the named groups"), id="dateline groups"),
    pytest.param("article_url: [[a]", (1, "warning", "Possible nested set"), id="regex FutureWarning reported"),
    pytest.param("body: //div[@id='a'", (1, "error", "invalid XPath"), id="XPath syntax"),
    pytest.param("body: //a[@x='\x00']", (1, "error", "invalid XPath"), id="XPath with NUL"),
    pytest.param("strip: //a[ends-with(@href, 'x')]", (1, "error", "ends-with() is not an XPath 1.0 function"),
                 id="XPath 2.0 function"),
    pytest.param("strip: exsl:node-set(//a)", (1, "error", "exsl:node-set() is not an XPath 1.0 function"),
                 id="EXSLT function"),
    pytest.param("date: //dc:date", (1, "error", "Undefined namespace prefix"), id="namespace prefix"),
    pytest.param("author: //a | 'x'", (1, "error", "Invalid type"), id="union with a string"),
    pytest.param("strip: //p[$x]", (1, "error", "variables are not supported"), id="variable"),
    pytest.param("article_url: (unclosed", (1, "error", "invalid regular expression"), id="bad regex"),
]


@pytest.mark.parametrize(("text", "expected"), PROBLEMS)
def test_problems_name_their_line(text: str, expected: tuple[int, str, str]) -> None:
    _, problems = parse(text)
    line, level, fragment = expected
    assert len(problems) == 1, problems
    assert (problems[0].source, problems[0].line, problems[0].level) == ("test.txt", line, level)
    assert fragment in problems[0].message


def test_a_skipped_xpath_keeps_the_other_alternatives() -> None:
    rules, problems = parse("body: //div[@id='a']\nbody: //div[\nbody: //article")
    assert rules.body == ("//div[@id='a']", "//article")
    assert [(p.line, p.level) for p in problems] == [(2, "error")]


def test_an_invalid_condition_drops_the_link_it_guards() -> None:
    text = "single_page_link: //a[@class='all']\nnext_page_link: //a[@rel='next']\nif_page_contains: //div["
    rules, problems = parse(text)
    assert rules.single_page_link == (LinkRule("//a[@class='all']"),)
    assert rules.next_page_link == ()
    assert [(p.line, p.level) for p in problems] == [(3, "error")]


def test_a_condition_after_an_invalid_link_guards_nothing() -> None:
    rules, problems = parse("single_page_link: //a[1]\nsingle_page_link: //a[\nif_page_contains: //nav")
    assert rules.single_page_link == (LinkRule("//a[1]"),)
    assert [(p.line, p.level) for p in problems] == [(2, "error"), (3, "warning")]


def test_not_applied_directives_are_recorded_once_each() -> None:
    text = "requires_login: yes\ndissolve: //h2\nrequires_login: no\nbody: //article\ndissolve: //h3"
    rules, problems = parse(text)
    assert rules.ignored == ("requires_login", "dissolve")
    assert rules.body == ("//article",)
    assert [(p.line, p.message) for p in problems] == [
        (1, "directive requires_login is not applied"),
        (2, "directive dissolve is not applied"),
    ]


@pytest.mark.parametrize(
    "expression",
    ["//div", "concat(//a/@href, '?all')", "substring-after(//p, 'by ')", "count(//p) > 1",
     "//a[contains(., 'ends-with(')]", "//a[@data-x=\"$y\"]"],
)
def test_valid_xpath_has_no_problem(expression: str) -> None:
    assert xpath_problem(expression) is None


def test_the_reader_never_raises_on_arbitrary_text() -> None:
    pieces = ["body", "strip", "replace_string(", "http_header(", "if_page_contains", "find_string", "test_url",
              "prune", "wrap_in(", ":", "(", ")", "):", "#", " ", "//div[", "]", "'", '"', "$", "\x00", "\ufffd",
              "é", "\t", "\r", "\n", "\n", "yes", "x", "|", "concat(", "lower-case("]
    generator = random.Random(20240601)
    for _ in range(300):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 60)))
        rules, problems = parse(text)
        assert isinstance(rules, SiteRules)
        lines = text.count("\n") + text.count("\r") + 1  # at most
        assert all(p.level in ("warning", "error") and 1 <= p.line <= lines for p in problems)
