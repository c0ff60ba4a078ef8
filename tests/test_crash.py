"""The daemon as a process: kill -9 mid-scrape loses nothing; SIGTERM stops it cleanly, in bounded time.

``feedsvc run`` runs as a subprocess against the fixture origin (see
``bench/crash_test.py``, whose 20-cycle run this file shortens to 3 cycles).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from origin import Origin

ROOT = Path(__file__).resolve().parents[1]


def load_crash_test() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_crash_test", ROOT / "bench" / "crash_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


crash = load_crash_test()


async def test_kill_9_mid_scrape_then_restart_loses_nothing(tmp_path: Path) -> None:
    plan = [crash.Kill("commits", 2), crash.Kill("start-up"), crash.Kill("requests", 6)]
    cycles, final = await crash.run(3, seed=20190425, delay=0.08, workdir=tmp_path, echo=False, plan=plan)
    problems = [f"cycle {c.number}: {p}" for c in cycles for p in c.problems] + final
    assert problems == [], (problems, (tmp_path / "daemon.log").read_text()[-3000:])
    assert len(cycles) == 3
    # The kills landed mid-work: stories were committed during a cycle that was then cut short,
    # and the last restart still had stories to take.
    assert any(c.committed > 0 for c in cycles)
    assert cycles[-1].stored < len(crash.read_stories(tmp_path / "data" / "feedsvc.db"))


@pytest.fixture
def harness(origin: Origin, tmp_path: Path) -> Any:
    return lambda stop_timeout: crash.CrashTest(origin, tmp_path, rng=random.Random(1), delay=0.0, stop_timeout=stop_timeout)


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def status_of(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as response:  # noqa: S310
        document: dict[str, Any] = json.load(response)
        return document


async def test_sigterm_abandons_stuck_work_within_the_stop_timeout_and_exits_0(origin: Origin, harness: Any) -> None:
    test = harness(1.5)
    origin.set_delay("spacewar", None, 30.0)  # every answer hangs: the first refresh is stuck in flight
    process = await test.start()
    await wait_for(lambda: origin.in_flight("spacewar") > 0, 20, "a request in flight")
    document = await asyncio.to_thread(status_of, test.port)
    assert all(section["next_run"] for section in document["sections"])  # the scheduler's times, on /status
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 15)
    elapsed = time.monotonic() - started
    log = (test.workdir / "daemon.log").read_text()
    assert code == 0, log[-2000:]
    assert elapsed < 1.5 + 4.0, f"stopped after {elapsed:.1f}s, stop_timeout is 1.5s"
    assert "abandoned" in log
    with contextlib.closing(sqlite3.connect(test.db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_sigterm_lets_short_in_flight_work_finish_then_exits_0(origin: Origin, harness: Any) -> None:
    test = harness(10.0)
    origin.set_delay("spacewar", None, 0.15)
    process = await test.start()
    await wait_for(lambda: any(path.startswith("/reports/") for _, path, _ in origin.arrived), 20, "an article request")
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 20)
    log = (test.workdir / "daemon.log").read_text()
    assert code == 0, log[-2000:]
    assert "abandoned" not in log
    with contextlib.closing(sqlite3.connect(test.db)) as conn:
        runs = dict(conn.execute("SELECT section_key, ok FROM section_runs").fetchall())
        stored = conn.execute(
            "SELECT COUNT(*) FROM story_sections WHERE section_key = 'spacewar/nukewars'"
        ).fetchone()[0]
    assert runs.get("spacewar/nukewars") == 1, "the refresh in flight at SIGTERM did not finish"
    listed = len({path for site, path, _ in origin.arrived if site == "spacewar" and path.startswith(("/reports/", "/afp/"))})
    assert stored >= listed > 0


def test_a_bad_config_stops_start_up_naming_file_line_key_and_what_is_expected(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "listen: 127.0.0.1:8080\nfetch:\n  timeout: soon\nsites:\n  - id: s\n    title: S\n    url: https://s.example/\n"
        "    sections: [{id: a, title: A, url: 'https://s.example/a', every: never}]\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "feedsvc", "run", "--config", str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2
    assert f"{config}:3: fetch.timeout: expected a number" in result.stderr
    assert f"{config}:8: sites[0].sections[0].every: expected a duration" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing started, nothing written
