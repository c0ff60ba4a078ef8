"""The local origin for the benchmarks: the test suite's fixture origin, grown.

``tests/origin.py`` is imported as it is (by path: the tests folder is not a
package). ``GatedOrigin`` adds a gate: requests for the paths in ``gated`` wait
until ``gate`` is set, so a benchmark decides when a scrape may start.
``build_scaled_tree`` copies the fixture tree and adds synthetic sections (an
RSS summary feed each) listing clones of the fixture articles, each clone with
its own title and its own words, so that a scrape has real work to do.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import re
import shutil
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_TREE = ROOT / "tests" / "fixtures" / "origin"
_PARAGRAPH = re.compile(r"<p>([^<>]{40,})</p>")


def _load_origin_module() -> ModuleType:
    name = "feedsvc_bench_origin"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "origin.py")
    if spec is None or spec.loader is None:
        raise ImportError("cannot load tests/origin.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


origin_module = _load_origin_module()
Origin: Any = origin_module.Origin
HOSTS: dict[str, str] = dict(origin_module.HOSTS)


class GatedOrigin(Origin):  # type: ignore[misc]
    """The fixture origin, with a gate in front of some paths."""

    def __init__(self, root: Path, hosts: dict[str, str] | None = None) -> None:
        super().__init__(root, hosts)
        self.gate = asyncio.Event()
        self.gate.set()
        self.gated: set[tuple[str, str]] = set()
        self.waiting = 0

    def _handler(self, site: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        inner = super()._handler(site)

        async def handle(request: web.Request) -> web.StreamResponse:
            if (site, request.rel_url.path) in self.gated and not self.gate.is_set():
                self.waiting += 1
                try:
                    await self.gate.wait()
                finally:
                    self.waiting -= 1
            response: web.StreamResponse = await inner(request)
            return response

        return handle


@dataclass(frozen=True)
class SyntheticSection:
    site: str
    id: str
    title: str
    path: str  # of its RSS summary feed on the site's host
    articles: tuple[str, ...]  # paths of its articles


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE_TREE / "manifest.json").read_text(encoding="utf-8"))
    return data


def fixture_sections() -> list[dict[str, Any]]:
    """The fixture origin's own sections (site, id, title, path)."""
    return list(manifest()["sections"])


def article_pages() -> list[tuple[str, str, str]]:
    """(site, path, encoding) of every single-page fixture article."""
    return [
        (a["site"], a["path"], a["encoding"])
        for a in manifest()["articles"]
        if not a.get("next_page") and not a.get("previous_page")
    ]


def vocabulary() -> list[str]:
    """Words of the fixture articles, repeated as often as they occur (a unigram model of their text)."""
    words: list[str] = []
    for site, path, encoding in article_pages():
        text = (FIXTURE_TREE / site / path.lstrip("/")).read_bytes().decode(codec_of(encoding), errors="replace")
        for paragraph in _PARAGRAPH.findall(text):
            words.extend(w for w in paragraph.split() if w.isascii() and "&" not in w)
    return words


def build_scaled_tree(dst: Path, *, sections_per_site: int, articles_per_section: int, seed: int = 7) -> list[SyntheticSection]:
    """Copy the fixture tree to ``dst`` and add synthetic sections; return them."""
    shutil.copytree(FIXTURE_TREE, dst)
    rng = random.Random(seed)
    words = vocabulary()
    bases = article_pages()
    sections: list[SyntheticSection] = []
    start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    for site in HOSTS:
        site_bases = [b for b in bases if b[0] == site] or bases
        for j in range(sections_per_site):
            articles: list[tuple[str, str, datetime]] = []
            for k in range(articles_per_section):
                base_site, base_path, encoding = site_bases[(j * articles_per_section + k) % len(site_bases)]
                title = f"Bench story {j:02d}-{k:03d} " + " ".join(rng.choice(words) for _ in range(5))
                path = f"/reports/Bench_{site}_{j:02d}_{k:03d}_999.html"
                raw = (FIXTURE_TREE / base_site / base_path.lstrip("/")).read_bytes()
                html = clone_page(raw.decode(codec_of(encoding), errors="replace"), title, rng, words)
                target = dst / site / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(html.encode(codec_of(encoding), errors="xmlcharrefreplace"))
                articles.append((path, title, start - timedelta(minutes=j * articles_per_section + k)))
            section = SyntheticSection(site, f"bench{j:02d}", f"Bench section {j:02d}", f"/bench/section_{j:02d}.xml",
                                       tuple(a[0] for a in articles))
            (dst / site / "bench").mkdir(exist_ok=True)
            (dst / site / section.path.lstrip("/")).write_text(_rss(section, articles), encoding="utf-8")
            sections.append(section)
    return sections


def clone_page(html: str, title: str, rng: random.Random, words: list[str]) -> str:
    """The page with a new title and new words in each plain paragraph."""
    old_title = re.search(r"<title>(.*?)</title>", html, re.S)
    if old_title and old_title.group(1).strip():
        html = html.replace(old_title.group(1).strip(), escape(title))

    def new_words(match: re.Match[str]) -> str:
        count = max(8, len(match.group(1).split()))
        return "<p>" + " ".join(rng.choice(words) for _ in range(count)).capitalize() + ".</p>"

    return _PARAGRAPH.sub(new_words, html)


def _rss(section: SyntheticSection, articles: list[tuple[str, str, datetime]]) -> str:
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{path}</link>"
        f"<description>{escape(title)}: a benchmark story.</description>"
        f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>\n"
        for path, title, when in articles
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(section.title)}</title><link>/</link><description>benchmark section</description>\n"
        f"{items}</channel></rss>\n"
    )


def codec_of(encoding: str) -> str:
    return "cp1252" if encoding.lower() in ("windows-1252", "cp1252") else encoding
