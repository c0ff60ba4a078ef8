"""The last step of cleaning: nh3 (ammonia) with a small allowlist.

Only structural and inline-text tags survive; no script, style, iframe, form
or event handler; ``href``/``src`` only with http, https or mailto (so no
``javascript:`` or ``data:``), and relative addresses are refused (callers
make them absolute first). Afterwards empty paragraphs and figures go and
whitespace is collapsed (outside ``<pre>``).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nh3

ALLOWED_TAGS = frozenset({
    "p", "br", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
    "a", "img", "figure", "figcaption", "em", "strong", "b", "i", "u", "s", "sub", "sup",
    "small", "cite", "q", "abbr", "mark", "del", "pre", "code",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
})
#: Tags removed together with their content (not just unwrapped).
DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "noscript", "object", "embed", "template", "svg", "math",
    "textarea", "select", "button", "frameset", "frame", "applet", "title", "head",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})



@functools.cache
def _cleaner() -> nh3.Cleaner:
    """The allowlist cleaner, made (and nh3 loaded) on first use: in the CPU workers only."""
    import nh3

    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=None,
        strip_comments=True,
        url_relative="deny",
    )

_PRE = re.compile(r"(<pre>.*?</pre>)", re.DOTALL)
_EMPTY = re.compile(
    r"<(?:(p|li|h2|h3|h4|blockquote|figcaption|a|b|i|em|strong)>(?: |&nbsp;|<br>)*</\1>"
    r"|figure>(?: |<figcaption>(?:[^<]|<(?!/figcaption>))*</figcaption>)*</figure>"
    r"|img(?![^>]*\ssrc=)[^>]*>)",
)
_UNLINKED = re.compile(r"<a>((?:[^<]|<(?!/?a[ >]))*)</a>")
_BLOCK_TAGS = "p|h2|h3|h4|ul|ol|li|blockquote|figure|figcaption|table|tr|pre"
_SPACE_BEFORE_BLOCK = re.compile(rf" <(/?(?:{_BLOCK_TAGS})>)")  # a literal start: the scan skips ahead
_SPACE_AFTER_BLOCK = re.compile(rf"(</?(?:{_BLOCK_TAGS})>) ")
_LEADING_BR = re.compile(r"(<(?:p|li|h[234]|figcaption)>)(?: ?<br>)+ ?")
_TRAILING_BR = re.compile(r" ?<br>(?=(?: ?<br>)* ?</(?:p|li|h[234]|figcaption)>)")
_LINE_BREAK_AFTER = re.compile(r"(</(?:p|h2|h3|h4|ul|ol|blockquote|figure|table|pre)>)")


def sanitize(html: str) -> str:
    """``html`` reduced to the allowlist, tidy and safe."""
    safe = _cleaner().clean(html)
    parts = _PRE.split(safe)
    tidy = [part if part.startswith("<pre>") else _tidy(part) for part in parts]
    return "".join(tidy).strip()


def _tidy(html: str) -> str:
    html = _UNLINKED.sub(r"\1", " ".join(html.split()))
    count = 1
    while count:  # removing an empty <b> may empty its <p>
        html, count = _EMPTY.subn("", html)
    html = html.replace("  ", " ")
    if "<br>" in html:
        html = _TRAILING_BR.sub("", _LEADING_BR.sub(r"\1", html))
    html, count = _EMPTY.subn("", html)
    html = _SPACE_AFTER_BLOCK.sub(r"\1", _SPACE_BEFORE_BLOCK.sub(r"<\1", html))
    return _LINE_BREAK_AFTER.sub("\\1\n", html)
