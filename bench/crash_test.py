"""Crash test: ``kill -9`` feedsvc mid-scrape, restart it, again and again.

Runs ``python -m feedsvc run`` as a subprocess (its own process group: the CPU pool's
workers die with it, as in a container kill) against the local fixture origin, slowed
down (``set_delay``) so the kills land mid-work. Before each cycle the origin publishes
new articles, so every cycle has work in flight. Each cycle kills the daemon with
SIGKILL at a random point (after a random number of origin requests, plus a random
fraction of a request's time; sometimes before the first request, during start-up),
then checks the SQLite database:

- ``PRAGMA integrity_check`` is ``ok`` and ``PRAGMA foreign_key_check`` finds nothing;
- no duplicate story key or id, no duplicate section membership;
- no half-written story (no story without title, content or content hash, no story
  without the section membership written in the same transaction);
- every story committed before the kill (read from the database just before it) is
  still there: its key still leads to a story, under the same id.

After the last cycle the daemon runs to the end: it must know exactly the story keys a
clean, never-killed scrape of the same origin knows, serve the same articles in every
section feed, each once, and stop on SIGTERM with exit status 0.

    python bench/crash_test.py [--cycles 20] [--seed N] [--delay 0.08]

Prints one line per cycle and a summary; exit status 0 only when every check held.
``tests/test_crash.py`` runs a short version (3 cycles).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from origin import Origin  # noqa: E402  (the fixture origin lives with the tests)

RULES = ROOT / "config" / "rules"
ORIGIN_TREE = ROOT / "tests" / "fixtures" / "origin"
HTML_SECTION = "/Nuclear_Weapons.html"
RSS_SECTION = "/Space_Industry.xml"
STOP_TIMEOUT = 3.0
MAX_KILL_AFTER = 30  # a cycle is killed after 1 to this many origin requests, ...
MAX_KILL_COMMITS = 5  # ... or 1 to this many new stories, or at start-up
KILL_DEADLINE = 30.0  # a cycle whose kill point never comes (the work ran out) is killed after this
FINAL_DEADLINE = 120.0  # the last run must have stored everything by then
WORDS = (
    "orbit launch satellite antenna rover crater booster fairing payload telemetry thruster gyroscope "
    "propellant manifest cryogenic ascent descent tracking relay uplink downlink spectrometer radar "
    "lander habitat regolith ice dune basalt canyon glacier monsoon drought harvest reservoir aquifer "
    "ministry parliament treaty summit sanction tariff budget contract tender auction lawsuit verdict "
    "engineer minister analyst pilot farmer geologist meteorologist diplomat admiral economist "
    "Tuesday Wednesday Thursday Friday morning evening quarter decade season forecast estimate "
    "northern southern coastal inland arctic tropical remote urban industrial agricultural "
    "delayed approved rejected tested repaired expanded reduced doubled halved postponed"
).split()


@dataclass(frozen=True)
class Kill:
    """When a cycle's SIGKILL lands: ``start-up`` (before any request), after ``count`` origin
    ``requests``, or after ``count`` new stories ``commits`` (plus a random fraction of a request)."""

    when: str
    count: int = 0


@dataclass
class Cycle:
    number: int
    kill: str  # when the kill landed (see Kill)
    seconds: float  # from start to kill
    committed: int  # stories committed just before the kill
    stored: int  # stories in the database after the kill
    problems: list[str] = field(default_factory=list)


def article_html(title: str, paragraphs: Sequence[str]) -> bytes:
    body = "<br><br>\n".join(paragraphs)
    return f"""<html><head><meta charset="utf-8"><title>{title}</title></head><body>
<table width="100%"><tr><td width="130">&nbsp;</td><td valign="top">
<table width="100%"><tr><td><h1>{title}</h1>
<font size="2"><b>By Crash Tester</b></font><br><font size="2">Reno, Nevada (SPX) Apr 27, 2019</font>
</td></tr></table><br><span>{body}<br><br></span>
<br><b>Related Links</b><br><a href="/">home</a><br></td></tr></table></body></html>
""".encode()


def fresh_story(rng: random.Random, serial: int) -> tuple[str, bytes]:
    """A new article (title, page) whose text shares little with any other."""
    words = rng.sample(WORDS, 6)
    title = f"Story {serial}: {words[0]} {words[1]} {words[2]} report"
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(28, 40))).capitalize() + f", officials said in bulletin {serial}-{n}."
        for n in range(5)
    ]
    return title, article_html(title, paragraphs)


class CrashTest:
    def __init__(self, origin: Origin, workdir: Path, *, rng: random.Random, delay: float, stop_timeout: float = STOP_TIMEOUT) -> None:
        self.origin = origin
        self.workdir = workdir
        self.rng = rng
        self.delay = delay
        self.stop_timeout = stop_timeout
        self.db = workdir / "data" / "feedsvc.db"
        self.config = workdir / "feedsvc.yaml"
        self.port = _free_port()
        self.serial = 0
        self.ever_committed: dict[str, tuple[str, str]] = {}  # key -> (id, content hash)
        self.config.write_text(self._config_text(), encoding="utf-8")

    def _config_text(self) -> str:
        fetch = {"min_delay": 0.0, "timeout": 5, "retries": 1, "backoff": 0.05, "breaker_cooldown": 1}
        # Short intervals and leases: a restarted daemon takes up a section whose run was cut
        # short as soon as the dead process's lease on it runs out, and runs each section
        # again soon after a completed run, so that every cycle has work in flight.
        top = {"listen": f"127.0.0.1:{self.port}", "stop_timeout": f"{self.stop_timeout}s", "feed_size": 500, "lease_time": "2s"}
        return self.origin.feedsvc_config(self.db.parent, RULES, fetch=fetch, top=top, every="5s")

    # -------------------------------------------------------------- the origin publishes

    def publish(self, count: int) -> None:
        """New articles at the top of the HTML section page and of the RSS listing."""
        for section in (HTML_SECTION, RSS_SECTION):
            items = []
            for _ in range(count):
                self.serial += 1
                title, page = fresh_story(self.rng, self.serial)
                path = f"/reports/Crash_story_{self.serial}_999.html"
                site = "spacewar" if section == HTML_SECTION else "spacedaily"
                self.origin.set_page(site, path, page, "text/html")
                items.append((path, title))
            if section == HTML_SECTION:
                self._list_in_html(items)
            else:
                self._list_in_rss(items)

    def _list_in_html(self, items: list[tuple[str, str]]) -> None:
        page = (self.origin.root / "spacewar" / HTML_SECTION.lstrip("/")).read_bytes()
        marker = b'<font face="Arial, Helvetica, sans-serif" size="3"><b><a href='
        at = page.index(marker)
        new = b"".join(
            marker + f'"{path}">{title}</a></b></font><br>\n'.encode()
            + b'<font face="Arial, Helvetica, sans-serif" size="2" color="#666666">Reno, Nevada (SPX) April 27, 2019</font><br>\n'
            + f'<font face="Arial, Helvetica, sans-serif" size="2">{title}: the first lines of the story, long enough to read as a teaser of the article.</font>\n'.encode()
            + b"<br><br><br>\n"
            for path, title in items
        )
        self.origin.set_page("spacewar", HTML_SECTION, page[:at] + new + page[at:])

    def _list_in_rss(self, items: list[tuple[str, str]]) -> None:
        listing = (self.origin.root / "spacedaily" / RSS_SECTION.lstrip("/")).read_text(encoding="utf-8")
        head, _, tail = listing.partition("<item>")
        new = "".join(
            f"<item>\n<title>{title}</title>\n<link>{path}</link>\n<description>{title}.</description>\n"
            "<pubDate>Sat, 27 Apr 2019 10:00:00 GMT</pubDate>\n</item>\n"
            for path, title in items
        )
        self.origin.set_page("spacedaily", RSS_SECTION, (head + new + "<item>" + tail).encode("utf-8"))

    # -------------------------------------------------------------- the daemon

    async def start(self) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        stderr = (self.workdir / "daemon.log").open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "feedsvc", "run", "--config", str(self.config),
                cwd=self.workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True,  # its own process group: the kill takes the CPU pool's workers too
            )
        finally:
            stderr.close()

    async def kill(self, process: asyncio.subprocess.Process) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await process.wait()

    def random_kill(self) -> Kill:
        """Where to kill: at start-up, after some origin requests, or after some commits."""
        draw = self.rng.random()
        if draw < 0.1:
            return Kill("start-up", 0)
        if draw < 0.55:
            return Kill("requests", self.rng.randint(1, MAX_KILL_AFTER))
        return Kill("commits", self.rng.randint(1, MAX_KILL_COMMITS))

    async def cycle(self, number: int, kill: Kill | None = None) -> Cycle:
        kill = kill or self.random_kill()
        self.publish(self.rng.randint(1, 3))
        self.origin.clear_log()
        before = count_stories(self.db)
        process = await self.start()
        started = time.monotonic()
        deadline = started + KILL_DEADLINE

        def reached() -> bool:
            if kill.when == "requests":
                return len(self.origin.arrived) >= kill.count
            if kill.when == "commits":
                return count_stories(self.db) - before >= kill.count
            return True

        while not reached() and time.monotonic() < deadline and process.returncode is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.rng.uniform(0.3, 1.2) if kill.when == "start-up" else self.rng.uniform(0.0, max(self.delay, 0.05) * 1.5))
        committed = read_stories(self.db)
        exited = process.returncode
        await self.kill(process)
        seconds = time.monotonic() - started
        problems = check_database(self.db)
        if exited is not None:
            problems.append(f"the daemon exited by itself (status {exited}) before the kill: see daemon.log")
        after = read_stories(self.db)
        known = read_known_keys(self.db)
        ids = {story_id for story_id, _ in after.values()}
        self.ever_committed.update(committed)
        for key, (story_id, _) in self.ever_committed.items():
            if key not in known:
                problems.append(f"committed story lost: {key}")
            elif key in after and after[key][0] != story_id:
                problems.append(f"committed story {key} changed its id")
        lost_ids = {story_id for story_id, _ in committed.values()} - ids
        if lost_ids:
            problems.append(f"{len(lost_ids)} committed story ids gone: {sorted(lost_ids)[:3]}")
        return Cycle(number, f"{kill.when} {kill.count}" if kill.count else kill.when, seconds, len(committed), len(after), problems)

    async def finish(self, threads: ThreadPoolExecutor) -> list[str]:
        """A last, uninterrupted run: the clean result, served; then SIGTERM, exit 0.

        "The clean result" is what a never-killed scrape of the same origin stores and
        serves: the same story keys (a story's own key or an alias of it: which copy of a
        story was seen first may differ, the keys known may not) and, in every section
        feed, entries for the same articles (links), each once.
        """
        problems: list[str] = []
        expected_keys, expected_feeds = await self.reference(threads)
        self.origin.set_delay("spacewar", None, 0.0)
        self.origin.set_delay("spacedaily", None, 0.0)
        process = await self.start()
        try:
            deadline = time.monotonic() + FINAL_DEADLINE
            while time.monotonic() < deadline and read_known_keys(self.db) != expected_keys:
                await asyncio.sleep(0.25)
            known = read_known_keys(self.db)
            if known != expected_keys:
                missing, extra = sorted(expected_keys - known), sorted(known - expected_keys)
                problems.append(f"after the restarts: {len(missing)} story keys missing {missing[:3]}, {len(extra)} extra {extra[:3]}")
            problems += check_database(self.db)
            problems += await self.check_feeds(expected_feeds)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(process.wait(), self.stop_timeout + 10)
                except TimeoutError:
                    await self.kill(process)
                    code = -9
                if code != 0:
                    problems.append(f"SIGTERM: exit status {code}, not 0")
        return problems

    async def reference(self, threads: ThreadPoolExecutor) -> tuple[set[str], dict[str, list[str]]]:
        """What a clean scrape of the same origin stores and serves: known story keys, and
        the entry links of each section feed."""
        from feedsvc.config import parse_settings
        from feedsvc.service import runtime

        ref_dir = self.workdir / "reference"
        text = self.origin.feedsvc_config(ref_dir, RULES, fetch={"min_delay": 0.0, "timeout": 5}, top={"feed_size": 500})
        settings = parse_settings(text, "reference.yaml", env={})
        self.origin.set_delay("spacewar", None, 0.0)
        self.origin.set_delay("spacedaily", None, 0.0)
        feeds: dict[str, list[str]] = {}
        try:
            async with runtime(settings, cpu=threads) as rt:
                for section in settings.sections():
                    report = await rt.scraper.refresh(section)
                    if not report.ok:
                        raise RuntimeError(f"the reference scrape failed: {report.errors}")
                await rt.cache.refresh(rt.store)
                for section in settings.sections():
                    rendered = rt.cache.get(section.key, "atom")
                    assert rendered is not None
                    feeds[section.key] = entry_links(rendered.identity_body())
        finally:
            self.origin.set_delay("spacewar", None, self.delay)
            self.origin.set_delay("spacedaily", None, self.delay)
        return read_known_keys(ref_dir / "feedsvc.db"), feeds

    async def check_feeds(self, expected: dict[str, list[str]]) -> list[str]:
        """Every section feed serves the articles a clean run serves, each once."""
        problems = []
        deadline = time.monotonic() + 30.0
        for section, links in expected.items():
            url = f"http://127.0.0.1:{self.port}/feeds/{section}.atom"
            while True:
                try:
                    served = entry_links(await asyncio.to_thread(_get, url))
                except OSError:
                    served = []
                if sorted(served) == sorted(links) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            if len(served) != len(set(served)):
                problems.append(f"{section}: an entry served twice")
            if set(served) != set(links):
                problems.append(f"{section}: feed serves {len(set(served))} articles, a clean run {len(set(links))}: "
                                f"missing {sorted(set(links) - set(served))[:2]}, extra {sorted(set(served) - set(links))[:2]}")
        return problems


def entry_links(atom: bytes) -> list[str]:
    import feedparser

    return [entry.link for entry in feedparser.parse(atom).entries]


def read_known_keys(db: Path) -> set[str]:
    """Every key that leads to a stored story: its own key, and its aliases."""
    if not db.exists():
        return set()
    with _connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        keys = {row[0] for row in conn.execute("SELECT key FROM stories")} if "stories" in tables else set()
        if "story_aliases" in tables:
            keys |= {row[0] for row in conn.execute("SELECT key FROM story_aliases")}
    return keys


def check_database(db: Path) -> list[str]:
    """Corruption, duplicates and half-written stories."""
    if not db.exists():
        return []
    problems = []
    with _connect(db) as conn:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"integrity_check: {integrity[:3]}")
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            problems.append("foreign_key_check found dangling rows")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "stories" not in tables:
            return problems  # killed before the first migration committed: nothing to lose yet
        queries = {
            "duplicate story key": "SELECT key FROM stories GROUP BY key HAVING COUNT(*) > 1",
            "duplicate story id": "SELECT id FROM stories GROUP BY id HAVING COUNT(*) > 1",
            "duplicate membership": "SELECT story_id FROM story_sections GROUP BY story_id, section_key HAVING COUNT(*) > 1",
            "story without content": "SELECT key FROM stories WHERE title = '' OR content_html = '' OR content_hash IS NULL OR content_hash = ''",
            "story without its section": "SELECT key FROM stories WHERE id NOT IN (SELECT story_id FROM story_sections)",
        }
        for what, query in queries.items():
            rows = conn.execute(query).fetchall()
            if rows:
                problems.append(f"{what}: {rows[:3]}")
    return problems


def read_stories(db: Path) -> dict[str, tuple[str, str]]:
    """key -> (id, content hash) of every committed story (a reader sees only commits)."""
    if not db.exists():
        return {}
    try:
        with _connect(db) as conn:
            return {key: (story_id, digest) for key, story_id, digest in conn.execute("SELECT key, id, content_hash FROM stories")}
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise


def count_stories(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with _connect(db) as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM stories").fetchone()
            return int(count)
    except sqlite3.OperationalError:  # not migrated yet
        return 0


@contextlib.contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        body: bytes = response.read()
        return body


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run(
    cycles: int, seed: int, delay: float, workdir: Path, *, echo: bool = True, plan: Sequence[Kill] = ()
) -> tuple[list[Cycle], list[str]]:
    """Run the kill-restart cycles (the first ones as ``plan`` says, the others at random)
    and the final clean run; (cycles, final problems)."""
    import shutil

    rng = random.Random(seed)
    tree = workdir / "origin"
    shutil.copytree(ORIGIN_TREE, tree)
    results: list[Cycle] = []
    async with Origin(tree) as origin:
        origin.set_delay("spacewar", None, delay)
        origin.set_delay("spacedaily", None, delay)
        test = CrashTest(origin, workdir, rng=rng, delay=delay)
        for number in range(1, cycles + 1):
            result = await test.cycle(number, plan[number - 1] if number <= len(plan) else None)
            results.append(result)
            if echo:
                mark = "ok" if not result.problems else "FAIL: " + "; ".join(result.problems)
                print(
                    f"cycle {number:2d}: killed at {result.kill:12s} {result.seconds:5.2f}s after start; "
                    f"{result.committed:3d} committed before, {result.stored:3d} after: {mark}",
                    flush=True,
                )
        with ThreadPoolExecutor(max_workers=2) as threads:
            final = await test.finish(threads)
    return results, final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.08, help="seconds the origin takes per request")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (the daemon's log is DIR/daemon.log)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"crash test: {args.cycles} kill -9 / restart cycles, seed {seed}, origin delay {args.delay}s", flush=True)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=False)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="feedsvc-crash-")))
        cycles, final = asyncio.run(run(args.cycles, seed, args.delay, workdir))
    failed = [c for c in cycles if c.problems]
    print(f"final run: {'ok' if not final else 'FAIL: ' + '; '.join(final)}")
    print(
        f"{len(cycles)} cycles, {len(failed)} with problems; {max((c.stored for c in cycles), default=0)} stories at most; "
        f"final run {'ok' if not final else 'FAILED'}; {time.monotonic() - started:.0f}s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": seed, "cycles": [c.__dict__ for c in cycles], "final": final}, indent=1))
    return 0 if not failed and not final else 1


if __name__ == "__main__":
    raise SystemExit(main())
