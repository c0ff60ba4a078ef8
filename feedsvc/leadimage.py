"""The lead image: a picture printed between the story's head and its first paragraph.

It leaves the body and becomes the article's ``lead_image`` (with its caption),
as news pages mean it: an illustration of the story, not a paragraph of it.
Pictures further down stay in the body as figures.
"""

from __future__ import annotations

import lxml.html

from feedsvc.htmldoc import parse_fragment, squash


def take_lead_figure(body_html: str) -> tuple[str, str | None, str | None]:
    """(body without its opening figure, image URL, caption) of clean body HTML."""
    if not body_html.startswith("<figure>"):
        return body_html, None, None
    root = parse_fragment(body_html)
    first = next((child for child in root if isinstance(child.tag, str)), None)
    if first is None or first.tag != "figure" or (root.text or "").strip():
        return body_html, None, None
    img = next(first.iter("img"), None)
    if img is None or not img.get("src"):
        return body_html, None, None
    caption = first.find("figcaption")
    text = squash(caption.text_content()) if caption is not None else ""
    root.remove(first) if not (first.tail or "").strip() else first.drop_tree()
    rest = (root.text or "") + "".join(lxml.html.tostring(child, encoding="unicode") for child in root)
    return rest.strip(), img.get("src"), text or None
