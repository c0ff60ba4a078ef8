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

Fault modes, for the ways a real origin misbehaves:

- ``set_fault(site, path, mode, **options)`` makes one path misbehave (``FAULT_MODES``
  lists them: a hang before the headers, a slow drip past any timeout, a connection
  reset mid-body, a body shorter than its Content-Length, a huge body with or without
  Content-Length, a gzip bomb, binary data served as HTML, a wrong content type, a
  redirect) until ``clear_fault``.
- ``set_unreachable(site)`` makes a whole site time out at connect: its port keeps
  listening but its accept queue is full, so the client's SYN goes unanswered, as
  with a host that is down behind a firewall; ``set_reachable`` serves it again on
  the same port.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import shutil
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from types import TracebackType

from aiohttp import ClientConnectionResetError, web

HOSTS = {"spacewar": "127.0.0.1", "spacedaily": "127.0.0.2"}
DEFAULT_LAST_MODIFIED = "Mon, 07 Jan 2019 00:00:00 GMT"
SHUTDOWN_TIMEOUT = 0.5  # hung fault handlers are cut off this soon when the origin stops
FAULT_MODES = {
    "hang": "accept the request and send nothing for `seconds` (default 30)",
    "drip": "send the headers, then one byte every `interval` s (default 0.1) for `seconds` (default 30)",
    "reset": "send the headers and half the body (chunked), then reset the connection (TCP RST)",
    "truncate": "declare the whole body's Content-Length, send `fraction` of it (default 0.5), close",
    "huge": "stream `size` bytes of HTML (default 20 MB) without Content-Length",
    "huge_declared": "declare a Content-Length of `size` bytes and stream them",
    "bomb": "a gzip body (Content-Encoding: gzip) that inflates to `size` bytes",
    "binary": "binary data (a PNG) served as text/html",
    "content_type": "the page's bytes with Content-Type `content_type` (default application/pdf)",
    "redirect": "302 to `location` (a path of the same site or a full URL)",
}
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


@dataclass(frozen=True)
class Fault:
    """One path's misbehaviour (see ``FAULT_MODES``)."""

    mode: str
    options: dict[str, object] = field(default_factory=dict)

    def number(self, name: str, default: float) -> float:
        value = self.options.get(name, default)
        assert isinstance(value, (int, float)), (name, value)
        return float(value)

    def text(self, name: str, default: str) -> str:
        value = self.options.get(name, default)
        assert isinstance(value, str), (name, value)
        return value


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class Origin:
    """Serve ``root/<site>/`` for every site in ``HOSTS``; ``async with Origin(root) as origin: ...``."""

    def __init__(self, root: Path, hosts: dict[str, str] | None = None) -> None:
        self.root = root
        self.hosts = dict(hosts or HOSTS)
        self.log: list[LoggedRequest] = []
        self.arrived: list[tuple[str, str, float]] = []  # (site, path, time.monotonic()) as requests come in
        self._meta: dict[tuple[str, str], tuple[str, str]] = {}  # (site, path) -> (content type, last modified)
        manifest = root / "manifest.json"
        if manifest.exists():
            for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]:
                self._meta[(entry["site"], entry["path"])] = (entry["content_type"], entry["last_modified"])
        self._delays: dict[tuple[str, str | None], float] = {}
        self._overrides: dict[tuple[str, str], _Override] = {}
        self._faults: dict[tuple[str, str], Fault] = {}
        self._runners: dict[str, web.AppRunner] = {}
        self._sites: dict[str, web.TCPSite] = {}
        self._ports: dict[str, int] = {}
        self._blackholes: dict[str, list[socket.socket]] = {}

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        for site, host in self.hosts.items():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler(site))
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
            await runner.setup()
            tcp = web.TCPSite(runner, host, 0)
            await tcp.start()
            self._runners[site] = runner
            self._sites[site] = tcp
            self._ports[site] = runner.addresses[0][1]

    async def stop(self) -> None:
        for site in list(self._blackholes):
            self._close_blackhole(site)
        for runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()
        self._sites.clear()

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

    def feedsvc_config(self, data_dir: Path, rules_dir: Path, *, fetch: Mapping[str, object] | None = None,
                       top: Mapping[str, object] | None = None, every: str = "30m") -> str:
        """A feedsvc config (YAML) for the origin's three sections: spacewar/nukewars and
        spacewar/milspace (HTML section pages), spacedaily/industry (an RSS feed)."""
        fetch_options = {"min_delay": 0.0, "timeout": 5, "retries": 0,
                         "user_agent": "feedsvc-test/1.0", "contact": "https://feeds.test/about", **(fetch or {})}
        top_options = {"storage": f"sqlite:///{data_dir}/feedsvc.db", "public_url": "http://feeds.test",
                       "rules_dirs": f"[{rules_dir}]", "jitter": 0, **(top or {})}
        lines = [f"{key}: {value}" for key, value in top_options.items()]
        lines.append("fetch: {" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in fetch_options.items()) + "}")
        lines += [
            "sites:",
            "  - id: spacewar",
            "    title: SpaceWar",
            f"    url: {self.base_url('spacewar')}/",
            "    rules: spacemedia",
            "    sections:",
            f'      - {{id: nukewars, title: Nuclear Wars, url: "{self.url("spacewar", "/Nuclear_Weapons.html")}", every: {every}}}',
            f'      - {{id: milspace, title: Military Space, url: "{self.url("spacewar", "/Military_Space_News.html")}", every: {every}}}',
            "  - id: spacedaily",
            "    title: SpaceDaily",
            f"    url: {self.base_url('spacedaily')}/",
            "    rules: spacemedia",
            "    sections:",
            f'      - {{id: industry, title: Space Industry, url: "{self.url("spacedaily", "/Space_Industry.xml")}", every: {every}}}',
        ]
        return "\n".join(lines) + "\n"

    # -------------------------------------------------------------- request log

    def requests(self, path: str | None = None, site: str | None = None, method: str | None = None
                 ) -> list[LoggedRequest]:
        return [r for r in self.log if (path is None or r.path == path) and (site is None or r.site == site)
                and (method is None or r.method == method)]

    def clear_log(self) -> None:
        self.log.clear()
        self.arrived.clear()

    def in_flight(self, site: str | None = None) -> int:
        """Requests that have arrived and not been answered yet."""
        done = sum(1 for r in self.log if site is None or r.site == site)
        return sum(1 for arrival in self.arrived if site is None or arrival[0] == site) - done

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

    def set_fault(self, site: str, path: str, mode: str, **options: object) -> None:
        """Make ``path`` misbehave in one of the ``FAULT_MODES`` until ``clear_fault``."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r} (known: {', '.join(FAULT_MODES)})")
        self._faults[(site, path)] = Fault(mode, dict(options))

    def clear_fault(self, site: str, path: str) -> None:
        self._faults.pop((site, path), None)

    async def set_unreachable(self, site: str) -> None:
        """Connects to the site time out: its port listens with a full accept queue."""
        if site in self._blackholes:
            return
        await self._sites[site].stop()
        server = self._runners[site].server
        if server is not None:  # a host going down takes its keep-alive connections with it
            await server.shutdown(0.1)
        host, port = self.hosts[site], self._ports[site]
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(0)
        held = [listener]
        for _ in range(2):  # fill the accept queue (backlog 0 holds one); nobody ever accepts
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect((host, port))
            except BlockingIOError:
                pass
            held.append(filler)
        await asyncio.sleep(0.05)
        self._blackholes[site] = held

    async def set_reachable(self, site: str) -> None:
        """Serve the site again, on the same port."""
        if site not in self._blackholes:
            return
        self._close_blackhole(site)
        tcp = web.TCPSite(self._runners[site], self.hosts[site], self._ports[site])
        await tcp.start()
        self._sites[site] = tcp

    def checkpoint(self) -> Path:
        """Save the served tree; ``rollback`` returns to it (for an origin shared by several tests)."""
        saved = self.root.with_name(self.root.name + ".checkpoint")
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(self.root, saved)
        (saved / ".meta.json").write_text(json.dumps([[*key, *value] for key, value in self._meta.items()]))
        return saved

    async def rollback(self, saved: Path) -> None:
        """Undo every mutation since ``checkpoint``: pages, faults, statuses, delays, reachability, log."""
        for site in list(self._blackholes):
            await self.set_reachable(site)
        self._faults.clear()
        self._overrides.clear()
        self._delays.clear()
        shutil.rmtree(self.root)
        shutil.copytree(saved, self.root, ignore=shutil.ignore_patterns(".meta.json"))
        self._meta = {(site, path): (kind, modified) for site, path, kind, modified in json.loads((saved / ".meta.json").read_text())}
        self.clear_log()

    def _close_blackhole(self, site: str) -> None:
        for sock in self._blackholes.pop(site, []):
            sock.close()

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
            self.arrived.append((site, path, t_start))
            delay = self._delays.get((site, path), self._delays.get((site, None), 0.0))
            status = 0  # no status sent (a hang cut off)
            try:
                if delay:
                    await asyncio.sleep(delay)
                fault = self._faults.get((site, path))
                if fault is not None:
                    response = await self._misbehave(site, path, fault, request)
                else:
                    response = self._respond(site, path, request)
                status = response.status
                return response
            finally:
                self.log.append(LoggedRequest(site, request.method, path, request.query_string, status,
                                              dict(request.headers), t_start, time.monotonic()))

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


    async def _misbehave(self, site: str, path: str, fault: Fault, request: web.Request) -> web.StreamResponse:
        target = self._file(site, path)
        page = target.read_bytes() if target.is_file() else b"<html><body><p>" + b"story text " * 2000 + b"</p></body></html>"
        mode = fault.mode
        if mode == "hang":
            await asyncio.sleep(fault.number("seconds", 30.0))
            return web.Response(status=504, text="gave up hanging")
        if mode == "redirect":
            return web.Response(status=302, headers={"Location": fault.text("location", "/")})
        if mode == "content_type":
            return web.Response(body=page, headers={"Content-Type": fault.text("content_type", "application/pdf")})
        if mode == "binary":
            png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + hashlib.sha256(page).digest() * 64
            return web.Response(body=png, headers={"Content-Type": "text/html"})
        if mode == "bomb":
            size = int(fault.number("size", 50_000_000))
            body = gzip.compress(b"<html><body><p>" + b"A" * size + b"</p></body></html>", 9)
            return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        try:
            if mode == "drip":
                await response.prepare(request)
                interval = fault.number("interval", 0.1)
                deadline = time.monotonic() + fault.number("seconds", 30.0)
                for byte in page:
                    if time.monotonic() > deadline:
                        break
                    await response.write(bytes([byte]))
                    await asyncio.sleep(interval)
            elif mode in ("huge", "huge_declared"):
                size = int(fault.number("size", 20_000_000))
                if mode == "huge_declared":
                    response.content_length = size
                await response.prepare(request)
                chunk = b"<p>" + b"x" * 65_529 + b"</p>"
                for _ in range(size // len(chunk)):
                    await response.write(chunk)
                await response.write(b" " * (size % len(chunk)))
            elif mode == "truncate":
                response.content_length = len(page)
                await response.prepare(request)
                await response.write(page[: int(len(page) * fault.number("fraction", 0.5))])
                await asyncio.sleep(0.1)
                _transport(request).close()
            elif mode == "reset":
                await response.prepare(request)
                await response.write(page[: len(page) // 2])
                await asyncio.sleep(0.2)  # the client has read the headers and half the body
                transport = _transport(request)
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.close()  # linger 0: the close is a TCP RST
        except (ConnectionResetError, ClientConnectionResetError):
            pass  # the client gave up, as it should
        return response


def _transport(request: web.Request) -> asyncio.Transport:
    transport = request.transport
    assert isinstance(transport, asyncio.Transport)
    return transport


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
