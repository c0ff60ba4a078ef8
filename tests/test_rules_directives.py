"""Every directive of the ftr-site-config format is parsed AND applied.

tests/fixtures/rules/directives/<case>/ holds, per directive, a small rule file
(``news.example.com.txt``), a page (``page.html``) and ``case.json``: the directive under
test, what extraction (or the pipeline, or ``rules test``) must give with the file, and,
optionally, what it gives without the directive's lines. Without ``without``, the result
must merely differ: a directive the implementation ignores fails its case.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from feedsvc.clean import text_of
from feedsvc.config import parse_settings
from feedsvc.errors import ExtractError
from feedsvc.extract import extract_article, single_page_url
from feedsvc.rules.parser import DIRECTIVES, NOT_APPLIED, parse_rules, split_line
from feedsvc.ruletest import RuleSet, run_tests, saved_pages
from feedsvc.service import runtime
from feedsvc.store.open import open_store

CASES = Path(__file__).parent / "fixtures" / "rules" / "directives"
RULE_FILE = "news.example.com.txt"
#: The standard directives the issue lists (find_string/replace_string: both spellings).
STANDARD = (
    "body", "title", "author", "date", "strip", "strip_id_or_class", "strip_image_src", "strip_attr", "prune",
    "tidy", "find_string", "replace_string", "single_page_link", "next_page_link", "if_page_contains",
    "http_header", "native_ad_clue", "wrap_in", "src_lazy_load_attr", "skip_json_ld", "autodetect_on_failure",
    "parser", "test_url", "test_contains",
)
#: feedsvc's extension directives (docs/rules.md), covered by the extraction and discover tests.
EXTENSIONS = (
    "section_item", "section_link", "section_title", "section_date", "section_teaser", "article_url",
    "dateline", "dateline_pattern", "companion", "companion_pattern", "body_end_text", "strip_text",
)


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((CASES / name / "case.json").read_text(encoding="utf-8"))
    case["name"] = name
    return case


ALL_CASES = sorted(p.name for p in CASES.iterdir() if (p / "case.json").is_file())
BY_KIND = {kind: [pytest.param(load_case(n), id=n) for n in ALL_CASES if load_case(n)["kind"] == kind]
           for kind in ("extract", "pipeline", "ruletest")}


def without_directive(rules_text: str, directive: str) -> str:
    """The rule file without the lines of ``directive``."""
    kept = []
    for line in rules_text.splitlines():
        parts = split_line(line.strip()) if line.strip() and not line.strip().startswith("#") else None
        if parts is None or parts[0] != directive:
            kept.append(line)
    return "\n".join(kept) + "\n"


def failures(expect: dict[str, Any], seen: dict[str, Any]) -> list[str]:
    """What of ``expect`` the observed result ``seen`` does not hold."""
    wrong = []
    for key, wanted in expect.items():
        if key in ("text_contains", "html_contains", "problems"):
            source = seen["problems" if key == "problems" else key.split("_")[0]]
            wrong += [f"{key}: {w!r}" for w in wanted if not any(w in s for s in source) and w not in source]
        elif key in ("text_lacks", "html_lacks"):
            source = seen[key.split("_")[0]]
            wrong += [f"{key}: {w!r}" for w in wanted if w in source]
        elif key == "text_starts":
            wrong += [] if seen["text"].startswith(wanted) else [f"{key}: {wanted!r}"]
        elif key == "text_ends":
            wrong += [] if seen["text"].endswith(wanted) else [f"{key}: {wanted!r}"]
        elif key == "error":
            wrong += [] if wanted in (seen.get("error") or "") else [f"error: {wanted!r} not in {seen.get('error')!r}"]
        elif seen.get(key) != wanted:
            wrong.append(f"{key}: {seen.get(key)!r} != {wanted!r}")
    return wrong


def observe_extraction(case: dict[str, Any], rules_text: str) -> dict[str, Any]:
    rules, problems = parse_rules(rules_text, RULE_FILE)
    html = (CASES / case["name"] / "page.html").read_text(encoding="utf-8")
    seen: dict[str, Any] = {"problems": [p.message for p in problems], "text": "", "html": "", "error": None,
                            "single_page_url": single_page_url(html, case["url"], rules)}
    try:
        article = extract_article(html, case["url"], rules)
    except ExtractError as exc:
        seen["error"] = str(exc)
        return seen
    seen.update(
        title=article.title, author=article.author, html=article.body_html, text=text_of(article.body_html),
        published=article.published.isoformat() if article.published else None, next_page_url=article.next_page_url,
    )
    return seen


def test_every_directive_of_the_format_has_a_case() -> None:
    assert set(STANDARD) | set(EXTENSIONS) == set(DIRECTIVES), "a directive without a case (or an unknown one)"
    covered = {load_case(name)["directive"] for name in ALL_CASES}
    assert set(STANDARD) <= covered, f"no case for {sorted(set(STANDARD) - covered)}"
    assert covered & set(NOT_APPLIED), "no case for the legacy directives that are accepted but not applied"


@pytest.mark.parametrize("case", BY_KIND["extract"])
def test_directive_is_applied(case: dict[str, Any]) -> None:
    rules_text = (CASES / case["name"] / RULE_FILE).read_text(encoding="utf-8")
    assert failures(case["expect"], observe_extraction(case, rules_text)) == []


@pytest.mark.parametrize("case", BY_KIND["extract"])
def test_without_the_directive_the_result_differs(case: dict[str, Any]) -> None:
    rules_text = without_directive((CASES / case["name"] / RULE_FILE).read_text(encoding="utf-8"), case["directive"])
    seen = observe_extraction(case, rules_text)
    if "without" in case:
        assert failures(case["without"], seen) == []
    assert failures(case["expect"], seen) != [], "the directive changes nothing"


# ------------------------------------------------------------------ test_url / test_contains (feedsvc rules test)


async def observe_rule_tests(case: dict[str, Any], rules_text: str) -> dict[str, Any]:
    rules, _ = parse_rules(rules_text, RULE_FILE)
    results = await run_tests([RuleSet("news.example.com", rules)], None, pages=saved_pages(CASES / case["name"]))
    return {"rule_tests": [[r.url, r.status] for r in results]}


@pytest.mark.parametrize("case", BY_KIND["ruletest"])
async def test_rule_tests_run_on_saved_pages(case: dict[str, Any]) -> None:
    rules_text = (CASES / case["name"] / RULE_FILE).read_text(encoding="utf-8")
    assert failures(case["expect"], await observe_rule_tests(case, rules_text)) == []
    assert failures(case["expect"], await observe_rule_tests(case, without_directive(rules_text, case["directive"]))) != []


# ------------------------------------------------------------------ directives the pipeline applies (fetching)


@dataclass
class Site:
    """A one-article site: an RSS feed listing the case's page, and every request logged."""

    folder: Path
    path: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers)))
        if request.path == "/feed.xml":
            item = f"<item><title>Story</title><link>{self.base}{self.path}</link></item>"
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{item}</channel></rss>'
            return web.Response(text=body, content_type="application/rss+xml")
        if request.path == self.path:
            return web.Response(text=(self.folder / "page.html").read_text(encoding="utf-8"), content_type="text/html")
        if request.path.startswith("/print/") and (self.folder / "print.html").is_file():
            return web.Response(text=(self.folder / "print.html").read_text(encoding="utf-8"), content_type="text/html")
        return web.Response(status=404)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(site: Site) -> Site:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", site.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        site.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


async def scrape_case(case_folder: Path, rules_text: str, tmp_path: Path, serve: Any) -> tuple[Site, list[Any]]:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / RULE_FILE).write_text(rules_text, encoding="utf-8")
    site = await serve(Site(case_folder, "/2024/05/02/harbour-bridge-reopens"))
    settings = parse_settings(
        f"""
storage: sqlite:///{tmp_path}/feedsvc.db
rules_dirs: [{rules_dir}]
jitter: 0
fetch: {{min_delay: 0.0, timeout: 10, retries: 0, obey_robots: false}}
sites:
  - id: news
    title: News
    url: {site.base}/
    rules: news.example.com
    sections:
      - {{id: local, title: Local, url: "{site.base}/feed.xml"}}
""",
        "directives.yaml",
        env={},
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        async with runtime(settings, cpu=pool) as rt:
            report = await rt.scraper.refresh(settings.sections()[0])
            assert report.ok, report.errors
            stories = await rt.store.stories_for("all", 10)
    return site, stories


@pytest.mark.parametrize("case", BY_KIND["pipeline"])
async def test_request_directives_reach_the_origin(case: dict[str, Any], tmp_path: Path, serve: Any) -> None:
    folder = CASES / case["name"]
    rules_text = (folder / RULE_FILE).read_text(encoding="utf-8")

    def article_headers(site: Site) -> dict[str, str]:
        return next(headers for path, headers in site.requests if path == site.path)

    site, _ = await scrape_case(folder, rules_text, tmp_path / "with", serve)
    sent = article_headers(site)
    assert {name: sent.get(name) for name in case["expect"]["request_headers"]} == case["expect"]["request_headers"]
    site, _ = await scrape_case(folder, without_directive(rules_text, case["directive"]), tmp_path / "without", serve)
    sent = article_headers(site)
    assert {name: sent.get(name) for name in case["expect"]["request_headers"]} != case["expect"]["request_headers"]


async def test_the_pipeline_follows_single_page_link_and_keeps_the_story_link(tmp_path: Path, serve: Any) -> None:
    folder = CASES / "single_page_link"
    site, stories = await scrape_case(folder, (folder / RULE_FILE).read_text(encoding="utf-8"), tmp_path, serve)
    assert [path for path, _ in site.requests if path.startswith("/print/")] == ["/print/2024/05/02/harbour-bridge-reopens"]
    (story,) = stories
    assert "on the third and last page of the story" in story.content_html  # only the one-page view has it
    assert story.url == site.base + site.path
    store = open_store(f"sqlite:///{tmp_path}/feedsvc.db")
    try:
        kept = await store.raw_pages(story.key)
    finally:
        await store.close()
    assert kept is not None and kept.pages[0][0] == site.base + "/print/2024/05/02/harbour-bridge-reopens"
