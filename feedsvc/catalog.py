"""The catalog of served feeds: every section, every site and "all", with what each says about itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from feedsvc.models import Settings
from feedsvc.render import FeedInfo

ALL_FEED = "all"
_FEED_URL_ENDINGS = (".xml", ".rss", ".rdf", ".atom", ".json", "/feed", "/rss")


def feed_infos(settings: Settings) -> dict[str, FeedInfo]:
    """Every configured feed: each section, each site and ``"all"``, in config order."""
    base = settings.public_url.rstrip("/")
    titles = {
        sec.key: f"{site.title}: {sec.title}" for site in settings.sites for sec in site.sections
    }
    sites = {site.id: site.title for site in settings.sites}
    infos: dict[str, FeedInfo] = {
        ALL_FEED: FeedInfo(
            key=ALL_FEED,
            title="All stories",
            subtitle="Full-text stories from every site, each story once",
            html_url=f"{base}/",
            self_url_base=f"{base}/feeds/{ALL_FEED}",
            section_titles=titles,
            hub_url=settings.websub_hub,
            site_titles=sites,
        )
    }
    for site in settings.sites:
        infos[site.id] = FeedInfo(
            key=site.id,
            title=site.title,
            subtitle=f"Full-text stories from every section of {site.title}",
            html_url=site.url,
            self_url_base=f"{base}/feeds/{site.id}",
            section_titles=titles,
            hub_url=settings.websub_hub,
            site_titles=sites,
        )
        for sec in site.sections:
            infos[sec.key] = FeedInfo(
                key=sec.key,
                title=titles[sec.key],
                subtitle=f"Full-text stories from the {sec.title} section of {site.title}",
                html_url=site.url if _looks_like_feed(sec.url) else sec.url,
                self_url_base=f"{base}/feeds/{sec.key}",
                section_titles=titles,
                hub_url=settings.websub_hub,
                site_titles=sites,
            )
    return infos


def _looks_like_feed(url: str) -> bool:
    path = urlsplit(url).path.lower().rstrip("/") or "/"
    return path.endswith(_FEED_URL_ENDINGS)
