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
:root{color-scheme:light dark;--fg:#18202a;--muted:#5b6876;--line:#e1e6ec;--bg:#f4f6f9;
--card:#fff;--accent:#1d5fc4;--head1:#0f2a4a;--head2:#1d4f8a;
--atom:#1d5fc4;--atom-bg:#e7effc;--rss:#b8500f;--rss-bg:#fdeee2;--json:#17784a;--json-bg:#e3f4ea}
@media (prefers-color-scheme:dark){:root{--fg:#e5e9ee;--muted:#9aa7b5;--line:#2b3440;--bg:#10151b;
--card:#19212a;--accent:#86b4ff;--head1:#0b1a2c;--head2:#143556;
--atom:#9cc0ff;--atom-bg:#1f3150;--rss:#ffb27a;--rss-bg:#3d2717;--json:#8fe0b4;--json-bg:#173526}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
header.top{background:linear-gradient(135deg,var(--head1),var(--head2));color:#fff}
header.top div{max-width:62rem;margin:0 auto;padding:2.2rem 1.25rem 2rem}
header.top h1{font-size:2rem;margin:0 0 .35rem;letter-spacing:-.01em}
header.top p{margin:0;color:#d5e2f3;max-width:44rem}
header.top a{color:#fff}
header.top p.stats{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;margin-top:1rem;font-size:.92rem;color:#c4d5ec}
.stats b{color:#fff;font-size:1.05rem}
main{max-width:62rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}
h2{font-size:1.25rem;margin:0}
a{color:var(--accent)}
section.card{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:1.1rem 1.3rem;margin:0 0 1.25rem;box-shadow:0 1px 2px rgba(16,24,40,.05)}
section.all{border-left:4px solid var(--accent)}
.head{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between}
.site-link{color:var(--muted);font-size:.85rem;font-weight:400;margin-left:.35rem}
p.note{color:var(--muted);margin:.35rem 0 0;font-size:.95rem}
table{width:100%;border-collapse:collapse;margin-top:.8rem;font-size:.95rem;table-layout:fixed}
col.c-name{width:38%}col.c-when{width:24%}col.c-num{width:12%}col.c-feeds{width:26%}
th,td{text-align:left;padding:.5rem .55rem;border-top:1px solid var(--line);vertical-align:middle;
overflow-wrap:anywhere}
th{font-size:.72rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);border-top:0;
padding-bottom:.3rem}
tbody tr:hover{background:rgba(127,127,127,.06)}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.when{color:var(--muted);white-space:nowrap}
.fmts{white-space:nowrap}
.fmts a{display:inline-block;min-width:3.1rem;text-align:center;padding:.1rem .55rem;margin:0 .2rem .15rem 0;
border-radius:999px;text-decoration:none;font-size:.8rem;font-weight:600;border:1px solid transparent}
.fmts a:hover,.fmts a:focus{border-color:currentColor}
.fmts a.atom{color:var(--atom);background:var(--atom-bg)}
.fmts a.rss{color:var(--rss);background:var(--rss-bg)}
.fmts a.json{color:var(--json);background:var(--json-bg)}
.empty{color:var(--muted);font-style:italic}
footer{color:var(--muted);font-size:.85rem;margin-top:2rem;line-height:1.6}
footer code{font-size:.8rem}
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
    sections = len(settings.sections())
    stories = all_status.stored_stories if all_status else 0
    opml = f"{_base(settings)}/opml"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Full-text feeds</title>",
        '<meta name="description" content="Clean full-text Atom, RSS and JSON feeds for every section.">',
        *discovery,
        f"<style>{_CSS}</style>",
        "</head><body>",
        '<header class="top"><div>',
        "<h1>Full-text feeds</h1>",
        "<p>Every section as a clean, full-text feed in Atom, RSS and JSON Feed: whole stories, "
        "no teasers, no ads. Subscribe one by one, or import them all at once with the "
        f'<a href="{e(opml)}">OPML file</a>.</p>',
        '<p class="stats">'
        f"<span><b>{len(settings.sites)}</b> sites</span>"
        f"<span><b>{sections}</b> sections</span>"
        f"<span><b>{stories}</b> stories</span>"
        f"<span>last update <b>{_when(all_status)}</b></span></p>",
        "</div></header><main>",
        '<section class="card all"><div class="head">',
        f"<h2>{e(all_info.title)}</h2>",
        f'<span class="fmts">{_format_links(all_info)}</span></div>',
        f'<p class="note">{e(all_info.subtitle)}. {_summary(all_status)}</p></section>',
    ]
    parts.extend(_site_card(site, infos, statuses) for site in settings.sites)
    hub = (
        f' Feeds announce changes to the WebSub hub <code>{e(settings.websub_hub)}</code>.'
        if settings.websub_hub
        else ""
    )
    parts.append(
        "<footer>Feeds are rendered when their stories change and served with "
        "<code>ETag</code> and <code>Last-Modified</code>: readers that send them back pay almost "
        "nothing for an unchanged feed. Every feed links to its archive "
        f"(<code>rel=\"prev-archive\"</code>, RFC 5005), so a reader can page back through every "
        f"stored story.{hub}</footer></main></body></html>"
    )
    return "\n".join(parts).encode("utf-8")


def render_opml(
    settings: Settings, infos: Mapping[str, FeedInfo], created: datetime | None = None
) -> bytes:
    """OPML 2.0: one outline per feed (Atom URL), grouped by site; ``dateCreated`` when given."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = "Full-text feeds"
    if created is not None:
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
            f'<h2>{e(site.title)}<a class="site-link" href="{e(site.url)}">{e(_host(site.url))}</a></h2>',
            f'<span class="fmts">{_format_links(info)}</span></div>',
            f'<p class="note">{e(info.subtitle)}. {_summary(statuses.get(site.id))}</p>',
            '<table><colgroup><col class="c-name"><col class="c-when"><col class="c-num">'
            '<col class="c-feeds"></colgroup>',
            '<thead><tr><th scope="col">Section</th><th scope="col">Last update</th>'
            '<th scope="col" class="num">Stories</th><th scope="col">Feeds</th></tr></thead><tbody>',
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
        f'<a class="{fmt}" href="{e(info.self_url(fmt))}" type="{e(mime)}" '
        f'title="{e(info.title)} ({label})">{label}</a>'
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
        return '<span class="empty">Not rendered yet.</span>'
    if status.stored_stories == 0:
        return '<span class="empty">No stories yet.</span>'
    noun = "story" if status.stored_stories == 1 else "stories"
    return f"{status.stored_stories} {noun}, last update {_when(status)}."


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
