"""``/status``: per section, what happened and what comes next; per host, its health.

For each section: the last run (start, end, result), the last success, the stories
stored, the last error and its time, and the next scheduled run. For each host
asked so far: its circuit breaker state. HTML for people; JSON for machines
(``/status.json``, ``Accept: application/json`` or ``?format=json``).

The data comes from parts this module does not own, passed in as callables
(``StatusSources``): the store's last run of each section (durable, and written by
whichever replica ran it), a ``StatusBoard`` that remembers what this process saw
(the store keeps only the last run, so the last success and the last error live
here), the scheduler's next run times and the Fetcher's host states.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import hdrs, web

from feedsvc.errors import StoreError
from feedsvc.feedcache import FeedCache
from feedsvc.fetch import HostState
from feedsvc.models import Settings
from feedsvc.store.base import SectionRun

log = logging.getLogger(__name__)

FORMATS = ("html", "json")
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class SectionHistory:
    """What is known of one section's runs."""

    last_run: SectionRun | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


class StatusBoard:
    """Per section, the last run, the last success and the last error seen (by this process,
    or read back from the store). Fed by the Scraper's ``on_run``; scoped to one runtime."""

    def __init__(self) -> None:
        self._sections: dict[str, SectionHistory] = {}

    def record(self, run: SectionRun) -> None:
        """Take one finished run into account (idempotent: the same run twice changes nothing)."""
        old = self._sections.get(run.section_key, SectionHistory())
        last_run = old.last_run
        if last_run is None or _utc(run.finished) >= _utc(last_run.finished):
            last_run = run
        last_success = old.last_success
        if run.ok and (last_success is None or _utc(run.finished) > _utc(last_success)):
            last_success = run.finished
        last_error, last_error_at = old.last_error, old.last_error_at
        if run.error and (last_error_at is None or _utc(run.finished) >= _utc(last_error_at)):
            last_error, last_error_at = run.error, run.finished
        self._sections[run.section_key] = SectionHistory(last_run, last_success, last_error, last_error_at)

    def history(self, section_key: str) -> SectionHistory:
        return self._sections.get(section_key, SectionHistory())


RunSource = Callable[[], Awaitable[Mapping[str, SectionRun]]]


def _no_next_runs() -> Mapping[str, datetime | None]:
    return {}


def _no_hosts() -> Mapping[str, HostState]:
    return {}


@dataclass
class StatusSources:
    """Where the status page reads from; the service fills it in (``attach_status``)."""

    board: StatusBoard = field(default_factory=StatusBoard)
    runs: RunSource | None = None
    next_runs: Callable[[], Mapping[str, datetime | None]] = _no_next_runs
    hosts: Callable[[], Mapping[str, HostState]] = _no_hosts


@dataclass(frozen=True)
class SectionStatus:
    key: str
    site_id: str
    section_id: str
    title: str
    url: str
    every: float
    state: str  # "ok", "failing" (the last run failed) or "pending" (never run)
    last_run: SectionRun | None
    last_success: datetime | None
    stories: int
    last_error: str | None
    last_error_at: datetime | None
    next_run: datetime | None


STATUS_KEY = web.AppKey("status_sources", StatusSources)
_SETTINGS_KEY = web.AppKey("status_settings", Settings)
_CACHE_KEY = web.AppKey("status_feed_cache", FeedCache)


def add_status_routes(app: web.Application, settings: Settings, cache: FeedCache) -> StatusSources:
    """Add ``/status`` and ``/status.json`` to ``app``; fill the returned sources in later."""
    sources = StatusSources()
    app[STATUS_KEY] = sources
    app[_SETTINGS_KEY] = settings
    app[_CACHE_KEY] = cache
    app.router.add_get("/status", _status, allow_head=True)
    app.router.add_get("/status.json", _status_json, allow_head=True)
    return sources


def attach_status(
    app: web.Application,
    *,
    board: StatusBoard | None = None,
    runs: RunSource | None = None,
    next_runs: Callable[[], Mapping[str, datetime | None]] | None = None,
    hosts: Callable[[], Mapping[str, HostState]] | None = None,
) -> None:
    """Connect the status page to the running parts (any left out keep their defaults)."""
    sources = app[STATUS_KEY]
    if board is not None:
        sources.board = board
    if runs is not None:
        sources.runs = runs
    if next_runs is not None:
        sources.next_runs = next_runs
    if hosts is not None:
        sources.hosts = hosts


def collect_status(
    settings: Settings,
    board: StatusBoard,
    stories: Mapping[str, int],
    next_runs: Mapping[str, datetime | None],
) -> list[SectionStatus]:
    """One status per configured section, in config order."""
    result = []
    for section in settings.sections():
        seen = board.history(section.key)
        run = seen.last_run
        state = "pending" if run is None else ("ok" if run.ok else "failing")
        result.append(
            SectionStatus(
                key=section.key,
                site_id=section.site_id,
                section_id=section.id,
                title=section.title,
                url=section.url,
                every=section.every,
                state=state,
                last_run=run,
                last_success=seen.last_success,
                stories=stories.get(section.key, 0),
                last_error=seen.last_error,
                last_error_at=seen.last_error_at,
                next_run=next_runs.get(section.key),
            )
        )
    return result


def status_document(sections: list[SectionStatus], hosts: Mapping[str, HostState], store_error: str | None, now: datetime) -> dict[str, Any]:
    """The JSON form of the status page."""
    return {
        "generated": _iso(now),
        "store": "ok" if store_error is None else store_error,
        "sections": [
            {
                "key": s.key,
                "site": s.site_id,
                "section": s.section_id,
                "title": s.title,
                "url": s.url,
                "every_seconds": s.every,
                "state": s.state,
                "last_run": None if s.last_run is None else {
                    "started": _iso(s.last_run.started),
                    "finished": _iso(s.last_run.finished),
                    "ok": s.last_run.ok,
                    "error": s.last_run.error,
                    "new_stories": s.last_run.new_stories,
                    "changed_stories": s.last_run.changed_stories,
                },
                "last_success": _iso(s.last_success),
                "stories": s.stories,
                "last_error": s.last_error,
                "last_error_at": _iso(s.last_error_at),
                "next_run": _iso(s.next_run),
            }
            for s in sections
        ],
        "hosts": [
            {
                "host": h.host,
                "state": h.state,
                "consecutive_failures": h.consecutive_failures,
                "paused_until": _iso(h.paused_until),
                "last_error": h.last_error,
                "last_error_at": _iso(h.last_error_at),
                "delay_seconds": h.delay,
            }
            for h in hosts.values()
        ],
    }


def render_status_html(document: dict[str, Any]) -> str:
    """The status page for people: a table of sections, a table of hosts, no script."""
    e = html.escape
    rows = []
    for s in document["sections"]:
        run = s["last_run"]
        last_run = "never" if run is None else f"{_short(run['finished'])} ({'ok' if run['ok'] else 'failed'}, {run['new_stories']} new)"
        error = "" if not s["last_error"] else f"{e(_short(s['last_error_at']))}: {e(s['last_error'])}"
        rows.append(
            f'<tr class="{e(s["state"])}"><td><a href="{e(s["url"])}">{e(s["key"])}</a><br><small>{e(s["title"])}</small></td>'
            f"<td>{e(s['state'])}</td><td>{e(last_run)}</td><td>{e(_short(s['last_success']) or 'never')}</td>"
            f"<td>{s['stories']}</td><td class=\"err\">{error}</td><td>{e(_short(s['next_run']) or '-')}</td></tr>"
        )
    host_rows = [
        f'<tr class="{e(h["state"])}"><td>{e(h["host"])}</td><td>{e(h["state"])}</td><td>{h["consecutive_failures"]}</td>'
        f"<td>{e(_short(h['paused_until']) or '-')}</td><td>{h['delay_seconds']:g}s</td>"
        f"<td class=\"err\">{e(h['last_error'] or '')}</td></tr>"
        for h in document["hosts"]
    ]
    store = "" if document["store"] == "ok" else f'<p class="err">Store: {e(document["store"])}</p>'
    hosts = (
        "<h2>Hosts</h2><table><tr><th>host</th><th>state</th><th>failures in a row</th><th>paused until</th>"
        "<th>interval</th><th>last error</th></tr>" + "".join(host_rows) + "</table>"
        if host_rows else ""
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>feedsvc status</title>"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        '<link rel="alternate" type="application/json" href="/status.json">'
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "th,td{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}"
        "tr.failing td:nth-child(2),tr.paused td:nth-child(2),.err{color:#a00}tr.ok td:nth-child(2){color:#070}"
        "small{color:#666}</style></head><body>"
        f"<h1>feedsvc status</h1><p>Generated {e(_short(document['generated']))} UTC. "
        '<a href="/status.json">JSON</a> · <a href="/">feeds</a></p>'
        f"{store}<h2>Sections</h2><table><tr><th>section</th><th>state</th><th>last run</th><th>last success</th>"
        "<th>stories</th><th>last error</th><th>next run</th></tr>" + "".join(rows) + "</table>"
        f"{hosts}</body></html>\n"
    )


# ---------------------------------------------------------------- handlers


async def _status(request: web.Request) -> web.StreamResponse:
    wanted = request.query.get("format")
    if wanted is not None and wanted not in FORMATS:
        raise web.HTTPBadRequest(text=f"format must be one of {', '.join(FORMATS)}, not {wanted[:40]!r}\n")
    as_json = wanted == "json" if wanted is not None else prefers_json(request.headers.get(hdrs.ACCEPT, ""))
    return await _respond(request, as_json=as_json)


async def _status_json(request: web.Request) -> web.StreamResponse:
    return await _respond(request, as_json=True)


async def _respond(request: web.Request, *, as_json: bool) -> web.StreamResponse:
    sources = request.app[STATUS_KEY]
    settings = request.app[_SETTINGS_KEY]
    cache = request.app[_CACHE_KEY]
    store_error = None
    if sources.runs is not None:
        try:
            for run in (await sources.runs()).values():
                sources.board.record(run)  # runs of other replicas, and of earlier lives of this one
        except StoreError as exc:
            store_error = str(exc)
            log.warning("status: section runs not read: %s", exc)
    stories = {key: status.stored_stories for key, status in cache.statuses().items()}
    sections = collect_status(settings, sources.board, stories, sources.next_runs())
    document = status_document(sections, sources.hosts(), store_error, datetime.now(UTC))
    headers = {hdrs.CACHE_CONTROL: "no-store", hdrs.VARY: hdrs.ACCEPT}
    if as_json:
        return web.Response(text=json.dumps(document, indent=1), content_type=JSON_TYPE, headers=headers)
    return web.Response(text=render_status_html(document), content_type="text/html", headers=headers)


def prefers_json(accept: str) -> bool:
    """True when the Accept header ranks application/json above text/html."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            weights[media] = q
    json_q = weights.get(JSON_TYPE, weights.get("application/*", 0.0))
    html_q = weights.get("text/html", weights.get("text/*", 0.0))
    return json_q > 0 and json_q > html_q


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(iso: str | None) -> str:
    return "" if not iso else iso.replace("T", " ").removesuffix("Z")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
