"""Specification of the fixture origin (tests/origin.py) and of the fixture pages it serves."""

from __future__ import annotations

import importlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import lxml.etree
import lxml.html
import pytest
from multidict import CIMultiDict
from origin import Origin, etag_of

FIXTURES = Path(__file__).parent / "fixtures"
TREE = FIXTURES / "origin"
MANIFEST: dict[str, Any] = json.loads((TREE / "manifest.json").read_text(encoding="utf-8"))
SEED_TEXT = FIXTURES / "seed" / "000_7bda87ac323f54e5.txt"
SEED_PATH = "/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"
RSS_PATH = "/Space_Industry.xml"


def page_id(entry: dict[str, Any]) -> str:
    return f"{entry['site']}{entry['path']}"


def resolve(page_path: str, href: str) -> str:
    """The site path a link on ``page_path`` points to (absolute links keep only their path)."""
    return urlsplit(urljoin("http://origin.test" + page_path, href)).path


def normalise(text: str) -> str:
    return " ".join(text.split())


def visible_text(markup: str) -> str:
    """What a reader sees: no script/style; an image shows its alt text (as text dumps do)."""
    doc = lxml.html.document_fromstring(markup)
    for element in doc.xpath("//script|//style"):
        element.drop_tree()
    for img in doc.xpath("//img[@alt]"):
        img.tail = img.get("alt", "") + (img.tail or "")
    return normalise(doc.text_content())


def decoded(entry: dict[str, Any]) -> str:
    body: bytes = (TREE / entry["site"] / entry["path"].lstrip("/")).read_bytes()
    encoding: str = entry["encoding"]
    return body.decode("cp1252" if encoding == "windows-1252" else encoding)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str, method: str = "GET",
              headers: dict[str, str] | None = None) -> tuple[int, CIMultiDict[str], bytes]:
    async with http.request(method, url, headers=headers or {}, allow_redirects=False) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


# ------------------------------------------------------------------ serving


@pytest.mark.parametrize("entry", MANIFEST["files"], ids=page_id)
async def test_every_file_is_served_unchanged_with_its_headers(
    origin: Origin, http: aiohttp.ClientSession, entry: dict[str, Any]
) -> None:
    status, headers, body = await get(http, origin.url(entry["site"], entry["path"]))
    on_disk = (TREE / entry["site"] / entry["path"].lstrip("/")).read_bytes()
    assert (status, body) == (200, on_disk)
    assert headers["Content-Type"] == entry["content_type"]
    assert headers["ETag"] == etag_of(on_disk) and headers["ETag"].startswith('"')
    assert headers["Last-Modified"] == entry["last_modified"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/reports/Brazil_opens_Alcantara_launch_base_to_foreign_operators_999.html", "text/html"),
        ("/reports/Arianespace_books_three_Vega_C_launches_999.html", "text/html; charset=utf-8"),
        ("/reports/Startup_raises_40_million_for_in_orbit_refuelling_service_999.html", "text/html"),
        ("/Space_Industry.xml", "application/rss+xml"),
        ("/robots.txt", "text/plain"),
    ],
    ids=["windows-1252 page: no charset", "charset in HTTP only", "utf-8 in meta only", "rss", "robots"],
)
async def test_content_types(origin: Origin, http: aiohttp.ClientSession, path: str, content_type: str) -> None:
    _, headers, _ = await get(http, origin.url("spacedaily", path))
    assert headers["Content-Type"] == content_type


async def test_each_site_has_its_own_loopback_address(origin: Origin, http: aiohttp.ClientSession) -> None:
    assert urlsplit(origin.base_url("spacewar")).hostname == "127.0.0.1"
    assert urlsplit(origin.base_url("spacedaily")).hostname == "127.0.0.2"
    assert (await get(http, origin.url("spacewar", RSS_PATH)))[0] == 404
    assert (await get(http, origin.url("spacedaily", RSS_PATH)))[0] == 200


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({"If-None-Match": "{etag}"}, 304),
        ({"If-None-Match": '"other", {etag}'}, 304),
        ({"If-None-Match": "W/{etag}"}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Modified-Since": "{last_modified}"}, 304),
        ({"If-Modified-Since": "Fri, 01 Jan 2021 00:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Tue, 01 Jan 2019 00:00:00 GMT"}, 200),
        ({"If-Modified-Since": "not a date"}, 200),
        ({"If-None-Match": '"other"', "If-Modified-Since": "{last_modified}"}, 200),
    ],
    ids=["etag", "etag in list", "weak etag", "star", "other etag", "ims equal", "ims later", "ims earlier",
         "ims garbage", "etag wins over ims"],
)
async def test_conditional_get(
    origin: Origin, http: aiohttp.ClientSession, conditions: dict[str, str], status: int
) -> None:
    url = origin.url("spacewar", SEED_PATH)
    _, first, full = await get(http, url)
    headers = {k: v.format(etag=first["ETag"], last_modified=first["Last-Modified"]) for k, v in conditions.items()}
    got_status, got_headers, body = await get(http, url, headers=headers)
    assert got_status == status
    assert got_headers["ETag"] == first["ETag"]
    assert body == (b"" if status == 304 else full)


async def test_head_gives_the_headers_of_get_without_a_body(origin: Origin, http: aiohttp.ClientSession) -> None:
    url = origin.url("spacewar", SEED_PATH)
    _, get_headers, body = await get(http, url)
    status, head_headers, head_body = await get(http, url, method="HEAD")
    assert (status, head_body) == (200, b"")
    for name in ("ETag", "Last-Modified", "Content-Type"):
        assert head_headers[name] == get_headers[name]
    assert int(head_headers["Content-Length"]) == len(body)


@pytest.mark.parametrize(
    "path", ["/nope.html", "/reports/", "/", "/manifest.json", "/../manifest.json", "/reports/../../manifest.json"]
)
async def test_unknown_paths_are_404(origin: Origin, http: aiohttp.ClientSession, path: str) -> None:
    assert (await get(http, origin.base_url("spacewar") + path))[0] == 404


async def test_other_methods_are_405(origin: Origin, http: aiohttp.ClientSession) -> None:
    status, headers, _ = await get(http, origin.url("spacewar", SEED_PATH), method="POST")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


# ------------------------------------------------------------------ request log


async def test_the_log_records_every_request(origin: Origin, http: aiohttp.ClientSession) -> None:
    before = time.monotonic()
    await get(http, origin.url("spacewar", SEED_PATH) + "?utm=x", headers={"User-Agent": "feedsvc-test"})
    await get(http, origin.url("spacedaily", "/missing.html"), method="HEAD")
    first, second = origin.log
    assert (first.site, first.method, first.path, first.query, first.status) == ("spacewar", "GET", SEED_PATH,
                                                                                   "utm=x", 200)
    assert first.headers["User-Agent"] == "feedsvc-test"
    assert (second.site, second.method, second.path, second.status) == ("spacedaily", "HEAD", "/missing.html", 404)
    assert before <= first.t_start <= first.t_end <= second.t_start <= second.t_end <= time.monotonic()


async def test_the_log_can_be_filtered_and_cleared(origin: Origin, http: aiohttp.ClientSession) -> None:
    for site, path in [("spacewar", SEED_PATH), ("spacewar", "/robots.txt"), ("spacedaily", "/robots.txt")]:
        await get(http, origin.url(site, path))
    assert [r.site for r in origin.requests(path="/robots.txt")] == ["spacewar", "spacedaily"]
    assert [r.path for r in origin.requests(site="spacewar")] == [SEED_PATH, "/robots.txt"]
    assert len(origin.requests(method="HEAD")) == 0
    origin.clear_log()
    assert origin.requests() == []


# ------------------------------------------------------------------ run-time changes


@pytest.mark.parametrize(("delay_path", "delayed"), [(SEED_PATH, True), (None, True), ("/robots.txt", False)],
                         ids=["this path", "whole site", "other path"])
async def test_set_delay(origin: Origin, http: aiohttp.ClientSession, delay_path: str | None, delayed: bool) -> None:
    origin.set_delay("spacewar", delay_path, 0.3)
    started = time.monotonic()
    status, _, _ = await get(http, origin.url("spacewar", SEED_PATH))
    elapsed = time.monotonic() - started
    assert status == 200
    assert (elapsed >= 0.3) is delayed
    (entry,) = origin.requests(path=SEED_PATH)
    assert (entry.t_end - entry.t_start >= 0.3) is delayed


async def test_set_page_serves_new_bytes_with_new_validators(origin: Origin, http: aiohttp.ClientSession) -> None:
    url = origin.url("spacewar", SEED_PATH)
    _, old, _ = await get(http, url)
    corrected = (TREE / "spacewar" / SEED_PATH.lstrip("/")).read_bytes().replace(b"nearly two hours", b"two hours")
    origin.set_page("spacewar", SEED_PATH, corrected)
    status, new, body = await get(http, url, headers={"If-None-Match": old["ETag"]})
    assert (status, body) == (200, corrected)
    assert new["ETag"] != old["ETag"] and new["Content-Type"] == old["Content-Type"] == "text/html"
    assert (await get(http, url, headers={"If-Modified-Since": old["Last-Modified"]}))[0] == 200
    assert (await get(http, url, headers={"If-None-Match": new["ETag"]}))[0] == 304


async def test_set_page_can_add_a_page_with_its_content_type(origin: Origin, http: aiohttp.ClientSession) -> None:
    origin.set_page("spacedaily", "/reports/New_999.html", b"<p>caf\xc3\xa9</p>", "text/html; charset=utf-8",
                    last_modified="Fri, 26 Apr 2019 08:00:00 GMT")
    status, headers, body = await get(http, origin.url("spacedaily", "/reports/New_999.html"))
    assert (status, body, headers["Content-Type"]) == (200, b"<p>caf\xc3\xa9</p>", "text/html; charset=utf-8")
    assert headers["Last-Modified"] == "Fri, 26 Apr 2019 08:00:00 GMT"


async def test_set_page_does_not_touch_the_fixture_tree(origin: Origin) -> None:
    origin.set_page("spacewar", SEED_PATH, b"changed")
    assert origin.root != TREE
    assert (TREE / "spacewar" / SEED_PATH.lstrip("/")).read_bytes() != b"changed"


async def test_remove_page_gives_404(origin: Origin, http: aiohttp.ClientSession) -> None:
    origin.remove_page("spacewar", SEED_PATH)
    assert (await get(http, origin.url("spacewar", SEED_PATH)))[0] == 404


async def test_set_status_for_some_requests_then_normal(origin: Origin, http: aiohttp.ClientSession) -> None:
    origin.set_status("spacewar", SEED_PATH, 503, {"Retry-After": "2"}, times=2)
    url = origin.url("spacewar", SEED_PATH)
    answers = [await get(http, url) for _ in range(3)]
    assert [a[0] for a in answers] == [503, 503, 200]
    assert answers[0][1]["Retry-After"] == "2"
    assert [r.status for r in origin.requests(path=SEED_PATH)] == [503, 503, 200]


async def test_set_status_until_cleared(origin: Origin, http: aiohttp.ClientSession) -> None:
    origin.set_status("spacewar", "/old.html", 301, {"Location": SEED_PATH})
    for _ in range(2):
        status, headers, _ = await get(http, origin.url("spacewar", "/old.html"))
        assert (status, headers["Location"]) == (301, SEED_PATH)
    origin.clear_status("spacewar", "/old.html")
    assert (await get(http, origin.url("spacewar", "/old.html")))[0] == 404


# ------------------------------------------------------------------ the fixture tree and its manifest


def test_the_manifest_lists_every_file_of_the_tree() -> None:
    on_disk = {(p.relative_to(TREE).parts[0], "/" + "/".join(p.relative_to(TREE).parts[1:]))
               for p in TREE.rglob("*") if p.is_file() and p.name != "manifest.json"}
    listed = {(f["site"], f["path"]) for f in MANIFEST["files"]}
    assert on_disk == listed
    assert {(a["site"], a["path"]) for a in MANIFEST["articles"]} <= listed


def test_the_tree_is_what_the_builder_generates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    builder = importlib.import_module("build_origin")
    builder.build(tmp_path / "origin")
    generated = {p.relative_to(tmp_path / "origin"): p.read_bytes() for p in (tmp_path / "origin").rglob("*")
                 if p.is_file()}
    committed = {p.relative_to(TREE): p.read_bytes() for p in TREE.rglob("*") if p.is_file()}
    assert generated.keys() == committed.keys()
    assert [k for k in generated if generated[k] != committed[k]] == []


def test_the_seed_page_shows_every_line_of_the_seed_text_in_order() -> None:
    (seed,) = [a for a in MANIFEST["articles"] if a["path"] == SEED_PATH]
    text = visible_text(decoded(seed))
    position = 0
    for line in SEED_TEXT.read_text(encoding="utf-8").splitlines():
        wanted = normalise(line)
        if wanted:
            found = text.find(wanted, position)
            assert found >= 0, f"seed line missing or out of order: {wanted[:80]!r}"
            position = found + len(wanted)


META_CHARSET = re.compile(r"<meta[^>]+charset=([\w-]+)", re.IGNORECASE)


@pytest.mark.parametrize("article", MANIFEST["articles"], ids=page_id)
def test_article_pages_agree_with_the_manifest(article: dict[str, Any]) -> None:
    markup = decoded(article)
    declared = META_CHARSET.search(markup)
    expected_meta = article["encoding"] if article["charset_declared"] == "meta" else None
    assert (declared.group(1) if declared else None) == expected_meta
    assert ("charset=" in article["content_type"]) is (article["charset_declared"] == "http")
    doc = lxml.html.document_fromstring(markup)
    assert normalise(doc.findtext(".//title") or "") == article["title"]
    text = visible_text(markup)
    facts = [article["title"], article["first_sentence"], article["last_sentence"], *article["subheads"]]
    for companion in article["companions"]:
        facts += [companion["title"], companion["first_sentence"], companion["last_sentence"]]
    for fact in facts:
        assert fact in text
    if article["author"]:
        assert f"by {article['author']}".lower() in text.lower()
    if article["lead_image"]:
        assert doc.xpath("//img[@src=$src]", src=article["lead_image"])
        assert article["lead_image_caption"] in text
    for image in article["inline_images"]:
        assert doc.xpath("//img[@src=$src]", src=image["src"]) and image["caption"] in text
    if article["next_page"]:
        links = [resolve(article["path"], a.get("href")) for a in doc.xpath("//a[normalize-space()='Next Page']")]
        assert links == [article["next_page"]]
    for needle in article["must_not_contain"]:
        assert needle in text or needle in markup, f"must_not_contain {needle!r} is not even on the page"


def listed_html(section: dict[str, Any], path: str) -> tuple[list[str], list[str], list[str]]:
    """(item links in order, their headlines, every other /reports/ link) of an HTML section page."""
    entry = {"site": section["site"], "path": path, "encoding": "windows-1252"}
    doc = lxml.html.document_fromstring(decoded(entry))
    items = [resolve(path, a.get("href")) for a in doc.xpath("//a[normalize-space()='read more']")]
    headlines = {resolve(path, a.get("href")): normalise(a.text_content()) for a in doc.xpath("//b/a")}
    others = {resolve(path, a.get("href")) for a in doc.xpath("//a[contains(@href, '/reports/')]")}
    return items, [headlines.get(i, "") for i in items], sorted(others - set(items))


def listed_rss(section: dict[str, Any], path: str) -> tuple[list[str], list[str]]:
    root = lxml.etree.fromstring((TREE / section["site"] / path.lstrip("/")).read_bytes())
    return root.xpath("//item/link/text()"), root.xpath("//item/title/text()")


@pytest.mark.parametrize(
    ("section", "page"),
    [(s, p) for s in MANIFEST["sections"] for p in s["pages"]],
    ids=[f"{s['site']}{p['path']}" for s in MANIFEST["sections"] for p in s["pages"]],
)
def test_section_pages_list_their_articles_newest_first(section: dict[str, Any], page: dict[str, Any]) -> None:
    articles = {(a["site"], a["path"]): a for a in MANIFEST["articles"]}
    if page["kind"] == "rss":
        items, titles = listed_rss(section, page["path"])
    else:
        items, titles, others = listed_html(section, page["path"])
        assert others == sorted(set(section["side_links"]))
    assert items == section["articles"]
    listed = [articles[(section["site"], path)] for path in items]
    assert titles == [a["title"] for a in listed]
    assert all(section["id"] in a["sections"] for a in listed)
    dates = [a["date"] for a in listed]
    assert dates == sorted(dates, reverse=True)


def test_the_fixtures_cover_what_the_extractor_must_handle() -> None:
    articles = MANIFEST["articles"]
    declared = {(a["encoding"], a["charset_declared"]) for a in articles}
    assert {("windows-1252", "meta"), ("windows-1252", "none"), ("utf-8", "http"), ("utf-8", "meta")} <= declared
    assert len({a["title"] for a in articles}) >= 18
    assert any(len(a["sections"]) == 2 for a in articles)
    assert any(a["path"].startswith("/afp/") for a in articles)
    assert any(a["next_page"] for a in articles) and any(a["inline_images"] for a in articles)
    assert any((a["lead_image"] or "").startswith("https://www.spxdaily.com/images-hg/") for a in articles)
    assert {"Staff Writers", None} <= {a["author"] for a in articles}
    companions = {c["first_sentence"]: a["site"] for a in articles for c in a["companions"]}
    standalone = {a["first_sentence"]: a["site"] for a in articles}
    assert any(s in standalone and standalone[s] != site for s, site in companions.items())
