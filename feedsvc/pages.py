"""The pages for people and feed readers: the HTML index of every feed, and OPML 2.0.

Pure functions: settings, feed descriptions and feed status in, bytes out.
Every text is escaped (``html.escape`` for HTML, lxml for OPML).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from feedsvc.feedcache import ALL_FEED, FeedStatus
from feedsvc.models import SectionConfig, Settings, SiteConfig
from feedsvc.render import FeedInfo

FORMAT_LABELS = (("atom", "Atom", "application/atom+xml"),
                 ("rss", "RSS", "application/rss+xml"),
                 ("json", "JSON", "application/feed+json"))

_CSS = """
:root{color-scheme:light dark;--fg:#1d232b;--muted:#5d6b7a;--line:#dde3ea;--bg:#f7f9fb;
--card:#fff;--accent:#1f5fbf;--chip:#eef3fa}
@media (prefers-color-scheme:dark){:root{--fg:#e4e8ee;--muted:#9aa7b5;--line:#2c3540;
--bg:#12171d;--card:#1a2129;--accent:#7fb0ff;--chip:#22303f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:60rem;margin:0 auto;padding:2rem 1.25rem 4rem}
h1{font-size:1.8rem;margin:0 0 .25rem}
h2{font-size:1.3rem;margin:0}
p.lead{color:var(--muted);margin:0 0 2rem}
p.note{color:var(--muted);margin:.5rem 0 0}
a{color:var(--accent)}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:1.1rem 1.25rem;margin:0 0 1.25rem}
.head{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;justify-content:space-between}
.site-link{color:var(--muted);font-size:.9rem}
table{width:100%;border-collapse:collapse;margin-top:.75rem;font-size:.95rem}
th,td{text-align:left;padding:.45rem .5rem;border-top:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);border-top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.when{color:var(--muted);white-space:nowrap}
.fmts{white-space:nowrap}
.fmts a{display:inline-block;padding:.05rem .5rem;margin:0 .15rem .15rem 0;border-radius:999px;
background:var(--chip);text-decoration:none;font-size:.85rem}
.fmts a:hover{text-decoration:underline}
footer{color:var(--muted);font-size:.85rem;margin-top:2rem}
""".strip()


def render_index(
    settings: Settings, infos: Mapping[str, FeedInfo], statuses: Mapping[str, FeedStatus]
) -> bytes:
    """The HTML index: the "all" feed, then each site with its site feed and sections."""
    e = html.escape
    all_info = infos[ALL_FEED]
    discovery = [_discovery(all_info, fmt) for fmt, _, _ in FORMAT_LABELS]
    for site in settings.sites:
        discovery.extend(_discovery(infos[site.id], fmt) for fmt, _, _ in FORMAT_LABELS)
        discovery.extend(_discovery(infos[sec.key], "atom") for sec in site.sections)

    all_status = statuses.get(ALL_FEED)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Full-text feeds</title>",
        *discovery,
        f"<style>{_CSS}</style>",
        "</head><body><main>",
        "<h1>Full-text feeds</h1>",
        '<p class="lead">Every section as a clean, full-text feed in Atom, RSS and JSON Feed. '
        f'Add them one by one, or import them all with the <a href="{e(_base(settings))}/opml">'
        "OPML file</a>.</p>",
        '<section class="card"><div class="head">',
        f"<h2>{e(all_info.title)}</h2>",
        f'<span class="fmts">{_format_links(all_info)}</span></div>',
        f'<p class="note">{e(all_info.subtitle)}. '
        f"{_summary(all_status)}</p></section>",
    ]
    parts.extend(_site_card(site, infos, statuses) for site in settings.sites)
    parts.append(
        "<footer>Feeds are refreshed on a schedule; readers should honour ETag and "
        "Last-Modified.</footer></main></body></html>"
    )
    return "\n".join(parts).encode("utf-8")


def render_opml(settings: Settings, infos: Mapping[str, FeedInfo], created: datetime) -> bytes:
    """OPML 2.0: one outline per feed (Atom URL), grouped by site."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = "Full-text feeds"
    created_utc = created.astimezone(UTC) if created.tzinfo else created.replace(tzinfo=UTC)
    etree.SubElement(head, "dateCreated").text = format_datetime(created_utc, usegmt=True)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    _outline(body, infos[ALL_FEED], infos[ALL_FEED].title)
    for site in settings.sites:
        group = etree.SubElement(body, "outline", text=site.title, title=site.title)
        _outline(group, infos[site.id], f"{site.title} (all sections)")
        for sec in site.sections:
            _outline(group, infos[sec.key], sec.title)
    data: bytes = etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


# ---------------------------------------------------------------- internals


def _site_card(
    site: SiteConfig, infos: Mapping[str, FeedInfo], statuses: Mapping[str, FeedStatus]
) -> str:
    e = html.escape
    info = infos[site.id]
    rows = "\n".join(_section_row(sec, infos[sec.key], statuses.get(sec.key)) for sec in site.sections)
    return "\n".join(
        [
            f'<section class="card" id="{e(site.id)}"><div class="head">',
            f'<h2>{e(site.title)} <a class="site-link" href="{e(site.url)}">{e(_host(site.url))}</a></h2>',
            f'<span class="fmts">{_format_links(info)}</span></div>',
            f'<p class="note">{e(info.subtitle)}. '
            f"{_summary(statuses.get(site.id))}</p>",
            "<table><thead><tr><th>Section</th><th>Last update</th>"
            '<th class="num">Stories</th><th>Feeds</th></tr></thead><tbody>',
            rows,
            "</tbody></table></section>",
        ]
    )


def _section_row(sec: SectionConfig, info: FeedInfo, status: FeedStatus | None) -> str:
    e = html.escape
    stories = str(status.stored_stories) if status else "\u2013"
    return (
        f'<tr><td><a href="{e(info.html_url)}">{e(sec.title)}</a></td>'
        f'<td class="when">{_when(status)}</td>'
        f'<td class="num">{e(stories)}</td>'
        f'<td class="fmts">{_format_links(info)}</td></tr>'
    )


def _format_links(info: FeedInfo) -> str:
    e = html.escape
    return "".join(
        f'<a href="{e(info.self_url(fmt))}" type="{e(mime)}" title="{e(info.title)} ({label})">'
        f"{label}</a>"
        for fmt, label, mime in FORMAT_LABELS
    )


def _discovery(info: FeedInfo, fmt: str) -> str:
    e = html.escape
    label, mime = next((label, mime) for f, label, mime in FORMAT_LABELS if f == fmt)
    title = info.title if fmt == "atom" else f"{info.title} ({label})"
    return (
        f'<link rel="alternate" type="{e(mime)}" title="{e(title)}" href="{e(info.self_url(fmt))}">'
    )


def _summary(status: FeedStatus | None) -> str:
    if status is None:
        return "Not rendered yet."
    return f"{status.stored_stories} stories, last update {_when(status)}."


def _when(status: FeedStatus | None) -> str:
    if status is None or status.changed_at is None:
        return "never"
    moment = status.changed_at
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (
        f'<time datetime="{html.escape(moment.isoformat())}">'
        f'{html.escape(moment.strftime("%Y-%m-%d %H:%M"))} UTC</time>'
    )


def _outline(parent: etree._Element, info: FeedInfo, text: str) -> None:
    etree.SubElement(
        parent,
        "outline",
        type="rss",
        text=text,
        title=text,
        xmlUrl=info.self_url("atom"),
        htmlUrl=info.html_url,
    )


def _base(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def _host(url: str) -> str:
    return url.split("//", 1)[-1].split("/", 1)[0]
