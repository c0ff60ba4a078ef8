"""`feedsvc run` as a real subprocess, for tests of replicas, roles and the container steps.

A ``Daemon`` is started in a session of its own (so its CPU-pool workers can be
reaped with it), logs JSON lines to a file, and is asked for feeds and probes
over HTTP. ``config_text`` writes a config for the local fixture origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDict

from origin import Origin

ROOT = Path(__file__).resolve().parents[1]

#: The fixture origin's sections: (site, section id, path on the origin).
SECTIONS = (
    ("spacewar", "nukewars", "/Nuclear_Weapons.html"),
    ("spacewar", "milspace", "/Military_Space_News.html"),
    ("spacedaily", "industry", "/Space_Industry.xml"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_text(origin: Origin, storage: str, *, every: str = "1h", extra: str = "", rules_dir: Path | None = None) -> str:
    """A config for the fixture origin's three sections, all refreshed ``every``."""
    sites: dict[str, list[str]] = {}
    for site, section, path in SECTIONS:
        sites.setdefault(site, []).append(
            f'      - {{id: {section}, title: {section.title()}, url: "{origin.url(site, path)}", every: {every}}}'
        )
    titles = {"spacewar": "SpaceWar", "spacedaily": "SpaceDaily"}
    blocks = [
        f"  - id: {site}\n    title: {titles[site]}\n    url: {origin.base_url(site)}/\n    rules: spacemedia\n"
        "    sections:\n" + "\n".join(lines)
        for site, lines in sites.items()
    ]
    return (
        f"storage: {storage}\n"
        "listen: 127.0.0.1:8080\n"
        "public_url: http://feeds.test\n"
        f"rules_dirs: [{rules_dir or ROOT / 'config' / 'rules'}]\n"
        "jitter: 0\n"
        f"{extra}"
        'fetch: {min_delay: 0.0, timeout: 10, retries: 0}\n'
        "sites:\n" + "\n".join(blocks) + "\n"
    )


@dataclass
class Daemon:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (anything else is skipped)."""
        lines = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines

    async def get(self, path: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.base_url + path, headers=headers) as response:
                return response.status, CIMultiDict(response.headers), await response.read()

    async def wait_ready(self, timeout: float = 40.0, path: str = "/readyz") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                if (await self.get(path))[0] == 200:
                    return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; SIGKILL when it does not stop in time. Then reap its session."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.reap()
        return self.process.returncode if self.process.returncode is not None else -1

    async def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        self.process.kill()
        await self.process.wait()

    def reap(self) -> None:
        """Kill what is left of the daemon's own session (CPU-pool workers of a killed daemon)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


async def start_daemon(
    name: str,
    config: Path,
    workdir: Path,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
) -> Daemon:
    """Start ``feedsvc run`` (or ``command``) with FEEDSVC_LISTEN on a free port."""
    port = port or free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    full_env = {**clean, "FEEDSVC_LISTEN": f"127.0.0.1:{port}", **(env or {})}
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *(command or (sys.executable, "-m", "feedsvc", "run", "--config", str(config))),
            cwd=workdir,
            env=full_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    return Daemon(name, process, port, log_path)
