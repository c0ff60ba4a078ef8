"""Canonical URLs: one key per article whatever link led to it.

The key is an identity, not an address to fetch: the scheme becomes https,
the host is lower-cased without ``www.`` and default ports, the fragment and
tracking parameters go, the remaining parameters are sorted, and a trailing
``index.html`` is dropped.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "oly_")
_TRACKING_NAMES = {
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "ocid", "cmpid", "cmp",
    "ref", "ref_src", "referrer", "_ga", "_hsenc", "_hsmi", "mkt_tok", "wt.mc_id",
}
_INDEX_PAGES = ("index.html", "index.htm", "index.php", "index.shtml", "default.asp", "default.aspx")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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
    path = parts.path or "/"
    for index_page in _INDEX_PAGES:
        if path.lower().endswith("/" + index_page):
            path = path[: -len(index_page)]
            break
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name)
    ]
    return urlunsplit(("https", netloc, path, urlencode(sorted(query)), ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def same_site(url: str, site_url: str) -> bool:
    """True when ``url`` is on the site's host (``www.`` and scheme ignored)."""
    return urlsplit(canonical_url(url)).netloc == urlsplit(canonical_url(site_url)).netloc
