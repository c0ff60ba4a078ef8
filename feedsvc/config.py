"""Load and validate the YAML config (plus environment overrides) into frozen Settings.

Every problem in a file is reported at once, each naming the file, the line and
the key path, and what was expected. The accepted keys are the tables below:
one place that documents every option (``tests/test_config.py`` checks that the
example config and these tables agree).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from feedsvc.errors import ConfigError
from feedsvc.models import FetchSettings, SectionConfig, Settings, SiteConfig

DEFAULT_CONFIG = "config/feedsvc.yaml"

#: Environment variables that override deployment settings (name -> top-level key).
ENV_OVERRIDES: dict[str, str] = {
    "FEEDSVC_STORAGE": "storage",
    "FEEDSVC_LISTEN": "listen",
    "FEEDSVC_PUBLIC_URL": "public_url",
    "FEEDSVC_ROLE": "role",
}

ROLES = ("both", "serve", "scrape")

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class _Invalid(ValueError):
    """A value failed its check; the message says what was expected."""


# ------------------------------------------------------------------ value checks


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _slug(value: Any) -> str:
    text = _str(value)
    if not _SLUG.match(text):
        raise _Invalid(f"expected an id of lowercase letters, digits, '-' or '_', got {value!r}")
    return text


def _http_url(value: Any) -> str:
    text = _str(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(f"expected an http:// or https:// URL, got {value!r}")
    return text


def _storage_url(value: Any) -> str:
    text = _str(value)
    scheme = text.split(":", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres") or "://" not in text:
        raise _Invalid(f"expected sqlite:///PATH or postgresql://USER@HOST/DB, got {text!r}")
    return text


def _listen(value: Any) -> str:
    text = _str(str(value))
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Invalid(f"expected HOST:PORT such as 127.0.0.1:8080, got {value!r}")
    return text


def duration(value: Any) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``1.5h``, ``1d``."""
    if isinstance(value, bool):
        raise _Invalid(f"expected a duration like 30m, 1h or 90s, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise _Invalid(f"expected a duration like 30m, 1h or 90s, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise _Invalid(f"expected a positive duration, got {value!r}")
    return seconds


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Invalid(f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    return check


def _float_range(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(f"expected a number from {low} to {high}, got {value!r}")
        if not low <= float(value) <= high:
            raise _Invalid(f"expected a number from {low} to {high}, got {value!r}")
        return float(value)

    return check


def _role(value: Any) -> str:
    text = _str(value)
    if text not in ROLES:
        raise _Invalid(f"expected one of {', '.join(ROLES)}, got {value!r}")
    return text


def _user_agent(value: Any) -> str:
    text = _str(value)
    if "feedsvc" not in text.lower():
        raise _Invalid(f"expected an honest User-Agent that names feedsvc, such as 'feedsvc/0.1 (...)', got {value!r}")
    return text


def _contact(value: Any) -> str:
    text = _str(value)
    parts = urlsplit(text)
    if (parts.scheme in ("http", "https") and parts.hostname) or (parts.scheme == "mailto" and "@" in text):
        return text
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        return text
    raise _Invalid(f"expected a contact URL (https://...) or e-mail address for site owners, got {value!r}")


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {value!r}")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_str(value),)
    if not isinstance(value, list) or not value:
        raise _Invalid(f"expected a list of strings, got {value!r}")
    return tuple(_str(item) for item in value)


# ------------------------------------------------------------------ option tables


@dataclass(frozen=True)
class Option:
    check: Callable[[Any], Any]
    default: Any
    help: str
    required: bool = False


TOP_OPTIONS: dict[str, Option] = {
    "storage": Option(_storage_url, "sqlite:///data/feedsvc.db", "sqlite:///PATH (embedded) or postgresql://USER:PASS@HOST/DB (shared)"),
    "listen": Option(_listen, "127.0.0.1:8080", "HOST:PORT the HTTP server binds"),
    "public_url": Option(_http_url, "http://127.0.0.1:8080", "base URL readers use; self links in feeds are built on it"),
    "rules_dirs": Option(_str_list, ("rules",), "rule folders, first wins; relative to the config file's folder"),
    "feed_size": Option(_int_range(1, 1000), 50, "entries per feed"),
    "jitter": Option(lambda v: duration(v) if v not in (0, "0") else 0.0, 30.0, "random delay added to each scheduled run"),
    "max_articles_per_run": Option(_int_range(1, 10000), 100, "articles fetched per section run at most"),
    "recheck_after": Option(duration, 6 * 3600.0, "a stored article's page is checked for corrections after this long"),
    "recheck_per_run": Option(_int_range(0, 1000), 5, "stored articles re-checked per section run at most (0: never)"),
    "recheck_for": Option(duration, 2 * 86400.0, "stories first seen longer ago than this are no longer re-checked"),
    "retention_items": Option(_int_range(1, 10_000_000), 1000, "a section keeps its newest N stories; a story in no section is removed"),
    "retention_age": Option(duration, 90 * 86400.0, "stories first seen longer ago are removed; their keys are never taken in again"),
    "stop_timeout": Option(duration, 10.0, "on SIGTERM/SIGINT, in-flight refreshes get this long to finish before they are abandoned"),
    "role": Option(_role, "both", "what this replica runs: both, serve (feeds over HTTP, no scheduler) or scrape (scheduler; HTTP only /healthz and /readyz)"),
    "websub_hub": Option(_http_url, None, "WebSub hub URL: feeds advertise it (rel=hub) and it is notified (hub.mode=publish) when a feed changes; unset: no hub"),
    "lease_time": Option(duration, 60.0, "a replica's claim on a section's refresh lasts this long unless renewed; a dead replica's sections are taken over after it"),
}

FETCH_OPTIONS: dict[str, Option] = {
    "user_agent": Option(_user_agent, FetchSettings.user_agent, "User-Agent of every request; must name feedsvc"),
    "contact": Option(_contact, FetchSettings.contact, "URL or e-mail for site owners, added to the User-Agent as (+contact)"),
    "per_host_concurrency": Option(_int_range(1, 16), FetchSettings.per_host_concurrency, "requests in flight per host"),
    "min_delay": Option(_float_range(0.0, 3600.0), FetchSettings.min_delay, "seconds between request starts to one host"),
    "timeout": Option(_float_range(0.1, 600.0), FetchSettings.timeout, "total seconds allowed per request"),
    "connect_timeout": Option(_float_range(0.1, 600.0), FetchSettings.connect_timeout, "seconds to connect"),
    "max_bytes": Option(_int_range(1024, 1 << 30), FetchSettings.max_bytes, "largest body read (after decompression)"),
    "max_redirects": Option(_int_range(0, 20), FetchSettings.max_redirects, "redirects followed per request"),
    "retries": Option(_int_range(0, 10), FetchSettings.retries, "retries after a timeout, a 5xx or a 429"),
    "backoff": Option(_float_range(0.0, 600.0), FetchSettings.backoff, "first retry delay in seconds, doubled each time"),
    "max_retry_after": Option(_float_range(0.0, 86400.0), FetchSettings.max_retry_after, "longest Retry-After waited out"),
    "obey_robots": Option(_bool, FetchSettings.obey_robots, "honour robots.txt and its Crawl-delay"),
    "breaker_failures": Option(_int_range(1, 1000), FetchSettings.breaker_failures, "consecutive failed requests (timeouts, connection errors, 5xx, 429) before a host is paused"),
    "breaker_cooldown": Option(duration, FetchSettings.breaker_cooldown, "first pause of a failing host; doubled (up to 8x) while it keeps failing"),
}

SITE_OPTIONS: dict[str, Option] = {
    "id": Option(_slug, None, "site id, used in feed URLs", required=True),
    "title": Option(_str, None, "site name", required=True),
    "url": Option(_http_url, None, "home page; links off this host are not followed", required=True),
    "rules": Option(_str, None, "name of the rule file for this site family (else matched by host)"),
    "sections": Option(lambda v: v, None, "list of sections", required=True),
}

SECTION_OPTIONS: dict[str, Option] = {
    "id": Option(_slug, None, "section id, used in feed URLs", required=True),
    "title": Option(_str, None, "section name", required=True),
    "url": Option(_http_url, None, "section page (HTML) or summary feed (RSS/Atom)", required=True),
    "every": Option(duration, 1800.0, "refresh interval"),
}


# ------------------------------------------------------------------ loading


class _Reader:
    """Collects problems with file, line and key path while reading a YAML tree."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, line: int | None, path: str, message: str) -> None:
        where = f"{self.source}:{line}" if line is not None else self.source
        self.problems.append(f"{where}: {path}: {message}")

    def section(
        self, node: Any, table: Mapping[str, Option], path: str, line: int | None
    ) -> dict[str, Any]:
        """Check one mapping against an option table; unknown keys are problems."""
        values: dict[str, Any] = {}
        if not isinstance(node, dict):
            self.problem(line, path or "(top)", f"expected a mapping of keys, got {type(node).__name__}")
            return values
        for key in node:
            if key not in table:
                known = ", ".join(sorted(table))
                self.problem(_key_line(node, key), _join(path, str(key)), f"unknown key (known keys: {known})")
        for key, option in table.items():
            if key not in node or node[key] is None:
                if option.required:
                    self.problem(line, _join(path, key), "missing required key")
                elif option.default is not None:
                    values[key] = option.default
                continue
            try:
                values[key] = option.check(node[key])
            except _Invalid as exc:
                self.problem(_value_line(node, key), _join(path, key), str(exc))
        return values


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _key_line(node: Any, key: Any) -> int | None:
    if isinstance(node, CommentedMap):
        try:
            return int(node.lc.key(key)[0]) + 1
        except (KeyError, TypeError):
            return None
    return None


def _value_line(node: Any, key: Any) -> int | None:
    if isinstance(node, CommentedMap):
        try:
            return int(node.lc.value(key)[0]) + 1
        except (KeyError, TypeError):
            return None
    return None


def _item_line(node: Any, index: int) -> int | None:
    if isinstance(node, CommentedSeq):
        try:
            return int(node.lc.item(index)[0]) + 1
        except (KeyError, TypeError, IndexError):
            return None
    return None


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and return the settings; ConfigError lists every problem."""
    environ = os.environ if env is None else env
    config_path = Path(path or environ.get("FEEDSVC_CONFIG") or DEFAULT_CONFIG)
    source = str(config_path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read the config file: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: the config file is not UTF-8 text: {exc}"]) from exc
    return parse_settings(text, source, base_dir=config_path.parent, env=environ)


def parse_settings(
    text: str, source: str, *, base_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Validate config text; ``base_dir`` anchors relative rule folders."""
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{source}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from exc
    if tree is None:
        tree = CommentedMap()
    reader = _Reader(source)
    top_table = {**TOP_OPTIONS, "fetch": Option(lambda v: v, None, "outbound HTTP settings"), "sites": Option(lambda v: v, None, "the sites and their sections", required=True)}
    top = reader.section(tree, top_table, "", 1)
    for name, key in ENV_OVERRIDES.items():
        if env and env.get(name):
            try:
                top[key] = TOP_OPTIONS[key].check(env[name])
            except _Invalid as exc:
                reader.problems.append(f"environment {name}: {exc}")
    fetch_node = tree.get("fetch") if isinstance(tree, dict) else None
    fetch_values = reader.section(fetch_node if fetch_node is not None else {}, FETCH_OPTIONS, "fetch", _value_line(tree, "fetch"))
    sites = _read_sites(reader, tree.get("sites") if isinstance(tree, dict) else None, _value_line(tree, "sites"))
    if reader.problems:
        raise ConfigError(reader.problems)
    base = base_dir or Path(".")
    rules_dirs = tuple(str(d) if Path(d).is_absolute() else str(base / d) for d in top["rules_dirs"])
    return Settings(
        storage=top["storage"],
        listen_host=top["listen"].rpartition(":")[0].strip("[]"),
        listen_port=int(top["listen"].rpartition(":")[2]),
        public_url=top["public_url"].rstrip("/"),
        fetch=FetchSettings(**fetch_values),
        sites=sites,
        rules_dirs=rules_dirs,
        feed_size=top["feed_size"],
        jitter=top["jitter"],
        max_articles_per_run=top["max_articles_per_run"],
        recheck_after=top["recheck_after"],
        recheck_per_run=top["recheck_per_run"],
        recheck_for=top["recheck_for"],
        retention_items=top["retention_items"],
        retention_age=top["retention_age"],
        source=source,
        role=top["role"],
        lease_time=top["lease_time"],
        websub_hub=top.get("websub_hub"),
        stop_timeout=top["stop_timeout"],
    )


def _read_sites(reader: _Reader, node: Any, line: int | None) -> tuple[SiteConfig, ...]:
    if node is None:
        return ()
    if not isinstance(node, list) or not node:
        reader.problem(line, "sites", "expected a non-empty list of sites")
        return ()
    sites: list[SiteConfig] = []
    seen_sites: set[str] = set()
    for index, site_node in enumerate(node):
        path = f"sites[{index}]"
        values = reader.section(site_node, SITE_OPTIONS, path, _item_line(node, index))
        site_id = values.get("id")
        if site_id in seen_sites:
            reader.problem(_value_line(site_node, "id"), f"{path}.id", f"duplicate site id {site_id!r}")
        if site_id in ("all",):
            reader.problem(_value_line(site_node, "id"), f"{path}.id", "'all' is reserved for the feed of every site")
        seen_sites.add(str(site_id))
        sections_node = site_node.get("sections") if isinstance(site_node, dict) else None
        sections = _read_sections(reader, sections_node, str(site_id), path, _value_line(site_node, "sections"))
        if "id" in values and "title" in values and "url" in values:
            sites.append(SiteConfig(values["id"], values["title"], values["url"], values.get("rules"), sections))
    return tuple(sites)


def _read_sections(reader: _Reader, node: Any, site_id: str, site_path: str, line: int | None) -> tuple[SectionConfig, ...]:
    if node is None:
        return ()
    path = f"{site_path}.sections"
    if not isinstance(node, list) or not node:
        reader.problem(line, path, "expected a non-empty list of sections")
        return ()
    sections: list[SectionConfig] = []
    seen: set[str] = set()
    for index, section_node in enumerate(node):
        item_path = f"{path}[{index}]"
        values = reader.section(section_node, SECTION_OPTIONS, item_path, _item_line(node, index))
        if values.get("id") in seen:
            reader.problem(_value_line(section_node, "id"), f"{item_path}.id", f"duplicate section id {values['id']!r}")
        seen.add(str(values.get("id")))
        if {"id", "title", "url", "every"} <= values.keys():
            sections.append(SectionConfig(site_id, values["id"], values["title"], values["url"], values["every"]))
    return tuple(sections)


def explain(settings: Settings) -> str:
    """A human summary of valid settings, for ``feedsvc check-config``."""
    lines = [
        f"{settings.source}: OK",
        f"  storage     {_redact(settings.storage)}",
        f"  listen      {settings.listen_host}:{settings.listen_port}",
        f"  public_url  {settings.public_url}",
        f"  role        {settings.role} (section leases last {_human_duration(settings.lease_time)})",
        f"  rules       {', '.join(settings.rules_dirs)}",
        f"  fetch       {settings.fetch.per_host_concurrency} per host, {settings.fetch.min_delay:g}s apart, "
        f"timeout {settings.fetch.timeout:g}s, robots.txt {'obeyed' if settings.fetch.obey_robots else 'ignored'}",
    ]
    for site in settings.sites:
        lines.append(f"  site {site.id}: {site.title} <{site.url}> rules={site.rules or '(by host)'}")
        for sec in site.sections:
            lines.append(f"    {sec.key}: {sec.title} every {_human_duration(sec.every)} <{sec.url}>")
    feeds = len(settings.sections()) + len(settings.sites) + 1
    lines.append(f"  {len(settings.sites)} sites, {len(settings.sections())} sections, {feeds} feeds x 3 formats")
    return "\n".join(lines)


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


def _human_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
