"""``python -m bench [--quick] [--only PARTS] [--postgres URL]``: run the benchmarks,
print one table of figures and ratios, write ``bench/results/bench-<time>.json``
(and ``latest.json``).

Parts (all by default, in this order):

- ``extract``: extraction throughput, rules path vs readability-lxml, one core (point 4)
- ``scrape``: the fixture origin grown with synthetic sections; feed latency while a
  full scrape runs vs idle, both cores used, an unchanged refresh's counts,
  a restart (points 3, 4, 5, 8)
- ``serve``: a synthetic store of 300 sections x 50 stories; serving vs bare aiohttp,
  memory, restart, a long run (points 2, 6, 8)
- ``scale``: store lookups and feed render at 10,000 vs 1,000,000 stories, SQLite and
  PostgreSQL (point 7)

Everything runs on 127.0.0.1 in a temporary directory; nothing else is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import extraction, scale, scraping, serving
from bench.loadgen import load_tool
from bench.report import Report

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("extract", "scrape", "serve", "scale")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter loads (about 3 minutes)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="an existing PostgreSQL database to connect to; the bench creates its own database "
                        "beside it and drops it afterwards ('' to skip PostgreSQL)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (configs, databases, service logs)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = Report(quick=args.quick)
    report.note(f"load generator: {load_tool()}" + ("" if load_tool() == "wrk" else
                " (wrk not installed: the Python client is the bottleneck, so serving ratios read high or low; install wrk)"))
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    failures = asyncio.run(_run(report, parts, args))
    report.details["seconds"] = round(time.monotonic() - started, 1)
    load = os.getloadavg()
    report.note(f"machine: {os.cpu_count()} CPUs, load average {load_at_start:.1f} at the start, {load[0]:.1f} at the end "
                "(other processes share the CPUs: "
                "ratios are measured side by side for that reason); seconds per part: "
                + ", ".join(f"{k} {v:.0f}" for k, v in report.details.get("part_seconds", {}).items()))
    print()
    print(report.table())
    path = report.write_json(args.results)
    print(f"\n{time.monotonic() - started:.0f}s; results: {path}")
    return 1 if failures else 0


async def _run(report: Report, parts: list[str], args: argparse.Namespace) -> int:
    def log(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    steps: dict[str, Callable[[Path], Awaitable[None]]] = {
        "extract": lambda work: extraction.run(report, extraction.QUICK if args.quick else extraction.FULL, log),
        "scrape": lambda work: scraping.run(report, work, scraping.QUICK if args.quick else scraping.FULL, log),
        "serve": lambda work: serving.run(report, work, serving.QUICK if args.quick else serving.FULL, log),
        "scale": lambda work: scale.run(report, work, scale.QUICK if args.quick else scale.FULL, args.postgres, log),
    }
    failures = 0
    for part in parts:
        log(f"--- {part}")
        tmp = Path(tempfile.mkdtemp(prefix=f"feedsvc-bench-{part}-"))
        if args.keep:
            log(f"work folder: {tmp}")
        started = time.monotonic()
        try:
            await steps[part](tmp)
        except Exception as exc:  # one failing part must not hide the others' figures
            failures += 1
            logging.getLogger("bench").exception("part %s failed", part)
            report.note(f"part {part} FAILED: {type(exc).__name__}: {exc}")
        finally:
            report.details.setdefault("part_seconds", {})[part] = round(time.monotonic() - started, 1)
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
