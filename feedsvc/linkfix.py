"""Image and link addresses: lazy images resolved, every URL absolute.

Lazy-loading pages keep the real picture in ``data-src`` (or another
attribute, or ``srcset``) and a placeholder in ``src``. Links and images in a
feed must work away from the page, so relative and protocol-relative
(``//host/path``, made https) addresses are resolved against the page URL.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
from lxml.html import HtmlElement

LAZY_ATTRS = (
    "data-src", "data-original", "data-lazy-src", "data-lazy", "data-url", "data-hi-res-src",
    "data-full-src", "data-echo", "original-src",
)
_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset", "srcset")
_PLACEHOLDER = re.compile(r"^data:|blank|spacer|placeholder|lazy|pixel\.gif|transparent", re.IGNORECASE)
_URL_ATTRS = ("href", "src", "poster")
_SRCSET_ENTRY = re.compile(r"\s*(\S+?)(?:\s+(\d+(?:\.\d+)?)([wx]))?\s*(?:,|$)")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
#: A root-relative address that urljoin keeps as it is: no space, backslash or ";", no empty query or
#: fragment (dot segments are ruled out separately).
_PLAIN_PATH = re.compile(r"/(?!/)(?:[^\s\\?#;]|[?#](?!#|\Z))*\Z")
_LINKED = lxml.etree.XPath("descendant-or-self::*[@href or @src or @poster]")  # compiled once: every page
_TRACKING_SIZE = 2  # pixels: an image this small is a tracker


def resolve_lazy_images(root: HtmlElement, lazy_attr: str | None = None) -> None:
    """Give every image its real ``src`` (in place)."""
    attrs = ((lazy_attr,) if lazy_attr else ()) + LAZY_ATTRS
    for img in root.iter("img"):
        src = (img.get("src") or "").strip()
        real = next((img.get(a, "").strip() for a in attrs if img.get(a, "").strip()), "")
        if not real:
            real = next((_largest(img.get(a, "")) for a in _SRCSET_ATTRS if img.get(a, "").strip()), "")
        if real and (not src or _PLACEHOLDER.search(src) or real != src and lazy_attr):
            img.set("src", real)


def drop_tracking_images(root: HtmlElement) -> None:
    """Remove images with no address or a 1x1 size (in place)."""
    for img in list(root.iter("img")):
        if not (img.get("src") or "").strip() or _tiny(img):
            img.drop_tree()


def absolutise_urls(root: HtmlElement, base_url: str) -> None:
    """Resolve every ``href``/``src`` against ``base_url`` (in place)."""
    origin = _origin(base_url)
    for element in _LINKED(root):
        for attr in _URL_ATTRS:
            value = element.get(attr)
            if value is None:
                continue
            if origin and _PLAIN_PATH.match(value) and "/." not in value:  # the common "/reports/x.html": no join needed
                element.set(attr, origin + value)
            else:
                element.set(attr, absolute_url(value, base_url))


def absolute_url(value: str, base_url: str) -> str:
    """``value`` resolved against ``base_url``; protocol-relative becomes https."""
    value = value.strip()
    if value.startswith("//"):
        return "https:" + value
    if _SCHEME.match(value):  # has a scheme (http:, mailto:, javascript:)
        return value
    return urljoin(base_url, value)


def _origin(base_url: str) -> str | None:
    """``scheme://host`` of an http(s) base URL, for joining root-relative paths."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _largest(srcset: str) -> str:
    best, best_size = "", -1.0
    for match in _SRCSET_ENTRY.finditer(srcset):
        url, size = match.group(1), float(match.group(2) or 1)
        if url and size > best_size:
            best, best_size = url, size
    return best


def _tiny(img: HtmlElement) -> bool:
    for attr in ("width", "height"):
        value = (img.get(attr) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) <= _TRACKING_SIZE:
            return True
    return False
