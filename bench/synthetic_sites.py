"""Synthetic sites at a local origin, for a store of many sections.

Each synthetic site is served by its own loopback host (127.0.0.3, .4, ...);
each section is an RSS summary feed listing the stories the synthetic store
holds for it, so a scheduled refresh finds them all known. ``add_story`` puts
a new article on a section (a clone of a fixture article page, with its own
title and words) for runs that must scrape real work.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from bench.fixture_origin import FIXTURE_TREE, GatedOrigin, article_pages, clone_page, codec_of
from bench.synthetic import Layout


def synthetic_hosts(sites: Sequence[str]) -> dict[str, str]:
    return {site: f"127.0.0.{3 + index}" for index, site in enumerate(sites)}


class SyntheticSites:
    """The origin of a synthetic store's sections."""

    def __init__(self, root: Path, sites: Sequence[str], words: Sequence[str], seed: int = 3) -> None:
        self.root = root
        self.origin = GatedOrigin(root, synthetic_hosts(sites))
        self._words = list(words)
        self._rng = random.Random(seed)
        self._bases = article_pages()
        self._items: dict[str, list[tuple[str, str, datetime]]] = {}  # section key -> (url, title, when), newest first
        self._added = 0
        for site in sites:
            (root / site).mkdir(parents=True, exist_ok=True)
            (root / site / "robots.txt").write_text("User-agent: *\nDisallow: /cgi-bin/\n", encoding="ascii")

    async def start(self) -> None:
        await self.origin.start()

    async def stop(self) -> None:
        self.origin.gate.set()
        await self.origin.stop()

    def base_urls(self) -> dict[str, str]:
        return {site: self.origin.base_url(site) for site in self.origin.hosts}

    def section_path(self, section_key: str) -> str:
        return f"/sections/{section_key.partition('/')[2]}.xml"

    def section_url(self, section_key: str) -> str:
        site = section_key.partition("/")[0]
        return str(self.origin.url(site, self.section_path(section_key)))

    def publish_layout(self, layout: Layout) -> None:
        """Write every section's feed with the stories the store holds (newest first)."""
        total = layout.total
        index = 0
        for n in range(layout.stories_per_section - 1, -1, -1):
            for section_key in layout.section_keys():
                index += 1
                when = layout.newest - timedelta(seconds=(total - index) * 30)
                self._items.setdefault(section_key, []).insert(0, (layout.key(section_key, n), f"Story {n}", when))
        for section_key in layout.section_keys():
            self._write(section_key)
        self.gate_sections(layout.section_keys())

    def gate_sections(self, section_keys: Sequence[str]) -> None:
        for key in section_keys:
            self.origin.gated.add((key.partition("/")[0], self.section_path(key)))

    def add_story(self, section_key: str) -> str:
        """A new article page listed first on the section; returns its URL."""
        site = section_key.partition("/")[0]
        self._added += 1
        base_site, base_path, encoding = self._bases[self._added % len(self._bases)]
        title = f"New story {self._added} " + " ".join(self._rng.choices(self._words, k=6))
        raw = (FIXTURE_TREE / base_site / base_path.lstrip("/")).read_bytes()
        html = clone_page(raw.decode(codec_of(encoding), errors="replace"), title, self._rng, self._words)
        path = f"/reports/New_{site}_{self._added:05d}_999.html"
        target = self.root / site / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(html.encode(codec_of(encoding), errors="xmlcharrefreplace"))
        url = str(self.origin.url(site, path))
        self._items.setdefault(section_key, []).insert(0, (url, title, datetime.now(UTC)))
        self._write(section_key, keep=50)
        return url

    def _write(self, section_key: str, keep: int | None = None) -> None:
        site = section_key.partition("/")[0]
        items = self._items.get(section_key, [])[:keep]
        body = "".join(
            f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
            f"<description>{escape(title)}.</description><pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>\n"
            for url, title, when in items
        )
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(section_key)}</title><link>/</link><description>synthetic section</description>\n{body}"
            "</channel></rss>\n"
        )
        path = self.root / site / self.section_path(section_key).lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        self.origin.set_page(site, self.section_path(section_key), data, content_type="application/rss+xml")
