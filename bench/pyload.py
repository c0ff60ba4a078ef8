"""The pure-Python load generator: the fallback when ``wrk`` is not installed, and
the recorder of per-request latencies (``--record``) that latency-over-time
measurements need (wrk reports percentiles of a whole run only).

Run as its own process (``python -m bench.pyload URL --seconds S ...``) so that
it never shares an interpreter with the server it measures; prints one JSON
object. Closed loop: each connection sends its next request when the previous
answer is read (after ``--delay-ms`` when pacing). Bounded: it stops at the
deadline (or on SIGTERM) whatever happens, and only talks to 127.0.0.1.
With ``--record FILE`` it writes one ``[start, seconds, status]`` per request
(``start`` on ``time.monotonic()``, the clock every process of the machine shares).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import time
from urllib.parse import urlsplit

import aiohttp


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run(url: str, seconds: float, connections: int, headers: dict[str, str], delay_ms: float,
              record: list[tuple[float, float, int]] | None = None) -> dict[str, object]:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("pyload only loads 127.0.0.1")
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    errors = 0
    received = 0
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=max(5.0, seconds))
    started = time.perf_counter()
    deadline = started + seconds
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("Accept-Encoding", "User-Agent")) as session:

        async def worker() -> None:
            nonlocal errors, received
            while time.perf_counter() < deadline and not stopping.is_set():
                sent = time.monotonic()
                t0 = time.perf_counter()
                try:
                    async with session.get(url, headers=headers) as response:
                        body = await response.read()
                        statuses[response.status] += 1
                        received += len(body)
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1
                    if record is not None:
                        record.append((sent, time.perf_counter() - t0, 0))
                    continue
                latencies.append(time.perf_counter() - t0)
                if record is not None:
                    record.append((sent, latencies[-1], response.status))
                if delay_ms:
                    await asyncio.sleep(delay_ms / 1000)

        tasks = [asyncio.create_task(worker()) for _ in range(connections)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 5)
        except TimeoutError:
            pass
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p90_ms": percentile(ordered, 0.90) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors,
        "bytes": received,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--record", help="write every request's [start, seconds, status] to this JSON file")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    record: list[tuple[float, float, int]] | None = [] if args.record else None
    result = asyncio.run(run(args.url, min(args.seconds, 900.0), args.connections, headers, args.delay_ms, record))
    if args.record:
        with open(args.record, "w", encoding="utf-8") as out:
            json.dump(record, out)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
