"""The command line, run as a user runs it: real processes, the local origin, real files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import feedparser

from origin import Origin

ROOT = Path(__file__).resolve().parents[1]
SEED_PAGE = Path(__file__).parent / "fixtures" / "origin" / "spacewar" / "reports" / "Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"
SEED_URL = "https://www.spacewar.com/reports/Kim_Putin_vow_to_seek_closer_ties_at_first_talks_999.html"


def feedsvc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedsvc", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


async def feedsvc_async(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", *args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


def write_config(origin: Origin, tmp_path: Path, port: int = 8080) -> Path:
    path = tmp_path / "feedsvc.yaml"
    path.write_text(
        f"""
storage: sqlite:///{tmp_path}/data/feedsvc.db
listen: 127.0.0.1:{port}
public_url: http://127.0.0.1:{port}
rules_dirs: [{ROOT / "config" / "rules"}]
jitter: 0
fetch: {{min_delay: 0.0, timeout: 10, retries: 0}}
sites:
  - id: spacewar
    title: SpaceWar
    url: {origin.base_url("spacewar")}/
    rules: spacemedia
    sections:
      - {{id: nukewars, title: Nuclear Wars, url: "{origin.url("spacewar", "/Nuclear_Weapons.html")}", every: 1h}}
  - id: spacedaily
    title: SpaceDaily
    url: {origin.base_url("spacedaily")}/
    rules: spacemedia
    sections:
      - {{id: industry, title: Space Industry, url: "{origin.url("spacedaily", "/Space_Industry.xml")}", every: 1h}}
""",
        encoding="utf-8",
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_extract_the_seed_page_as_json() -> None:
    result = feedsvc("extract", str(SEED_PAGE), "--url", SEED_URL, "--format", "json")
    assert result.returncode == 0, result.stderr
    article: dict[str, Any] = json.loads(result.stdout)
    assert article["title"] == "Kim, Putin vow to seek closer ties at first talks"
    assert article["author"] == "Maria PANINA"
    assert article["published_day"] == "2019-04-25"
    assert (article["place"], article["agency"]) == ("Vladivostok, Russia", "AFP")
    body = article["body_html"]
    assert body.startswith("<p>Russia's Vladimir Putin and North Korea's Kim Jong Un met face-to-face for the first time")
    assert body.endswith("capable of reaching the entire US mainland.</p>")
    assert "<h3>North Korean labourers</h3>" in body and "<h3>Soviet-era allies</h3>" in body
    for junk in ("Pompeo expects N.Korea diplomacy", "Pompeo said Wednesday he expected", "Never mind the substance", "selfie diplomacy", "Related Links", "Thanks for being here", "read more", "Disqus", "Share this article", "The content herein", "NUKEWARS"):
        assert junk not in body
    companions = [(c["title"], c["place"], c["agency"], c["published_day"]) for c in article["companions"]]
    assert companions == [
        ("Pompeo expects N.Korea diplomacy to be 'bumpy'", "Washington", "AFP", "2019-04-24"),
        ("Never mind the substance, here's the visuals: Putin summit a win for Kim", "Seoul", "AFP", "2019-04-25"),
    ]


def test_extract_text_format_reads_like_the_story() -> None:
    result = feedsvc("extract", str(SEED_PAGE), "--url", SEED_URL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Kim, Putin vow to seek closer ties at first talks"
    assert "By Maria PANINA" in lines[1]
    assert "== companion story: Pompeo expects N.Korea diplomacy to be 'bumpy'" in result.stdout


def test_extract_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = feedsvc("extract", str(tmp_path / "nope.html"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "nope.html" in result.stderr


def test_check_config_explains_the_default_config() -> None:
    result = feedsvc("check-config", "config/feedsvc.yaml")
    assert result.returncode == 0, result.stderr
    assert "config/feedsvc.yaml: OK" in result.stdout
    assert "spacewar/latest" in result.stdout


def test_check_config_names_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: everywhere\nsites:\n  - id: x\n    title: X\n    url: https://x.org/\n    sections:\n      - {id: a, title: A, url: 'https://x.org/a', every: often}\n")
    result = feedsvc("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:1: listen: expected HOST:PORT" in result.stderr
    assert f"{bad}:7: sites[0].sections[0].every: expected a duration" in result.stderr


def test_rules_check_reports_and_summarises() -> None:
    result = feedsvc("rules", "check", "config/rules", "tests/fixtures/rules/ftr-sample")
    assert result.returncode == 0, result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.endswith("0 errors") and " files, " in summary


async def test_scrape_refreshes_every_section_and_exits_0(origin: Origin, tmp_path: Path) -> None:
    config = write_config(origin, tmp_path)
    code, _, err = await feedsvc_async("scrape", "--config", str(config))
    assert code == 0, err
    assert "2 sections refreshed, 0 failed" in err
    assert origin.requests(path="/Nuclear_Weapons.html", site="spacewar")


async def test_scrape_exits_1_when_a_section_fails(origin: Origin, tmp_path: Path) -> None:
    config = write_config(origin, tmp_path)
    origin.set_status("spacewar", "/Nuclear_Weapons.html", 500)
    code, _, err = await feedsvc_async("scrape", "--config", str(config), "--section", "spacewar/nukewars")
    assert code == 1
    assert "1 sections refreshed, 1 failed" in err


async def test_run_serves_feeds_and_stops_cleanly_on_sigterm(origin: Origin, tmp_path: Path) -> None:
    port = free_port()
    config = write_config(origin, tmp_path, port)
    env = {**os.environ, "FEEDSVC_CONFIG": str(config)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", "run", cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        entries = await _wait_for_entries(f"http://127.0.0.1:{port}/feeds/spacewar/nukewars.atom", timeout=60)
        assert entries >= 6
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    assert code == 0


async def _wait_for_entries(url: str, timeout: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        parsed = feedparser.parse(await response.read())
                        if len(parsed.entries) >= 6:
                            return len(parsed.entries)
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{url} had no entries after {timeout}s")
