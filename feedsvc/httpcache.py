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
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import hdrs, web

from feedsvc.feedcache import RenderedFeed

# identity is acceptable unless refused, but any coding the client lists is preferred to it
_UNLISTED = {"identity": 0.001}


@dataclass(frozen=True)
class AnswerHeaders:
    """The response headers of one rendered body, made once and reused for every request
    of it (``prepare_headers``): a 304, and a 200 in each content coding."""

    etag: str  # of the body they were made for
    not_modified: Mapping[str, str]
    gzip: Mapping[str, str]
    br: Mapping[str, str]
    identity: Mapping[str, str]


def prepare_headers(
    body: RenderedFeed, *, cache_control: str, headers: Mapping[str, str] | None = None
) -> AnswerHeaders:
    """The headers for answering requests of ``body``; ``headers`` are added to every answer."""
    validators = {
        **(headers or {}),
        hdrs.ETAG: body.etag,
        hdrs.LAST_MODIFIED: http_date(body.last_modified),
        hdrs.CACHE_CONTROL: cache_control,
        hdrs.VARY: hdrs.ACCEPT_ENCODING,
    }
    identity = {**validators, hdrs.CONTENT_TYPE: body.content_type}
    return AnswerHeaders(
        etag=body.etag,
        not_modified=validators,
        gzip={**identity, hdrs.CONTENT_ENCODING: "gzip"},
        br={**identity, hdrs.CONTENT_ENCODING: "br"},
        identity=identity,
    )


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
    prepared = prepare_headers(body, cache_control=cache_control, headers=headers)
    return await serve_prepared(request, body, prepared, executor=executor)


async def serve_prepared(
    request: web.Request, body: RenderedFeed, prepared: AnswerHeaders, *, executor: Executor | None = None
) -> web.Response:
    """``serve_rendered`` with the body's headers made beforehand (``prepare_headers``)."""
    if not_modified(request, body.etag, body.last_modified):
        return web.Response(status=304, headers=prepared.not_modified)
    coding = choose_coding(request.headers.get(hdrs.ACCEPT_ENCODING), body.br_body is not None)
    if coding is None:
        return web.Response(status=406, text="no acceptable content coding\n", headers=prepared.not_modified)
    head = request.method == hdrs.METH_HEAD
    if coding == "br" and body.br_body is not None:
        data, out = body.br_body, prepared.br
    elif coding == "gzip":
        data, out = body.gzip_body, prepared.gzip
    elif head:  # no need to inflate for HEAD
        return web.Response(headers={**prepared.identity, hdrs.CONTENT_LENGTH: str(body.size)})
    elif executor is not None:
        data, out = await asyncio.get_running_loop().run_in_executor(executor, body.identity_body), prepared.identity
    else:
        data, out = body.identity_body(), prepared.identity
    if head:
        return web.Response(headers={**out, hdrs.CONTENT_LENGTH: str(len(data))})
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
def choose_coding(accept_encoding: str | None, br: bool) -> str | None:
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
