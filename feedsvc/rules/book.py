"""A set of rule folders, read once, and the lookup of a site's rules by host.

Folders are listed in priority order: the first folder that has a file of a
given name wins (a deployer's own folder is listed before the bundled one).
Every file of every folder is still read, so ``feedsvc rules check`` reports
problems in shadowed files too.

Host lookup, after the name of every folder has been merged that way, tries
these file names in order and returns the first one present:

1. the host itself: ``news.example.com`` -> ``news.example.com.txt``;
2. the host without a leading ``www.``: ``www.example.com`` -> ``example.com.txt``;
3. wildcard files for each parent domain, nearest first:
   ``a.b.example.com`` -> ``.b.example.com.txt``, then ``.example.com.txt``.

A leading-dot file applies to subdomains only, as in FiveFilters and graby:
``.example.com.txt`` matches ``www.example.com`` and ``news.example.com`` but
not ``example.com`` (put an ``example.com.txt`` beside it for that). FiveFilters
tries one parent level only; trying every level (never a bare top-level
domain) is a superset of its behaviour.

``global.txt`` is not a site file: it is kept apart as ``global_rules`` and
never returned by :meth:`RuleBook.for_host`.

Each loaded file's content is hashed. :meth:`RuleBook.version_of` names the
version of the rules that extracts a page: the file's name and a digest of
its bytes together with ``global.txt``'s (both apply to the page), so a
stored story can tell when the rules that extracted it have changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from feedsvc.rules.model import Problem, SiteRules
from feedsvc.rules.parser import parse_rules

log = logging.getLogger(__name__)

RULE_SUFFIX = ".txt"
GLOBAL_NAME = "global"
#: ``.txt`` files that sit beside rule files in a corpus checkout but are not rules.
NOT_RULE_FILES = frozenset({"license", "readme", "copying", "authors", "changelog", "contributing"})
_HOSTNAME = re.compile(r"[\w-]+(?:\.[\w-]+)*\Z")  # \w: internationalised names too
_RULE_NAME = re.compile(r"\.?[\w-]+(?:\.[\w-]+)*\Z")


class RuleVersion(NamedTuple):
    """Which rules extracted a page: a rule name ("" for none) and a digest of the rule text in force."""

    file: str
    digest: str


@dataclass(frozen=True)
class RuleBook:
    """Parsed rule files by name (file name without ``.txt``, lowercased)."""

    sites: Mapping[str, SiteRules] = field(default_factory=dict)
    global_rules: SiteRules | None = None
    problems: list[Problem] = field(default_factory=list)
    files: int = 0  # rule files found in every folder
    loaded: int = 0  # rule files read (whatever their problems)
    unreadable_dirs: int = 0
    digests: Mapping[str, str] = field(default_factory=dict)  # rule source (path) -> sha256 of its bytes

    @property
    def failed(self) -> int:
        """Rule files that could not be read at all, plus folders that could not be listed."""
        return self.files - self.loaded + self.unreadable_dirs

    @classmethod
    def load(cls, dirs: Sequence[str | Path]) -> RuleBook:
        """Read every rule file of ``dirs`` (first folder wins for each file name)."""
        if isinstance(dirs, (str, Path)):  # one folder given bare, not a sequence of letters
            dirs = [dirs]
        sites: dict[str, SiteRules] = {}
        digests: dict[str, str] = {}
        problems: list[Problem] = []
        files = loaded = unreadable = 0
        for folder in dirs:
            try:
                paths = rule_files(Path(folder))
            except OSError as exc:
                unreadable += 1
                problems.append(Problem(str(folder), 0, "error", f"cannot list rule folder: {exc}"))
                continue
            for path in paths:
                files += 1
                rules, found, digest = _read_hashed(path)
                problems.extend(found)
                if rules is None:
                    continue
                loaded += 1
                if sites.setdefault(rule_name(path), rules) is rules:
                    digests[rules.source] = digest
        global_rules = sites.pop(GLOBAL_NAME, None)
        log.debug("loaded %d of %d rule files from %d folders", loaded, files, len(dirs))
        return cls(sites, global_rules, problems, files, loaded, unreadable, digests)

    def version_of(self, rules: SiteRules | None) -> RuleVersion:
        """The version of ``rules`` (a site file of this book, or None) merged with ``global.txt``."""
        glob = self.digests.get(self.global_rules.source, "") if self.global_rules is not None else ""
        if rules is None:
            return RuleVersion("", glob[:16])
        name = Path(rules.source).name
        name = name[: -len(RULE_SUFFIX)].lower() if name.lower().endswith(RULE_SUFFIX) else rules.source
        digest = hashlib.sha256(f"{self.digests.get(rules.source, rules.source)}\n{glob}".encode()).hexdigest()
        return RuleVersion(name, digest[:16])

    def for_host(self, host: str) -> SiteRules | None:
        """The rules for ``host`` (see the module docstring for the order tried)."""
        for name in host_candidates(host):
            rules = self.sites.get(name)
            if rules is not None:
                return rules
        return None

    def for_url(self, url: str) -> SiteRules | None:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return None
        return self.for_host(host) if host else None

    def by_name(self, name: str) -> SiteRules | None:
        """A rule file named in the configuration: ``spacemedia`` or ``spacemedia.txt``."""
        key = name.strip().lower().removesuffix(RULE_SUFFIX)
        if key == GLOBAL_NAME:
            return self.global_rules
        return self.sites.get(key)


def host_candidates(host: str) -> list[str]:
    """Rule names to try for ``host``, best first; empty when it is not a host name."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") or host.count(":") > 1:  # an IPv6 literal
        return []
    host = host.partition(":")[0]
    if len(host) > 253 or not _HOSTNAME.match(host):
        return []
    names = [host]
    if host.startswith("www.") and host.count(".") > 1:
        names.append(host[4:])
    labels = host.split(".")
    names.extend("." + ".".join(labels[i:]) for i in range(1, len(labels) - 1))
    return names


def rule_files(folder: Path) -> list[Path]:
    """The rule files of one folder, sorted by name (raises OSError if unreadable)."""
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries if entry.name.lower().endswith(RULE_SUFFIX))
    return [folder / name for name in names if name[: -len(RULE_SUFFIX)].lower() not in NOT_RULE_FILES]


def rule_name(path: Path) -> str:
    return path.name[: -len(RULE_SUFFIX)].lower()


def read_rule_file(path: Path) -> tuple[SiteRules | None, list[Problem]]:
    """Read and parse one file; ``None`` (with an error) when it cannot be read at all."""
    rules, problems, _ = _read_hashed(path)
    return rules, problems


def _read_hashed(path: Path) -> tuple[SiteRules | None, list[Problem], str]:
    """:func:`read_rule_file`, and the sha256 of the file's bytes."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(source, 0, "error", f"cannot read rule file: {exc}")], ""
    rules, problems = _parse_bytes(data, source, path)
    return rules, problems, hashlib.sha256(data).hexdigest()


def _parse_bytes(data: bytes, source: str, path: Path) -> tuple[SiteRules, list[Problem]]:
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(source, line, "warning", "not valid UTF-8; undecodable bytes replaced"))
        text = data.decode("utf-8", errors="replace")
    if not _RULE_NAME.match(rule_name(path)):
        problems.append(Problem(source, 0, "warning", "file name is not a host name; usable only by name"))
    rules, found = parse_rules(text, source)
    return rules, problems + found
