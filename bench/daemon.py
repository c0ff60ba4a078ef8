"""``feedsvc run`` as the benchmarks see it: a child process on a temporary config.

``Daemon`` writes the config (JSON is YAML), starts ``python -m feedsvc run``
on 127.0.0.1 with a free port, waits for ``/readyz``, reads ``/metrics``, and
samples the resident memory and CPU time of the process and of its worker
processes from ``/proc``. The process gets a clean environment (no
``FEEDSVC_*`` overrides) and its log goes to a file beside the config.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "config" / "rules"
_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_config(site_id: str, title: str, base_url: str, sections: Iterable[tuple[str, str, str, float]]) -> dict[str, Any]:
    """One ``sites:`` entry; sections are (id, title, url, every seconds)."""
    return {
        "id": site_id,
        "title": title,
        "url": base_url.rstrip("/") + "/",
        "rules": "spacemedia",
        "sections": [{"id": s, "title": t, "url": u, "every": e} for s, t, u, e in sections],
    }


def write_config(directory: Path, *, storage: str, port: int, sites: list[dict[str, Any]],
                 per_host_concurrency: int = 4, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "storage": storage,
        "listen": f"127.0.0.1:{port}",
        "public_url": f"http://127.0.0.1:{port}",
        "rules_dirs": [str(RULES_DIR)],
        "jitter": 0,
        "feed_size": 50,
        "stop_timeout": 5,
        "fetch": {
            "user_agent": "feedsvc-bench/1.0 (+https://feeds.test/bench)",
            "min_delay": 0.0,
            "per_host_concurrency": per_host_concurrency,
            "timeout": 120,
            "retries": 0,
        },
        "sites": sites,
    }
    config.update(extra)
    path = directory / "feedsvc.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


class Daemon:
    """One ``feedsvc run`` child process."""

    def __init__(self, config: Path, port: int, *, log_level: str = "WARNING", profile: Path | None = None) -> None:
        self.config = config
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = config.with_suffix(f".{port}.log")
        self._log_level = log_level
        self._profile = profile  # write a cProfile of the whole process there (on a graceful stop)
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0  # time.monotonic() at spawn
        self._session: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        profiling = ["-m", "cProfile", "-o", str(self._profile)] if self._profile else []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *profiling, "-m", "feedsvc", "--log-level", self._log_level, "run", "--config", str(self.config),
            cwd=str(self.config.parent), env=env, stdout=log, stderr=log,
        )
        log.close()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), auto_decompress=False)

    async def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from spawn until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                async with self.session.get(self.base + "/readyz") as response:
                    if response.status == 200:
                        return time.monotonic() - self.started_at
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
        raise RuntimeError(f"feedsvc not ready after {timeout:.0f}s; log: {self.log_tail()}")

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        async with self.session.get(self.base + path, headers=dict(headers or {})) as response:
            return response.status, dict(response.headers), await response.read()

    async def metrics(self) -> dict[str, float]:
        """Every sample of ``/metrics``, by ``name{labels}``."""
        status, _, body = await self.get("/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
        samples: dict[str, float] = {}
        for line in body.decode().splitlines():
            match = _METRIC_LINE.match(line)
            if match and not line.startswith("#"):
                samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        return samples

    def rss_bytes(self) -> int:
        """Resident memory of the serving process (not its workers)."""
        return _rss(self.pid)

    def worker_pids(self) -> list[int]:
        return _children(self.pid)

    def cpu_seconds(self) -> dict[int, float]:
        """user + system CPU seconds of the process and of each worker process."""
        return {pid: _cpu(pid) for pid in [self.pid, *self.worker_pids()]}

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _check_alive(self) -> None:
        if self.process is not None and self.process.returncode is not None:
            raise RuntimeError(f"feedsvc exited with {self.process.returncode}; log: {self.log_tail()}")


def metric_sum(samples: Mapping[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as children:
                found.extend(int(c) for c in children.read().split())
        except OSError:
            continue
    return found
