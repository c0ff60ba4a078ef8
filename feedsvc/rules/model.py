"""The parsed form of one rule file (ftr-site-config format plus extensions).

Standard directives keep their ftr-site-config names. feedsvc's extension
directives (ignored by other readers of the format) are documented in
``docs/rules.md``:

section pages
    ``section_item``     XPath of the article list items on a section page
    ``section_link``     XPath (relative to an item, or absolute without items) of the article link
    ``section_title``    XPath (relative to the item) of the headline
    ``section_date``     XPath (relative to the item) of the date or dateline
    ``section_teaser``   XPath (relative to the item) of the teaser text
    ``article_url``      regular expression an article URL's path must match
datelines
    ``dateline``         XPath of the dateline element(s)
    ``dateline_pattern`` regular expression with named groups place, agency, date
companion stories
    ``companion``        XPath of the containers of embedded companion stories
    ``companion_pattern`` regular expression for a companion's opening dateline (``Place (Agency) Date - ``)
body limits
    ``body_end_text``    text that starts the first block *after* the story (``Related Links``)
    ``strip_text``       text that starts a block to delete (``Thanks for being here``)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """A warning or error found while reading a rule file."""

    source: str
    line: int
    level: str  # "warning" | "error"
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.level}: {self.message}"


@dataclass(frozen=True)
class LinkRule:
    """single_page_link / next_page_link, with its optional if_page_contains condition."""

    xpath: str
    if_page_contains: str | None = None


@dataclass(frozen=True)
class RuleTest:
    url: str
    contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteRules:
    source: str  # file path or bundled name
    # --- standard directives
    body: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()
    strip_id_or_class: tuple[str, ...] = ()
    strip_image_src: tuple[str, ...] = ()
    strip_attr: tuple[str, ...] = ()
    prune: bool = True
    tidy: bool = True
    autodetect_on_failure: bool = True
    single_page_link: tuple[LinkRule, ...] = ()
    next_page_link: tuple[LinkRule, ...] = ()
    replace_string: tuple[tuple[str, str], ...] = ()  # (find, replace), applied in order
    http_header: tuple[tuple[str, str], ...] = ()
    native_ad_clue: tuple[str, ...] = ()
    wrap_in: tuple[tuple[str, str], ...] = ()  # (tag, xpath)
    src_lazy_load_attr: str | None = None
    skip_json_ld: bool = False
    parser: str | None = None
    tests: tuple[RuleTest, ...] = ()
    # --- feedsvc extensions
    section_item: tuple[str, ...] = ()
    section_link: tuple[str, ...] = ()
    section_title: tuple[str, ...] = ()
    section_date: tuple[str, ...] = ()
    section_teaser: tuple[str, ...] = ()
    article_url: tuple[str, ...] = ()
    dateline: tuple[str, ...] = ()
    dateline_pattern: tuple[str, ...] = ()
    companion: tuple[str, ...] = ()
    companion_pattern: tuple[str, ...] = ()
    body_end_text: tuple[str, ...] = ()
    strip_text: tuple[str, ...] = ()
    # --- accepted but not applied (login, legacy Instapaper directives)
    ignored: tuple[str, ...] = field(default_factory=tuple)
