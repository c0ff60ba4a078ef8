"""The Dockerfile's steps without a container engine, in full, with timings.

    .venv/bin/python bench/container_steps.py [--offline]

The same steps as tests/test_container_steps.py (which it reuses), but the venv
gets feedsvc's dependencies from the package index as the image build does
(``pip wheel`` with build isolation, ``pip install`` of the wheel with its
dependencies), unless ``--offline``. The service is pointed at the local fixture
origin (never at live sites), started as the ENTRYPOINT, polled with the
HEALTHCHECK command, asked for a feed, and stopped with SIGTERM. Prints one line
per step with its duration, then PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import feedparser  # noqa: E402

from origin import Origin  # noqa: E402
from test_container_steps import (  # noqa: E402
    build_image_tree,
    healthcheck,
    point_config_at,
    start_like_the_image,
)
from daemon import free_port  # noqa: E402


async def run(offline: bool) -> bool:
    work = Path(tempfile.mkdtemp(prefix="feedsvc-image-"))
    steps: list[tuple[str, float]] = []
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        steps.append((name, now - clock))
        print(f"  {name:<44} {now - clock:6.1f}s", flush=True)
        clock = now

    ok = False
    try:
        tree = build_image_tree(work, offline=offline)
        step("build: wheel + venv" + (" (offline)" if offline else " (deps from the index)"))
        origin_root = work / "origin"
        shutil.copytree(ROOT / "tests" / "fixtures" / "origin", origin_root)
        async with Origin(origin_root) as origin:
            point_config_at(tree, origin)
            daemon, env = await start_like_the_image(tree, free_port())
            try:
                while await healthcheck(tree, env) != 0:
                    if not daemon.alive():
                        raise RuntimeError(f"the service exited:\n{daemon.tail()}")
                    await asyncio.sleep(0.2)
                step("start -> HEALTHCHECK passes")
                while True:
                    status, _, body = await daemon.get("/feeds/spacewar/nukewars.atom")
                    if status == 200 and len(feedparser.parse(body).entries) >= 6:
                        break
                    await asyncio.sleep(0.3)
                step("first refresh -> a feed with 6 entries")
            finally:
                code = await daemon.stop(timeout=15)
            step(f"SIGTERM -> exit {code}")
            ok = code == 0 and await healthcheck(tree, env) == 1
    except Exception as exc:  # a benchmark reports, it does not trace back
        print(f"  failed: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"  total {sum(seconds for _, seconds in steps):.1f}s")
    print("PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offline", action="store_true", help="dependencies from this interpreter, not the index")
    args = parser.parse_args()
    return 0 if asyncio.run(run(args.offline)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
