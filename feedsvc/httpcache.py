"""HTTP rules for serving stored bytes: conditional requests, content codings, HEAD.

- ``If-None-Match`` (weak comparison, lists, ``*``) wins over ``If-Modified-Since``
  (RFC 9110 13.1); a match is ``304`` with an empty body and the same validators.
- Content coding by ``Accept-Encoding`` q-values: br, gzip or identity (inflated
  from the stored gzip), never deflate; ``Vary: Accept-Encoding`` on every answer;
  ``406`` when nothing we have is acceptable.
- ``HEAD`` answers the headers of the matching ``GET`` (with its Content-Length)
  and no body.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import hdrs, web

from feedsvc.feedcache import RenderedFeed

# identity is acceptable unless refused, but any coding the client lists is preferred to it
_UNLISTED = {"identity": 0.001}


async def serve_rendered(
    request: web.Request,
    body: RenderedFeed,
    *,
    cache_control: str,
    executor: Executor | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Answer GET/HEAD from a rendered body: 304, br, gzip or identity (inflated from
    gzip, on ``executor`` when given). ``headers`` are added to every answer."""
    out = {
        **(headers or {}),
        hdrs.ETAG: body.etag,
        hdrs.LAST_MODIFIED: http_date(body.last_modified),
        hdrs.CACHE_CONTROL: cache_control,
        hdrs.VARY: hdrs.ACCEPT_ENCODING,
    }
    if not_modified(request, body.etag, body.last_modified):
        return web.Response(status=304, headers=out)
    coding = choose_coding(request.headers.get(hdrs.ACCEPT_ENCODING), br=body.br_body is not None)
    if coding is None:
        return web.Response(status=406, text="no acceptable content coding\n", headers=out)
    out[hdrs.CONTENT_TYPE] = body.content_type
    if coding == "br" and body.br_body is not None:
        data = body.br_body
        out[hdrs.CONTENT_ENCODING] = "br"
    elif coding == "gzip":
        data = body.gzip_body
        out[hdrs.CONTENT_ENCODING] = "gzip"
    elif request.method == hdrs.METH_HEAD:
        out[hdrs.CONTENT_LENGTH] = str(body.size)  # no need to inflate for HEAD
        return web.Response(headers=out)
    elif executor is not None:
        data = await asyncio.get_running_loop().run_in_executor(executor, body.identity_body)
    else:
        data = body.identity_body()
    if request.method == hdrs.METH_HEAD:
        out[hdrs.CONTENT_LENGTH] = str(len(data))
        return web.Response(headers=out)
    return web.Response(body=data, headers=out)


def not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    """RFC 9110 13.1.2/13.1.3 for GET and HEAD: If-None-Match (weak comparison) wins
    over If-Modified-Since."""
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if_modified_since = request.headers.get(hdrs.IF_MODIFIED_SINCE)
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return _utc(last_modified).replace(microsecond=0) <= since


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an If-None-Match list (or ``*``)."""
    if header == etag:  # what a client sends back almost always: no parsing
        return True
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(candidate) == wanted for candidate in _split_etags(header))


@functools.lru_cache(maxsize=256)  # a few distinct values from all clients: parse each once
def choose_coding(accept_encoding: str | None, *, br: bool) -> str | None:
    """``"br"``, ``"gzip"`` or ``"identity"`` by q-value (ties: br, gzip, identity);
    None when nothing we have is acceptable. Never deflate. An unlisted identity is
    acceptable (RFC 9110 12.5.3) but ranks below every listed coding."""
    if accept_encoding is None:
        return "identity"
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            pname, _, pvalue = param.strip().partition("=")
            if pname.strip().lower() == "q":
                try:
                    q = float(pvalue)
                except ValueError:
                    q = 0.0
        weights["gzip" if name == "x-gzip" else name] = q
    star = weights.get("*")
    offers = (["br"] if br else []) + ["gzip", "identity"]
    best: tuple[float, int, str] | None = None
    for rank, coding in enumerate(offers):
        q = weights.get(coding, star if star is not None else _UNLISTED.get(coding, 0.0))
        if q > 0 and (best is None or q > best[0]):
            best = (q, rank, coding)
    return best[2] if best else None


@functools.lru_cache(maxsize=4096)  # one per served body: not formatted per request
def http_date(moment: datetime) -> str:
    return format_datetime(_utc(moment), usegmt=True)


def link_header(links: Mapping[str, str]) -> str:
    """An RFC 8288 ``Link`` value from ``{rel: url}``."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


# ---------------------------------------------------------------- internals


def _split_etags(header: str) -> list[str]:
    """Entity tags of an If-None-Match value (commas may appear inside quotes)."""
    tags: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            tags.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tags.append("".join(current).strip())
    return [tag for tag in tags if tag]


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    return tag.strip()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
