"""Read one rule file in the ftr-site-config format into a :class:`SiteRules`.

The syntax is the one FiveFilters Full-Text RSS and graby (wallabag) read:

* one ``directive: value`` per line; surrounding whitespace is ignored;
* a line whose first non-blank character is ``#`` is a comment (a ``#`` later
  in a line is part of the value: ``replace_string(&#160;): ...`` keeps it);
* blank lines are ignored; directive names are case-insensitive;
* some directives take an argument in parentheses, which runs to the first
  ``):`` of the line and keeps its case and spaces:
  ``replace_string( | heise online</title>): </title>``,
  ``http_header(User-Agent): ...`` (stored lowercased), ``wrap_in(blockquote): //xpath``;
* ``find_string:`` lines wait for the next plain ``replace_string:`` line and
  form a pair with it (first waiting, first paired); ``replace_string:`` may
  have an empty value (replace with nothing);
* repeated ``body``/``title``/``author``/``date`` lines are alternatives in
  file order; list directives (``strip`` ...) accumulate; for yes/no and
  single-valued directives the last line wins. Booleans: yes/no, true/false, 1/0;
* ``if_page_contains:`` is the condition of the ``single_page_link`` or
  ``next_page_link`` line that comes *before* it (the latest one seen). That is
  what graby implements and what every corpus file relies on (lwn.net.txt,
  washingtonpost.com.txt, digg.com.txt put the condition right after its link).
  If its XPath is invalid, the link it guards is dropped too, so a guarded link
  is never followed unguarded;
* ``test_url:`` starts a :class:`RuleTest`; the ``test_contains:`` lines after
  it belong to it.

Reading never raises. Every problem becomes a :class:`Problem` naming the line:
an XPath that libxml2 cannot compile or evaluate, or that calls a function
outside XPath 1.0, and a regular expression that ``re`` cannot compile are
errors (the directive is skipped); anything else (malformed line, unknown
directive, bad yes/no, login and legacy directives we accept but do not apply)
is a warning.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Any

from lxml import etree

from feedsvc.rules.model import LinkRule, Problem, RuleTest, SiteRules

XPATH_LISTS = frozenset({
    "body", "title", "author", "date", "strip", "strip_attr", "native_ad_clue",
    "section_item", "section_link", "section_title", "section_date", "section_teaser",
    "dateline", "companion",
})
TEXT_LISTS = frozenset({"strip_id_or_class", "strip_image_src", "body_end_text", "strip_text"})
REGEX_LISTS = frozenset({"article_url", "dateline_pattern", "companion_pattern"})
FLAGS = frozenset({"prune", "tidy", "autodetect_on_failure", "skip_json_ld"})
TEXT_SINGLES = frozenset({"parser", "src_lazy_load_attr"})
LINKS = frozenset({"single_page_link", "next_page_link"})
SPECIAL = frozenset({
    "if_page_contains", "find_string", "replace_string", "http_header", "wrap_in",
    "test_url", "test_contains",
})
#: Accepted and recorded in ``SiteRules.ignored``, but not applied by feedsvc.
NOT_APPLIED = frozenset({
    # form login for subscription sites
    "requires_login", "login_uri", "login_username_field", "login_password_field",
    "login_extra_fields", "not_logged_in_xpath",
    # legacy Instapaper and reader-specific directives
    "dissolve", "convert_double_br_tags", "insert_detected_image", "move_into",
    "single_page_link_in_feed", "autodetect_next_page", "strip_comments",
    "skip_id_or_class", "footnotes", "post_strip_attr", "test_urls",
})
DIRECTIVES = XPATH_LISTS | TEXT_LISTS | REGEX_LISTS | FLAGS | TEXT_SINGLES | LINKS | SPECIAL
NEEDS_ARGUMENT = frozenset({"http_header", "wrap_in"})
TAKES_ARGUMENT = NEEDS_ARGUMENT | {"replace_string"}
HTTP_HEADERS = frozenset({"user-agent", "referer", "cookie", "accept", "accept-language"})
WRAP_IN_TAGS = frozenset({"blockquote", "p", "div"})
#: ``parser:`` values: the HTML5 algorithm (graby says html5lib, FiveFilters html5php), or libxml2 (the default).
HTML5_PARSERS = frozenset({"html5lib", "html5php", "html5"})
LIBXML_PARSERS = frozenset({"libxml", "libxml2", "lxml"})
DATELINE_GROUPS = frozenset({"place", "agency", "date"})

_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_NAME = re.compile(r"[a-z0-9_]+\Z")
_WITH_ARGUMENT = re.compile(r"([A-Za-z0-9_]+)\s*\((.*?)\)\s*:(.*)\Z", re.DOTALL)
_HEADER_NAME = re.compile(r"[a-z0-9-]+\Z")

# XPath 1.0's function library and node-type tests; libxml2 compiles calls to
# any other name and only fails when the call is evaluated on a matching node.
_XPATH_FUNCTIONS = frozenset({
    "last", "position", "count", "id", "local-name", "namespace-uri", "name",
    "string", "concat", "starts-with", "contains", "substring-before", "substring-after",
    "substring", "string-length", "normalize-space", "translate",
    "boolean", "not", "true", "false", "lang", "number", "sum", "floor", "ceiling", "round",
    "node", "text", "comment", "processing-instruction",
})
_XPATH_OPERATORS = frozenset({"and", "or", "div", "mod"})
_XPATH_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
_XPATH_CALL = re.compile(r"(?<![\w.$@-])([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*\(")
_XPATH_VARIABLE = re.compile(r"\$\s*[A-Za-z_]")
_PROBE_PAGE = (
    "<html><head><title>t</title><meta name='m' content='c'></head><body>"
    "<div id='i' class='c'><h1>h</h1><p>p <a href='/a'>a</a></p></div></body></html>"
)


def parse_rules(text: str, source: str) -> tuple[SiteRules, list[Problem]]:
    """Parse the text of one rule file; ``source`` names it in problems and in the result."""
    reader = _Reader(source)
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(lines, start=1):
        reader.read_line(number, raw)
    return reader.finish()


def xpath_problem(expression: str, probe: etree._Element | None = None) -> str | None:
    """Why ``expression`` is not a usable XPath 1.0 expression, or None when it is."""
    try:
        compiled = etree.XPath(expression)
    except (etree.XPathError, ValueError) as exc:
        return f"invalid XPath {_excerpt(expression, 120)}: {exc}"
    bare = _XPATH_LITERAL.sub("''", expression)
    if _XPATH_VARIABLE.search(bare):
        return f"invalid XPath {_excerpt(expression, 120)}: variables are not supported"
    for match in _XPATH_CALL.finditer(bare):
        function = match.group(1)
        if function not in _XPATH_FUNCTIONS and function not in _XPATH_OPERATORS:
            return f"invalid XPath {_excerpt(expression, 120)}: {function}() is not an XPath 1.0 function"
    try:
        compiled(probe if probe is not None else etree.HTML(_PROBE_PAGE))
    except etree.XPathError as exc:
        return f"invalid XPath {_excerpt(expression, 120)}: {exc}"
    return None


def regex_problems(pattern: str) -> tuple[str | None, list[str]]:
    """(error, warnings) from compiling ``pattern`` with :mod:`re`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError) as exc:
            return f"invalid regular expression {_excerpt(pattern, 120)}: {exc}", []
    return None, [f"regular expression {_excerpt(pattern, 120)}: {w.message}" for w in caught]


def split_line(line: str) -> tuple[str, str | None, str] | None:
    """``(name, argument, value)`` of a stripped, non-comment line; None when malformed."""
    head, colon, rest = line.partition(":")
    if not colon:
        return None
    if "(" in head:
        match = _WITH_ARGUMENT.match(line)
        if match is None:
            return None
        return match.group(1).lower(), match.group(2), match.group(3).strip()
    name = head.strip().lower()
    if not _NAME.match(name):
        return None
    return name, None, rest.strip()


class _Reader:
    """Mutable state while reading one file; lives for one :func:`parse_rules` call."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.lists: dict[str, list[str]] = {}
        self.settings: dict[str, object] = {}
        self.links: dict[str, list[LinkRule]] = {name: [] for name in LINKS}
        self.last_link: tuple[str, int] | None = None  # (directive, index) for if_page_contains
        self.pending_finds: list[tuple[int, str]] = []
        self.replacements: list[tuple[str, str]] = []
        self.headers: dict[str, str] = {}
        self.wrap_in: list[tuple[str, str]] = []
        self.tests: list[RuleTest] = []
        self.ignored: dict[str, None] = {}  # insertion-ordered set
        self.xpath_verdicts: dict[str, str | None] = {}
        self.probe = etree.HTML(_PROBE_PAGE)

    # ------------------------------------------------------------ reporting

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.source, line, "warning", message))

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.source, line, "error", message))

    def valid_xpath(self, line: int, name: str, expression: str, skipped: str = "directive skipped") -> bool:
        if expression not in self.xpath_verdicts:
            self.xpath_verdicts[expression] = xpath_problem(expression, self.probe)
        problem = self.xpath_verdicts[expression]
        if problem is not None:
            self.error(line, f"{name}: {problem}; {skipped}")
        return problem is None

    # ------------------------------------------------------------ lines

    def read_line(self, number: int, raw: str) -> None:
        line = raw.strip()
        if not line or line.startswith("#"):
            return
        parts = split_line(line)
        if parts is None:
            self.warn(number, f"not a 'directive: value' line: {_excerpt(line)}")
            return
        name, argument, value = parts
        if name in NOT_APPLIED:
            if name not in self.ignored:
                self.ignored[name] = None
                self.warn(number, f"directive {name} is not applied")
            return
        if name not in DIRECTIVES:
            self.warn(number, f"unknown directive {name!r}; line ignored")
        elif argument is None and name in NEEDS_ARGUMENT:
            self.warn(number, f"{name} needs an argument in parentheses: {_excerpt(line)}")
        elif argument is not None and name not in TAKES_ARGUMENT:
            self.warn(number, f"{name} takes no argument in parentheses: {_excerpt(line)}")
        elif not value and name != "replace_string":
            self.warn(number, f"{name} needs a value")
        else:
            self.apply(number, name, argument, value)

    def apply(self, line: int, name: str, argument: str | None, value: str) -> None:
        if name in XPATH_LISTS:
            if self.valid_xpath(line, name, value):
                self.lists.setdefault(name, []).append(value)
        elif name in TEXT_LISTS:
            self.lists.setdefault(name, []).append(value)
        elif name in REGEX_LISTS:
            self.add_regex(line, name, value)
        elif name in FLAGS:
            flag = _BOOLEANS.get(value.lower())
            if flag is None:
                self.warn(line, f"{name} must be yes or no, not {_excerpt(value)}; line ignored")
            else:
                self.settings[name] = flag
        elif name == "parser" and value.lower() not in HTML5_PARSERS | LIBXML_PARSERS:
            self.warn(line, f"parser {_excerpt(value)} is unknown (use libxml or html5lib); libxml is used")
        elif name in TEXT_SINGLES:
            self.settings[name] = value.lower() if name == "parser" else value
        elif name in LINKS:
            self.add_link(line, name, value)
        elif name == "if_page_contains":
            self.add_condition(line, value)
        elif name in ("find_string", "replace_string"):
            self.add_replacement(line, name, argument, value)
        elif name == "http_header":
            self.add_header(line, argument or "", value)
        elif name == "wrap_in":
            self.add_wrap_in(line, argument or "", value)
        else:
            self.add_test(line, name, value)

    def add_regex(self, line: int, name: str, pattern: str) -> None:
        error, notes = regex_problems(pattern)
        if error is not None:
            self.error(line, f"{name}: {error}; directive skipped")
            return
        for note in notes:
            self.warn(line, f"{name}: {note}")
        if name == "dateline_pattern" and not DATELINE_GROUPS & set(re.compile(pattern).groupindex):
            self.warn(line, f"{name} has none of the named groups place, agency, date")
        self.lists.setdefault(name, []).append(pattern)

    def add_link(self, line: int, name: str, xpath: str) -> None:
        self.last_link = None
        if self.valid_xpath(line, name, xpath):
            self.links[name].append(LinkRule(xpath))
            self.last_link = (name, len(self.links[name]) - 1)

    def add_condition(self, line: int, xpath: str) -> None:
        if self.last_link is None:
            self.warn(line, "if_page_contains follows no single_page_link or next_page_link; line ignored")
            return
        name, index = self.last_link
        if not self.valid_xpath(line, "if_page_contains", xpath, f"it and the {name} it guards are skipped"):
            del self.links[name][index]
            self.last_link = None
            return
        if self.links[name][index].if_page_contains is not None:
            self.warn(line, f"a second if_page_contains for the same {name} replaces the first")
        self.links[name][index] = dataclasses.replace(self.links[name][index], if_page_contains=xpath)

    def add_replacement(self, line: int, name: str, argument: str | None, value: str) -> None:
        if argument is not None:  # replace_string(find): replacement
            if argument:
                self.replacements.append((argument, value))
            else:
                self.warn(line, "replace_string() needs the text to find inside the parentheses")
        elif name == "find_string":
            self.pending_finds.append((line, value))
        elif self.pending_finds:
            self.replacements.append((self.pending_finds.pop(0)[1], value))
        else:
            self.warn(line, "replace_string without a find_string before it; line ignored")

    def add_header(self, line: int, argument: str, value: str) -> None:
        header = argument.strip().lower()
        if not _HEADER_NAME.match(header):
            self.warn(line, f"http_header: {_excerpt(argument)} is not a header name; line ignored")
        elif header not in HTTP_HEADERS:
            self.warn(line, f"http_header({header}) is not supported; line ignored")
        else:
            self.headers.pop(header, None)
            self.headers[header] = value

    def add_wrap_in(self, line: int, argument: str, xpath: str) -> None:
        tag = argument.strip().lower()
        if tag not in WRAP_IN_TAGS:
            supported = ", ".join(sorted(WRAP_IN_TAGS))
            self.warn(line, f"wrap_in({_excerpt(tag)}) is not supported (use {supported}); line ignored")
        elif self.valid_xpath(line, "wrap_in", xpath):
            self.wrap_in.append((tag, xpath))

    def add_test(self, line: int, name: str, value: str) -> None:
        if name == "test_url":
            if not value.lower().startswith(("http://", "https://")):
                self.warn(line, f"test_url is not an http(s) URL: {_excerpt(value)}")
            self.tests.append(RuleTest(value))
        elif self.tests:
            last = self.tests[-1]
            self.tests[-1] = dataclasses.replace(last, contains=(*last.contains, value))
        else:
            self.warn(line, "test_contains without a test_url before it; line ignored")

    # ------------------------------------------------------------ result

    def finish(self) -> tuple[SiteRules, list[Problem]]:
        for line, find in self.pending_finds:
            self.warn(line, f"find_string {_excerpt(find)} has no replace_string after it; ignored")
        fields: dict[str, Any] = {name: tuple(values) for name, values in self.lists.items()}
        fields.update(self.settings)
        fields.update({name: tuple(links) for name, links in self.links.items()})
        rules = SiteRules(
            source=self.source,
            replace_string=tuple(self.replacements),
            http_header=tuple(self.headers.items()),
            wrap_in=tuple(self.wrap_in),
            tests=tuple(self.tests),
            ignored=tuple(self.ignored),
            **fields,
        )
        return rules, self.problems


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
