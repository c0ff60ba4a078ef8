"""RFC 5005 archived feeds: which stories make up which archive page.

Every story that joins a feed gets the feed's next *position* (1, 2, 3, ...)
in the same transaction (see the store's ``feed_entries``): positions follow
the order stories arrived in and never change, whatever their published dates
and however many stories come later. Archive page ``n`` holds positions
``(n - 1) * size + 1 .. n * size``; a page is *closed* (and published) once the
feed has a story past its last position, so a page's set of entries never
changes after it is first served. Stories of the open page (the newest
arrivals, fewer than ``size``) are carried by the current feed document.

Page numbers count from the oldest (1), so a page's URL never moves when new
stories arrive; the current feed links to the newest closed page as
``prev-archive``, each page to the one before it and to the current feed
(``current``). Pages carry no ``next-archive`` link (optional in RFC 5005):
the newest page's would appear when the next page closes, changing its bytes.
"""

from __future__ import annotations

from feedsvc.render import CURRENT, FeedPage

#: Entries per archive page. Part of every archive URL's meaning: changing it
#: renumbers every page, so it is a constant, not a setting.
ARCHIVE_PAGE_SIZE = 50


def closed_pages(last_position: int, size: int = ARCHIVE_PAGE_SIZE) -> int:
    """How many archive pages are complete when the feed's newest position is ``last_position``."""
    return max(0, last_position) // size


def page_positions(page: int, size: int = ARCHIVE_PAGE_SIZE) -> tuple[int, int]:
    """First and last position (inclusive) on archive page ``page``."""
    return (page - 1) * size + 1, page * size


def open_positions(last_position: int, size: int = ARCHIVE_PAGE_SIZE) -> tuple[int, int]:
    """First and last position of the open page (empty when ``first > last``)."""
    return closed_pages(last_position, size) * size + 1, max(0, last_position)


def current_page(last_position: int, size: int = ARCHIVE_PAGE_SIZE) -> FeedPage:
    """The current document's place: it links to the newest closed page, if any."""
    closed = closed_pages(last_position, size)
    return FeedPage(prev_archive=closed) if closed else CURRENT


def archive_page(page: int, last_position: int, size: int = ARCHIVE_PAGE_SIZE) -> FeedPage | None:
    """Archive page ``page`` with the page before it, or None when it is not closed (or < 1)."""
    if not 1 <= page <= closed_pages(last_position, size):
        return None
    return FeedPage(archive=page, prev_archive=page - 1 if page > 1 else None)
