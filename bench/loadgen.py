"""Load generation: ``wrk`` when installed, else the bounded pure-Python client.

Both run as a separate process (the bench's own event loop keeps serving the
fixture origin meanwhile), for a fixed number of seconds, against 127.0.0.1
only. ``delay_ms`` paces each connection (a pause after every answer) for
latency runs that must not saturate the server. ``LatencyRecorder`` keeps
every request's time and latency (the Python client: wrk reports a whole
run's percentiles only), so that one continuous load can be cut into the
windows before, during and after an event.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_MAX_LINE = re.compile(r"^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)", re.M)


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors and (wrk) non-2xx/3xx answers
    statuses: dict[str, int] = field(default_factory=dict)  # pyload only


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


async def run_load(
    url: str,
    *,
    seconds: float,
    connections: int = 8,
    headers: dict[str, str] | None = None,
    delay_ms: float = 0.0,
    tool: str | None = None,
) -> LoadResult:
    """Load ``url`` for ``seconds`` and return throughput and latency."""
    if urlsplit(url).hostname != "127.0.0.1":
        raise ValueError(f"loads go only to 127.0.0.1, not {url}")
    tool = tool or load_tool()
    headers = headers or {}
    if tool == "wrk":
        return await _wrk(url, seconds, connections, headers, delay_ms)
    return await _pyload(url, seconds, connections, headers, delay_ms)


async def _wrk(url: str, seconds: float, connections: int, headers: dict[str, str], delay_ms: float) -> LoadResult:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory() as tmp:
        if delay_ms:
            script = Path(tmp) / "pace.lua"
            script.write_text(f"function delay()\n  return {delay_ms:g}\nend\n", encoding="utf-8")
            args += ["-s", str(script)]
        out = await _run(args + [url], timeout=seconds + 30)
    return parse_wrk(out)


def parse_wrk(out: str) -> LoadResult:
    latencies = {int(p): float(v) * _UNITS[u] for p, v, u in _LATENCY_LINE.findall(out)}
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if requests is None or rps is None or 99 not in latencies:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    errors = 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_ok:
        errors += int(non_ok.group(1))
    max_match = _MAX_LINE.search(out)
    return LoadResult(
        tool="wrk",
        requests=int(requests.group(1)),
        seconds=float(requests.group(2)) * _UNITS[requests.group(3)] / 1000,
        rps=float(rps.group(1)),
        p50_ms=latencies[50],
        p99_ms=latencies[99],
        max_ms=float(max_match.group(1)) * _UNITS[max_match.group(2)] if max_match else float("nan"),
        errors=errors,
    )


async def _pyload(url: str, seconds: float, connections: int, headers: dict[str, str], delay_ms: float) -> LoadResult:
    args = [sys.executable, "-m", "bench.pyload", url, "--seconds", str(seconds),
            "--connections", str(connections), "--delay-ms", str(delay_ms)]
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    data = json.loads(await _run(args, timeout=seconds + 30))
    statuses = {k: int(v) for k, v in data["statuses"].items()}
    bad = sum(v for k, v in statuses.items() if not (200 <= int(k) < 400))
    return LoadResult(
        tool="python",
        requests=int(data["requests"]),
        seconds=float(data["seconds"]),
        rps=float(data["rps"]),
        p50_ms=float(data["p50_ms"]),
        p99_ms=float(data["p99_ms"]),
        max_ms=float(data["max_ms"]),
        errors=int(data["errors"]) + bad,
        statuses=statuses,
    )


async def _run(args: list[str], *, timeout: float) -> str:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{args[0]} did not finish within {timeout:.0f}s") from None
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}... failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}")
    return out.decode("utf-8", errors="replace")


class LatencyRecorder:
    """A paced load (the Python client, its own process) recording every request's
    start time and latency, to be cut into time windows afterwards (idle, busy)."""

    def __init__(self, url: str, *, connections: int, delay_ms: float, headers: dict[str, str] | None = None,
                 max_seconds: float = 600.0) -> None:
        if urlsplit(url).hostname != "127.0.0.1":
            raise ValueError(f"loads go only to 127.0.0.1, not {url}")
        self._args = [sys.executable, "-m", "bench.pyload", url, "--seconds", str(max_seconds),
                      "--connections", str(connections), "--delay-ms", str(delay_ms)]
        for name, value in (headers or {}).items():
            self._args += ["--header", f"{name}: {value}"]
        self._tmp = tempfile.TemporaryDirectory()
        self._file = Path(self._tmp.name) / "record.json"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._args, "--record", str(self._file), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )

    async def stop(self) -> list[tuple[float, float, int]]:
        """Stop the load; every request as (start on time.monotonic(), seconds, status; 0 = error)."""
        assert self._process is not None
        if self._process.returncode is None:
            self._process.terminate()
        _, err = await asyncio.wait_for(self._process.communicate(), timeout=30)
        try:
            records = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"the latency recorder wrote nothing: {err.decode(errors='replace')[-1000:]}") from exc
        finally:
            self._tmp.cleanup()
        return [(float(t), float(s), int(c)) for t, s, c in records]


@dataclass(frozen=True)
class Latencies:
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def latencies_between(records: list[tuple[float, float, int]], start: float, end: float) -> Latencies:
    """Percentiles of the requests sent in [start, end)."""
    chosen = [r for r in records if start <= r[0] < end]
    ok = sorted(r[1] for r in chosen if 200 <= r[2] < 400)
    if not ok:
        return Latencies(len(chosen), len(chosen), float("nan"), float("nan"), float("nan"))

    def pick(fraction: float) -> float:
        return ok[min(len(ok) - 1, int(fraction * len(ok)))] * 1000

    return Latencies(len(chosen), len(chosen) - len(ok), pick(0.50), pick(0.99), ok[-1] * 1000)
