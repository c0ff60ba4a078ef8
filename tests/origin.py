"""A local stand-in for the Space Media Network, for tests.

Each site folder of a fixture tree (``spacewar/``, ``spacedaily/``) is served by its
own aiohttp server on its own loopback address, the way the real sites live on their
own hosts. Files are served from disk exactly as stored, with a strong ETag (hash of
the bytes), a fixed Last-Modified and the Content-Type the tree's ``manifest.json``
gives (``text/html`` with no charset unless the manifest says the header declares
one); conditional requests get ``304``. Every request is logged with its timing.

Tests mutate the origin at run time: ``set_page`` (a corrected story: new bytes, new
ETag, new Last-Modified), ``remove_page`` (404), ``set_delay`` and ``set_status`` (for
fault tests). Use it over a copy of the fixture tree: ``set_page`` writes to disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from types import TracebackType

from aiohttp import web

HOSTS = {"spacewar": "127.0.0.1", "spacedaily": "127.0.0.2"}
DEFAULT_LAST_MODIFIED = "Mon, 07 Jan 2019 00:00:00 GMT"
TYPES_BY_SUFFIX = {".html": "text/html", ".xml": "application/rss+xml", ".txt": "text/plain",
                   ".json": "application/json", ".jpg": "image/jpeg", ".gif": "image/gif"}


@dataclass(frozen=True)
class LoggedRequest:
    site: str
    method: str
    path: str
    query: str
    status: int
    headers: dict[str, str]
    t_start: float  # time.monotonic() when the request reached the handler
    t_end: float  # time.monotonic() when the response was ready


@dataclass
class _Override:
    status: int
    headers: dict[str, str]
    body: bytes
    times: int | None  # None: until cleared


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class Origin:
    """Serve ``root/<site>/`` for every site in ``HOSTS``; ``async with Origin(root) as origin: ...``."""

    def __init__(self, root: Path, hosts: dict[str, str] | None = None) -> None:
        self.root = root
        self.hosts = dict(hosts or HOSTS)
        self.log: list[LoggedRequest] = []
        self._meta: dict[tuple[str, str], tuple[str, str]] = {}  # (site, path) -> (content type, last modified)
        manifest = root / "manifest.json"
        if manifest.exists():
            for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
                self._meta[(entry["site"], entry["path"])] = (entry["content_type"], entry["last_modified"])
        self._delays: dict[tuple[str, str | None], float] = {}
        self._overrides: dict[tuple[str, str], _Override] = {}
        self._runners: dict[str, web.AppRunner] = {}
        self._ports: dict[str, int] = {}

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        for site, host in self.hosts.items():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler(site))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, 0).start()
            self._runners[site] = runner
            self._ports[site] = runner.addresses[0][1]

    async def stop(self) -> None:
        for runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> Origin:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def base_url(self, site: str) -> str:
        return f"http://{self.hosts[site]}:{self._ports[site]}"

    def url(self, site: str, path: str) -> str:
        return self.base_url(site) + path

    # -------------------------------------------------------------- request log

    def requests(self, path: str | None = None, site: str | None = None, method: str | None = None
                 ) -> list[LoggedRequest]:
        return [r for r in self.log if (path is None or r.path == path) and (site is None or r.site == site)
                and (method is None or r.method == method)]

    def clear_log(self) -> None:
        self.log.clear()

    # -------------------------------------------------------------- mutation

    def set_page(self, site: str, path: str, body: bytes, content_type: str | None = None,
                 last_modified: str | None = None) -> None:
        """Create or replace a file; its Last-Modified becomes now (or ``last_modified``)."""
        target = self._file(site, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        old_type = self._meta.get((site, path), (self._default_type(path), ""))[0]
        self._meta[(site, path)] = (content_type or old_type, last_modified or formatdate(time.time(), usegmt=True))

    def remove_page(self, site: str, path: str) -> None:
        self._file(site, path).unlink(missing_ok=True)

    def set_delay(self, site: str, path: str | None, seconds: float) -> None:
        """Delay answers for one path (or every path of the site when ``path`` is None)."""
        self._delays[(site, path)] = seconds

    def set_status(self, site: str, path: str, status: int, headers: dict[str, str] | None = None,
                   body: bytes = b"", times: int | None = None) -> None:
        """Answer ``path`` with this status (for ``times`` requests, or until ``clear_status``)."""
        self._overrides[(site, path)] = _Override(status, dict(headers or {}), body, times)

    def clear_status(self, site: str, path: str) -> None:
        self._overrides.pop((site, path), None)

    # -------------------------------------------------------------- serving

    def _file(self, site: str, path: str) -> Path:
        return self.root / site / path.lstrip("/")

    @staticmethod
    def _default_type(path: str) -> str:
        return TYPES_BY_SUFFIX.get(Path(path).suffix, "application/octet-stream")

    def _handler(self, site: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            t_start = time.monotonic()
            path = request.rel_url.path
            delay = self._delays.get((site, path), self._delays.get((site, None), 0.0))
            if delay:
                await asyncio.sleep(delay)
            response = self._respond(site, path, request)
            self.log.append(LoggedRequest(site, request.method, path, request.query_string, response.status,
                                          dict(request.headers), t_start, time.monotonic()))
            return response

        return handle

    def _respond(self, site: str, path: str, request: web.Request) -> web.Response:
        override = self._overrides.get((site, path))
        if override is not None:
            if override.times is not None:
                override.times -= 1
                if override.times <= 0:
                    del self._overrides[(site, path)]
            return web.Response(status=override.status, headers=override.headers, body=override.body)
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers={"Allow": "GET, HEAD"})
        target = self._file(site, path)
        site_dir = (self.root / site).resolve()
        if ".." in path.split("/") or not target.is_file() or not target.resolve().is_relative_to(site_dir):
            return web.Response(status=404, text="Not Found")
        body = target.read_bytes()
        content_type, last_modified = self._meta.get((site, path), (self._default_type(path), DEFAULT_LAST_MODIFIED))
        headers = {"ETag": etag_of(body), "Last-Modified": last_modified}
        if _not_modified(request, headers["ETag"], last_modified):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        return web.Response(status=200, headers=headers, body=body)


def _not_modified(request: web.Request, etag: str, last_modified: str) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
