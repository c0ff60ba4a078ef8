"""Canonical URLs: one key per article whatever link led to it.

The key is an identity, not an address to fetch:

- the scheme becomes ``https``; the host is lower-cased, without ``www.``, a
  trailing dot, user info and its scheme's default port;
- the path has its dot segments resolved (``/a/./b/../c`` is ``/a/c``), percent
  escapes normalised (unreserved characters decoded, other escapes upper-case),
  ``;jsessionid=...``-style session parameters dropped, and a trailing
  ``index.html`` (``index.htm``, ``index.php``, ``default.aspx`` ...) removed;
- the fragment goes; tracking and session parameters (``utm_*``, ``fbclid``,
  ``PHPSESSID`` ...) go; the remaining parameters are sorted.

Redirects cannot be seen in a URL: the write side records the final URL's key as
an alias of the listed one (see pipeline.py), so both lead to one story.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "oly_", "matomo_", "mtm_", "vero_", "_hs")
_TRACKING_NAMES = {
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "twclid", "ttclid", "li_fat_id",
    "ocid", "cmpid", "cmp", "ncid", "smid", "sr_share", "s_cid", "ito", "trk", "trkcampaign", "soc_src", "soc_trk",
    "ref", "ref_src", "ref_url", "referrer", "_ga", "_gl", "mkt_tok", "wt.mc_id", "wt.mc_ev", "rb_clickid",
    "__twitter_impression", "spm", "at_medium", "at_campaign",
    "phpsessid", "jsessionid", "aspsessionid", "sessionid", "cfid", "cftoken",
}
_SESSION_PATH_PARAMS = re.compile(r";(?:jsessionid|phpsessid|sid|sessionid)=[^/;?]*", re.IGNORECASE)
_INDEX_PAGES = ("index.html", "index.htm", "index.php", "index.shtml", "index.asp", "default.asp", "default.aspx")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def canonical_url(url: str) -> str:
    """The identity key of ``url`` (see the module docstring)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower() or "https"
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = _normalise_path(parts.path)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name)
    ]
    return urlunsplit(("https", netloc, path, urlencode(sorted(query)), ""))


def _normalise_path(path: str) -> str:
    path = _SESSION_PATH_PARAMS.sub("", path)
    path = _ESCAPE.sub(_unescape_unreserved, path)
    path = _remove_dot_segments(path or "/")
    lowered = path.lower()
    for index_page in _INDEX_PAGES:
        if lowered.endswith("/" + index_page):
            return path[: -len(index_page)]
    return path


def _unescape_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for an absolute path."""
    kept: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                kept.append("")
        elif segment == "..":
            if kept:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/" + "/".join(kept)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def same_site(url: str, site_url: str) -> bool:
    """True when ``url`` is on the site's host (``www.`` and scheme ignored)."""
    return urlsplit(canonical_url(url)).netloc == urlsplit(canonical_url(site_url)).netloc
