"""A section page (HTML) or a summary feed (RSS/Atom) becomes article references.

HTML section pages are read with the site's rules when they define list items
(``section_item`` and friends). Otherwise, and when the rules match nothing,
the page is read in text order: an item is a link to an article (same site,
matching ``article_url`` when given) that is followed by a dateline before the
next article link. Headline lists in side columns, bare links without a
dateline, are not items of the section.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from urllib.parse import urljoin

import lxml.etree
import lxml.html

from feedsvc import datelines
from feedsvc.errors import DiscoverError
from feedsvc.models import ArticleRef, Page
from feedsvc.rules.model import SiteRules
from feedsvc.urls import canonical_url, same_site

_FEED_TYPES = ("rss", "atom", "rdf", "xml")
_SKIP_TAGS = {"script", "style", "noscript", "template", "select", "option", "head"}
_READ_MORE = re.compile(r"^\s*(\.{3}|…)?\s*(read|full)\s+(more|story|article)\b.*$", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_LOOKAHEAD_CHARS = 240  # how far after a headline link its dateline may start


def discover(page: Page, rules: SiteRules | None, site_url: str) -> list[ArticleRef]:
    """Article references of one section page or summary feed, in page order, each once."""
    if _is_feed(page):
        refs = _from_feed(page)
    else:
        refs = _from_html(page, rules, site_url)
    patterns = [re.compile(p) for p in (rules.article_url if rules else ())]
    section_key = canonical_url(page.final_url)
    unique: dict[str, ArticleRef] = {}
    for ref in refs:
        key = canonical_url(ref.url)
        if key == section_key or not same_site(ref.url, site_url):
            continue
        if patterns and not any(p.search(ref.url) for p in patterns):
            continue
        unique.setdefault(key, ref)
    return list(unique.values())


def _is_feed(page: Page) -> bool:
    if any(word in page.content_type for word in _FEED_TYPES) and "html" not in page.content_type:
        return True
    head = page.text.lstrip()[:200].lower()
    return head.startswith(("<?xml", "<rss", "<feed", "<rdf"))


def _from_feed(page: Page) -> list[ArticleRef]:
    import feedparser  # here, not with the module: only CPU workers read section feeds (~4 MB)

    parsed = feedparser.parse(
        page.body or page.text.encode("utf-8"),
        response_headers={"content-location": page.final_url, "content-type": page.content_type or "application/xml"},
    )
    if parsed.bozo and not parsed.entries:
        raise DiscoverError(f"{page.url}: not a readable feed: {parsed.get('bozo_exception')}")
    refs = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        published = None
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if stamp:
            published = datetime.fromtimestamp(calendar.timegm(stamp), timezone.utc)
        teaser = _text(lxml.html.fragment_fromstring(entry.get("summary") or "<p></p>", create_parent="div")) if entry.get("summary") else ""
        refs.append(ArticleRef(urljoin(page.final_url, link), _clean(entry.get("title", "")), teaser, published))
    return refs


def _from_html(page: Page, rules: SiteRules | None, site_url: str) -> list[ArticleRef]:
    try:
        root = lxml.html.document_fromstring(page.text or "<html></html>")
    except (lxml.etree.ParserError, ValueError) as exc:
        raise DiscoverError(f"{page.url}: cannot parse the section page: {exc}") from exc
    root.make_links_absolute(page.final_url, resolve_base_href=True)
    if rules and rules.section_item:
        refs = _from_rule_items(root, rules)
        if refs:
            return refs
    patterns = [re.compile(p) for p in (rules.article_url if rules else ())]
    return _from_text_order(root, rules, site_url, patterns)


def _from_rule_items(root: lxml.html.HtmlElement, rules: SiteRules) -> list[ArticleRef]:
    refs = []
    for item_xpath in rules.section_item:
        for item in _xpath_elements(root, item_xpath):
            href = _first_string(item, rules.section_link or ("(.//a[@href])[1]/@href",))
            if not href:
                continue
            title = _first_string(item, rules.section_title) or ""
            if not title:
                link = _xpath_elements(item, f".//a[@href='{href}']") if "'" not in href else []
                title = _text(link[0]) if link else ""
            date_text = _first_string(item, rules.section_date) or _text(item)
            teaser = _first_string(item, rules.section_teaser) or ""
            refs.append(ArticleRef(href, _clean(title), _strip_read_more(teaser), published_day=_day(date_text, rules)))
        if refs:
            break
    return refs


def _from_text_order(
    root: lxml.html.HtmlElement, rules: SiteRules | None, site_url: str, patterns: list[re.Pattern[str]]
) -> list[ArticleRef]:
    """Walk the page in reading order; keep links that a dateline follows."""
    events = list(_events(root))
    refs = []
    for index, (kind, href, text) in enumerate(events):
        if kind != "link" or not href or _READ_MORE.match(text) or not text.strip():
            continue
        if not same_site(href, site_url) or (patterns and not any(p.search(href) for p in patterns)):
            continue
        after = _text_until_next_article(events, index, href)
        found = datelines.find_dateline(after[:_LOOKAHEAD_CHARS], rules.dateline_pattern if rules else ())
        if found is None:
            continue
        dateline, rest = found
        refs.append(ArticleRef(href, _clean(text), _strip_read_more(rest), published_day=dateline.day))
    return refs


def _text_until_next_article(events: list[tuple[str, str, str]], index: int, href: str) -> str:
    parts: list[str] = []
    for kind, other_href, text in events[index + 1:]:
        if kind == "link" and other_href != href and not _READ_MORE.match(text):
            break
        if kind == "text":
            parts.append(text)
    return _clean(" ".join(parts))


def _events(element: lxml.html.HtmlElement) -> Iterator[tuple[str, str, str]]:
    """("link", href, text) and ("text", "", text) in reading order."""
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _SKIP_TAGS:
        return
    if tag == "a" and element.get("href"):
        yield "link", element.get("href", ""), _text(element)
    else:
        if element.text and tag:
            yield "text", "", element.text
        for child in element:
            yield from _events(child)
    if element.tail:
        yield "text", "", element.tail


def _day(text: str, rules: SiteRules) -> date | None:
    found = datelines.find_dateline(text, rules.dateline_pattern)
    return found[0].day if found is not None else None


def _xpath_elements(node: lxml.html.HtmlElement, xpath: str) -> list[lxml.html.HtmlElement]:
    try:
        result = node.xpath(xpath)
    except lxml.etree.XPathError:
        return []
    return [r for r in result if isinstance(r, lxml.html.HtmlElement)] if isinstance(result, list) else []


def _first_string(node: lxml.html.HtmlElement, xpaths: tuple[str, ...]) -> str | None:
    for xpath in xpaths:
        try:
            result = node.xpath(xpath)
        except lxml.etree.XPathError:
            continue
        values = result if isinstance(result, list) else [result]
        for value in values:
            text = _text(value) if isinstance(value, lxml.html.HtmlElement) else str(value)
            if text.strip():
                return text.strip()
    return None


def _text(element: lxml.html.HtmlElement) -> str:
    return _clean(element.text_content())


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _strip_read_more(text: str) -> str:
    return re.sub(r"\s*(\.{3}|…)?\s*read more\s*$", "", text, flags=re.IGNORECASE).strip()
