"""Config: the default file is valid, every problem is reported with file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feedsvc.config import FETCH_OPTIONS, SECTION_OPTIONS, SITE_OPTIONS, TOP_OPTIONS, duration, load_settings, parse_settings
from feedsvc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """\
sites:
  - id: spacewar
    title: SpaceWar
    url: https://www.spacewar.com/
    sections:
      - id: nukewars
        title: Nuclear Wars
        url: https://www.spacewar.com/Nuclear_Weapons.html
"""


def test_default_config_is_valid_and_lists_the_network() -> None:
    settings = load_settings(ROOT / "config" / "feedsvc.yaml", env={})
    site_ids = {site.id for site in settings.sites}
    assert {"spacewar", "spacedaily", "terradaily"} <= site_ids
    assert all(site.rules == "spacemedia" for site in settings.sites)
    assert all(section.every >= 60 for section in settings.sections())
    assert Path(settings.rules_dirs[0]) == ROOT / "config" / "rules"


def test_minimal_config_takes_defaults() -> None:
    settings = parse_settings(MINIMAL, "mini.yaml", env={})
    assert settings.storage == "sqlite:///data/feedsvc.db"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    section = settings.sections()[0]
    assert section.key == "spacewar/nukewars"
    assert section.every == 1800.0
    assert settings.fetch.per_host_concurrency == 1


def test_environment_overrides_deployment_settings() -> None:
    env = {"FEEDSVC_STORAGE": "postgresql://feedsvc@db/feedsvc", "FEEDSVC_LISTEN": "0.0.0.0:9000", "FEEDSVC_PUBLIC_URL": "https://feeds.example.org/"}
    settings = parse_settings(MINIMAL, "mini.yaml", env=env)
    assert settings.storage == "postgresql://feedsvc@db/feedsvc"
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9000)
    assert settings.public_url == "https://feeds.example.org"


def test_every_problem_is_reported_at_once_with_file_line_and_key() -> None:
    text = """\
listen: nowhere
fetch:
  timeout: -3
  colour: blue
sites:
  - id: Space War
    url: ftp://spacewar.com/
    sections:
      - id: nukewars
        title: Nuclear Wars
        url: https://www.spacewar.com/x.html
        every: soon
"""
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "bad.yaml", env={})
    problems = caught.value.problems
    expected = [
        ("bad.yaml:1: listen:", "HOST:PORT"),
        ("bad.yaml:3: fetch.timeout:", "number from"),
        ("bad.yaml:4: fetch.colour:", "unknown key"),
        ("bad.yaml:6: sites[0].id:", "lowercase"),
        ("bad.yaml:6: sites[0].title:", "missing required key"),
        ("bad.yaml:7: sites[0].url:", "http://"),
        ("bad.yaml:12: sites[0].sections[0].every:", "duration"),
    ]
    for prefix, words in expected:
        assert any(p.startswith(prefix) and words in p for p in problems), (prefix, problems)
    assert len(problems) == len(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("sites: [", "not valid YAML", id="broken-yaml"),
        pytest.param("storage: mysql://x/y\n" + MINIMAL, "sqlite:///PATH", id="storage-scheme"),
        pytest.param(MINIMAL + "  - id: spacewar\n    title: T\n    url: https://x.org/\n    sections: []\n", "duplicate site id", id="duplicate-site"),
        pytest.param("sites: []\n", "non-empty list", id="no-sites"),
        pytest.param("feed_size: 0\n" + MINIMAL, "from 1 to 1000", id="feed-size"),
    ],
)
def test_bad_values_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, "bad.yaml", env={})
    assert message in str(caught.value)
    assert str(caught.value).startswith("bad.yaml")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", env={})


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0), ("1d", 86400.0), (45, 45.0)])
def test_durations(text: object, seconds: float) -> None:
    assert duration(text) == seconds


def test_every_option_is_documented() -> None:
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\| `([a-z_.\[\]]+)` \|", doc))
    tables = [("", TOP_OPTIONS), ("fetch.", FETCH_OPTIONS), ("sites[].", SITE_OPTIONS), ("sites[].sections[].", SECTION_OPTIONS)]
    for prefix, table in tables:
        for key in table:
            assert f"{prefix}{key}" in documented, f"{prefix}{key} is not in docs/config.md"


def test_default_config_uses_only_known_keys_and_sets_every_top_level_option() -> None:
    text = (ROOT / "config" / "feedsvc.yaml").read_text(encoding="utf-8")
    top_keys = set(re.findall(r"^([a-z_]+):", text, flags=re.MULTILINE))
    assert top_keys == set(TOP_OPTIONS) | {"fetch", "sites"}
