"""One article page's HTML becomes an :class:`Article` (and its companion stories).

The order, each step a module of its own::

    parse once (replace_string first)        htmldoc
    page metadata (JSON-LD, meta, <time>)    metadata      before scripts go
    advertisement? next page link?           rulesapply
    drop scripts, ads, forms; strip rules    htmldoc, rulesapply
    title/author/date/dateline by XPath      rulesapply
    body root: rules, else readability       rulesapply, fallback
    head, end, strip_text, companions        story
    render blocks, then clean (sanitize last) blockrender, clean

Pure and picklable: plain values in, an ``Article`` out, no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from html import escape
from urllib.parse import urldefrag

from lxml.html import HtmlElement

from feedsvc.blockrender import is_caption, is_figure, subhead_words
from feedsvc.blocks import Block
from feedsvc.cleansteps import blocks_to_html, prepare_tree
from feedsvc.companions import Companion
from feedsvc.datelines import parse_byline, parse_dateline
from feedsvc.errors import ExtractError
from feedsvc.fallback import readable_root
from feedsvc.htmldoc import drop_junk, parse_document, rescue_noscript_images
from feedsvc.leadimage import take_lead_figure
from feedsvc.linkfix import absolute_url
from feedsvc.metadata import PageMeta, normalise_authors, parse_date_value, read_metadata
from feedsvc.models import Article
from feedsvc.rules.model import SiteRules
from feedsvc.rulesapply import apply_edits, body_elements, evaluate, find_link, first_texts, is_native_ad, merge_rules
from feedsvc.sanitize import sanitize
from feedsvc.story import StoryParts, read_page_head, read_story, with_head_facts
from feedsvc.textmatch import slugify, summary_of
from feedsvc.tidy import tidy_tree

__all__ = ["extract_article", "join_pages", "single_page_url"]

_NO_RULES = SiteRules(source="<none>")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True)
class _RuleFacts:
    title: str | None
    author: str | None
    stamp: datetime | date | None
    dateline: str | None


def extract_article(html: str, url: str, rules: SiteRules | None, global_rules: SiteRules | None = None) -> Article:
    """The article on the page ``url`` whose HTML is ``html``; ExtractError when there is none."""
    merged = merge_rules(rules, global_rules)
    active = merged or _NO_RULES
    page = urldefrag(url).url
    document = parse_document(html, page, active.replace_string, active.parser)
    meta = read_metadata(document, skip_json_ld=active.skip_json_ld)
    base = absolute_url(meta.base_href, page) if meta.base_href else page
    if is_native_ad(document, active):
        raise ExtractError(page, "advertisement")
    next_page = find_link(document, active.next_page_link, base)
    facts, roots = _apply_rules(document, active, ruled=merged is not None)
    if not roots and merged is not None and active.body and active.tidy:
        # FiveFilters reads tidied markup: try the rules once more on a tidied tree (see feedsvc.tidy)
        tidied = parse_document(html, page, active.replace_string, active.parser)
        tidy_tree(tidied)
        tidied_facts, tidied_roots = _apply_rules(tidied, active, ruled=True)
        if tidied_roots:
            document, facts, roots = tidied, tidied_facts, tidied_roots
    if not roots and not active.autodetect_on_failure:
        raise ExtractError(page, f"the body rules of {active.source} match nothing")
    hints = [hint for hint in (facts.title, meta.title, meta.page_title) if hint]
    boxes = [box for xpath in active.companion for box in evaluate(document, xpath) if isinstance(box, HtmlElement)]
    automatic = not roots
    page_head = None
    if automatic:  # readability consumes the page and often leaves the byline and dateline out
        page_head = read_page_head(document, active, title_hints=hints, dateline_hint=facts.dateline)
        about = [text for text in (*hints, meta.description) if text]
        roots = [readable_root(document, base, meta.body_text, about)]
    for root in roots:
        prepare_tree(root, base, lazy_attr=active.src_lazy_load_attr, prune=active.prune or automatic)
    parts = read_story(
        roots, active, title_hints=hints, dateline_hint=facts.dateline, companion_boxes=boxes, automatic=automatic
    )
    if page_head is not None:
        parts = with_head_facts(parts, page_head)
    return _article(page, base, parts, facts, meta, next_page)


def _apply_rules(document: HtmlElement, rules: SiteRules, *, ruled: bool) -> tuple[_RuleFacts, list[HtmlElement]]:
    """Junk out, the rules' edits, their title/author/date/dateline, and the body roots they select."""
    rescue_noscript_images(document)
    drop_junk(document)
    apply_edits(document, rules)
    return _rule_facts(document, rules), body_elements(document, rules) if ruled else []


def join_pages(first: Article, rest: Sequence[Article]) -> Article:
    """A multi-page article: the bodies in order, metadata from the first page."""
    if not rest:
        return first
    body = "\n".join(part for part in (first.body_html, *(page.body_html for page in rest)) if part)
    companions = {c.key: c for page in (first, *rest) for c in page.companions}
    return replace(first, body_html=body, companions=tuple(companions.values()), next_page_url=rest[-1].next_page_url)


def single_page_url(html: str, url: str, rules: SiteRules | None, global_rules: SiteRules | None = None) -> str | None:
    """The page's ``single_page_link`` (a print or one-page view to fetch instead), if any."""
    merged = merge_rules(rules, global_rules)
    if merged is None or not merged.single_page_link:
        return None
    page = urldefrag(url).url
    document = parse_document(html, page, merged.replace_string, merged.parser)
    return find_link(document, merged.single_page_link, page)


def _rule_facts(document: HtmlElement, rules: SiteRules) -> _RuleFacts:
    titles = first_texts(document, rules.title)
    authors = [parse_byline(a) or a for a in first_texts(document, rules.author)]  # several: one each
    dates = first_texts(document, rules.date)
    datelines = [d for d in first_texts(document, rules.dateline) if parse_dateline(d, rules.dateline_pattern)]
    return _RuleFacts(
        title=titles[0] if titles else None,
        author=normalise_authors(authors),
        stamp=next((s for s in map(parse_date_value, dates) if s is not None), None),
        dateline=datelines[0] if datelines else None,
    )


def _article(
    page: str, base: str, parts: StoryParts, facts: _RuleFacts, meta: PageMeta, next_page: str | None
) -> Article:
    if any(block.text for block in parts.blocks):
        body, image, caption = take_lead_figure(blocks_to_html(parts.blocks))
    elif meta.body_text:  # the markup held no text, the page's JSON-LD does
        paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n|\r?\n", meta.body_text))
        body, image, caption = sanitize("".join(f"<p>{escape(p)}</p>" for p in paragraphs if p)), None, None
    else:
        raise ExtractError(page, "no article text found")
    dateline = parts.dateline
    published = facts.stamp if isinstance(facts.stamp, datetime) else meta.published
    rule_day = facts.stamp if isinstance(facts.stamp, date) and not isinstance(facts.stamp, datetime) else None
    day = (dateline.day if dateline else None) or rule_day or meta.published_day
    return Article(
        key=page,
        url=page,
        title=parts.title or meta.title or meta.page_title or "",
        body_html=body,
        author=facts.author or normalise_authors([parts.author] if parts.author else []) or meta.author,
        published=published,
        published_day=day or (published.date() if published else None),
        place=dateline.place if dateline else None,
        agency=dateline.agency if dateline else None,
        lead_image=image or (absolute_url(meta.image, base) if meta.image else None),
        lead_image_caption=caption,
        language=meta.language,
        summary=_summary(parts.blocks) or meta.description or summary_of(meta.body_text or ""),
        companions=tuple(_companion(page, companion) for companion in parts.companions),
        next_page_url=next_page,
    )


def _companion(page: str, companion: Companion) -> Article:
    return Article(
        key=f"{page}#{slugify(companion.title)}",
        url=page,
        title=companion.title,
        body_html=blocks_to_html(companion.blocks),
        published_day=companion.dateline.day,
        place=companion.dateline.place,
        agency=companion.dateline.agency,
        summary=_summary(companion.blocks),
    )


def _summary(blocks: Sequence[Block]) -> str:
    """The first paragraph of the story (not a picture, its caption, or a heading), shortened."""
    after_image = False
    for block in blocks:
        skip = not block.text or block.kind in _HEADINGS or subhead_words(block) is not None
        if is_figure(block) or skip or (after_image and is_caption(block)):
            after_image = block.is_image
            continue
        return summary_of(block.text)
    return ""
