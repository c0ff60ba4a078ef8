"""Cost of the dedupe lookup per story at 1,000 and at 100,000 stored stories.

Usage::

    python bench/dedupe_lookup.py [--sizes 1000,100000] [--queries 400] [--postgres URL | --no-postgres]

The lookup is what ``save_article`` does for a story under a key the store does not
hold, before it writes anything: ``store.identity.place`` -- the alias and tombstone
checks, on PostgreSQL the advisory locks on the story's band keys, the candidate
query on ``story_bands``, reading the candidates' sketches and judging them.

Stored stories are synthetic wire-like texts (words drawn from a 30,000-word
vocabulary with a Zipf distribution, so frequent phrases recur as in real prose),
fingerprinted by ``feedsvc.dedupe.fingerprint`` and bulk-loaded into a migrated
store. The 1,000-story store holds the first 1,000 of the 100,000. Queries are the
same for every size: half are new stories (no copy stored), half are edited copies
of stored stories (a changed word per paragraph, an added sentence), which the
lookup must find. Each lookup runs in its own transaction, rolled back, so the
store keeps its size. After one warm-up pass, every query is run against every
size in turn (interleaved, so that load from other processes hits all sizes
alike) for ``--rounds`` passes; the figures are medians per lookup: wall time, and
the part of it spent executing statements in the database driver (the rest is
the event loop, the driver's thread or socket round trips, and judging candidates).

PostgreSQL runs when a server is reachable (``--postgres``, default
``$FEEDSVC_TEST_POSTGRES`` or postgresql://postgres@127.0.0.1:5432/test): a
database is created for each size and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from feedsvc.dedupe import Fingerprint, fingerprint  # noqa: E402
from feedsvc.models import Article  # noqa: E402
from feedsvc.pipeline import identity_of  # noqa: E402
from feedsvc.store import identity as identity_sql  # noqa: E402
from feedsvc.store import open_store  # noqa: E402
from feedsvc.store.story_rules import story_id_for  # noqa: E402

VOCABULARY = 30_000
ZIPF = 1.07
STAMP = "2019-04-25T12:00:00.000000Z"
DEFAULT_POSTGRES = os.environ.get("FEEDSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


# ---------------------------------------------------------------- synthetic stories


def _vocabulary() -> list[str]:
    syllables = ["ka", "ro", "mi", "ten", "sa", "vol", "de", "nu", "pra", "li", "gor", "be", "ta", "shi", "mon", "el"]
    words: list[str] = []
    size = 1
    while len(words) < VOCABULARY:
        for n in range(len(syllables) ** size):
            word, rest = "", n
            for _ in range(size):
                word, rest = word + syllables[rest % len(syllables)], rest // len(syllables)
            words.append(word)
            if len(words) == VOCABULARY:
                break
        size += 1
    return words


def story_text(seed: int) -> list[str]:
    """Paragraphs of one synthetic story (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    words = _WORDS
    ranks = np.searchsorted(_CUMULATIVE, rng.random(int(rng.integers(220, 460))), side="right")
    tokens = [words[min(int(r), VOCABULARY - 1)] for r in ranks]
    return [" ".join(tokens[i : i + 35]) + "." for i in range(0, len(tokens), 35)]


def edited_copy(paragraphs: list[str], seed: int) -> list[str]:
    """Another site's copy: one word changed per paragraph, an added closing sentence."""
    rng = np.random.default_rng(seed)
    out = []
    for paragraph in paragraphs:
        words = paragraph.split()
        words[int(rng.integers(len(words)))] = "changed"
        out.append(" ".join(words))
    return out + ["The agency added that more details would follow later this week."]


def html_of(paragraphs: list[str]) -> str:
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def fingerprint_of_seed(seed: int) -> Fingerprint:
    return fingerprint(html_of(story_text(seed)))


_WORDS = _vocabulary()
_CUMULATIVE = np.cumsum(1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF)
_CUMULATIVE /= _CUMULATIVE[-1]


# ---------------------------------------------------------------- loading a store


@dataclass(frozen=True)
class Stored:
    story_id: str
    key: str
    sketch: bytes
    bands: tuple[int, ...]


def stored_stories(count: int, pool: ProcessPoolExecutor) -> list[Stored]:
    started = time.perf_counter()
    prints = list(pool.map(fingerprint_of_seed, range(count), chunksize=500))
    print(f"  fingerprinted {count:,} stories in {time.perf_counter() - started:.1f} s", flush=True)
    out = []
    for seed, made in enumerate(prints):
        key = f"https://spacewar.com/reports/Story_{seed}_999.html"
        out.append(Stored(story_id_for(key), key, made.to_bytes(), tuple(sorted(set(made.bands)))))
    return out


def _story_row(item: Stored) -> tuple[object, ...]:
    url = item.key.replace("://", "://www.")
    return (item.story_id, item.key, url, "spacewar", "t", "s", "", "h", STAMP, STAMP, STAMP)


def load_sqlite(path: Path, items: Sequence[Stored]) -> None:
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO stories (id, key, url, site_id, title, summary, content_html, content_hash, published, updated,"
            " first_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (_story_row(item) for item in items),
        )
        db.executemany(
            "INSERT INTO story_fingerprints (seq, story_id, sketch, bands, live) VALUES (?,?,?,?,1)",
            ((seq, item.story_id, item.sketch, _packed(item.bands)) for seq, item in enumerate(items, start=1)),
        )
        db.executemany(
            "INSERT INTO story_bands (band, seq) VALUES (?,?)",
            ((band, seq) for seq, item in enumerate(items, start=1) for band in item.bands),
        )
    db.execute("ANALYZE")
    db.close()


async def load_postgres(url: str, items: Sequence[Stored]) -> None:
    conn = await asyncpg.connect(url)
    try:
        moment = datetime(2019, 4, 25, 12, 0, tzinfo=UTC)
        await conn.copy_records_to_table(
            "stories",
            records=[(*_story_row(item)[:8], moment, moment, moment) for item in items],
            columns=["id", "key", "url", "site_id", "title", "summary", "content_html", "content_hash", "published",
                     "updated", "first_seen"],
        )
        await conn.copy_records_to_table(
            "story_fingerprints",
            records=[(seq, item.story_id, item.sketch, _packed(item.bands), True) for seq, item in enumerate(items, start=1)],
            columns=["seq", "story_id", "sketch", "bands", "live"],
        )
        await conn.copy_records_to_table(
            "story_bands",
            records=[(band, seq) for seq, item in enumerate(items, start=1) for band in item.bands],
            columns=["band", "seq"],
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('story_fingerprints', 'seq'), $1)", len(items))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _packed(bands: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(bands)}q", *bands)


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Query:
    article: Article
    wording: Fingerprint
    copy_of: str | None  # the stored story it must be found to copy


def queries(count: int, stored: int) -> list[Query]:
    out = []
    for n in range(count):
        if n % 2:
            seed = (n * 7919) % min(stored, 1000)  # a story stored in every size
            paragraphs, copy_of = edited_copy(story_text(seed), n), story_id_for(f"https://spacewar.com/reports/Story_{seed}_999.html")
        else:
            paragraphs, copy_of = story_text(10_000_000 + n), None
        key = f"https://terradaily.com/reports/Query_{n}_999.html"
        article = Article(key=key, url=key, title=f"Query {n}", body_html=html_of(paragraphs))
        out.append(Query(article, fingerprint(article.body_html), copy_of))
    return out


class StatementClock:
    """Time spent in the database driver by the statements of one engine (cursor events)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.total = 0.0
        self._started = 0.0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, *_args: object) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args: object) -> None:
        self.total += time.perf_counter() - self._started


async def lookup(engine: AsyncEngine, clock: StatementClock, query: Query) -> tuple[float, float]:
    """One lookup in its own transaction, rolled back: (its duration, the part spent in statements)."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        clock.total = 0.0
        started = time.perf_counter()
        placed = await identity_sql.place(conn, query.article.key, "terradaily", identity_of(query.article, query.wording))
        elapsed, in_database = time.perf_counter() - started, clock.total
        await transaction.rollback()
    if placed.primary_id != query.copy_of:
        raise SystemExit(f"lookup of {query.article.key}: found {placed.primary_id}, expected {query.copy_of}")
    return elapsed, in_database


async def measure(
    engines: dict[int, AsyncEngine], asked: Sequence[Query], rounds: int
) -> dict[int, list[tuple[float, float]]]:
    """Every query against every size, interleaved (so load from elsewhere hits all sizes alike).

    The first round warms caches and is not counted.
    """
    timings: dict[int, list[tuple[float, float]]] = {size: [] for size in engines}
    clocks = {size: StatementClock(engine) for size, engine in engines.items()}
    sizes = sorted(engines)
    for round_ in range(rounds + 1):
        for n, query in enumerate(asked):
            # Which size goes first changes every other query and every round, so that neither
            # size always runs first on one kind of query (new stories, copies alternate).
            for size in sizes if (n // 2 + round_) % 2 else sizes[::-1]:
                measured = await lookup(engines[size], clocks[size], query)
                if round_:
                    timings[size].append(measured)
    return timings


def summary(name: str, size: int, timings: list[tuple[float, float]]) -> float:
    """Print the figures of one size; returns the median wall time per lookup in ms."""
    ms = sorted(elapsed * 1000 for elapsed, _ in timings)
    in_database = statistics.median(part * 1000 for _, part in timings)
    median = statistics.median(ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(
        f"  {name:<10} {size:>9,} stories: median {median:6.3f} ms per lookup (mean {statistics.fmean(ms):.3f},"
        f" p95 {p95:.3f}; in statements {in_database:.3f}; {len(ms)} lookups)",
        flush=True,
    )
    return median


async def run_sqlite(sizes: Sequence[int], items: Sequence[Stored], asked: Sequence[Query], rounds: int) -> dict[int, float]:
    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as folder:
        engines: dict[int, AsyncEngine] = {}
        try:
            for size in sizes:
                path = Path(folder) / f"store-{size}.db"
                store = open_store(f"sqlite:///{path}")
                await store.migrate()
                await store.close()
                started = time.perf_counter()
                load_sqlite(path, items[:size])
                print(f"  loaded {size:,} stories into SQLite in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
                engines[size] = create_async_engine(f"sqlite+aiosqlite:///{path}")
            timings = await measure(engines, asked, rounds)
            return {size: summary("SQLite", size, timings[size]) for size in sizes}
        finally:
            for engine in engines.values():
                await engine.dispose()


async def run_postgres(server: str, sizes: Sequence[int], items: Sequence[Stored], asked: Sequence[Query], rounds: int) -> dict[int, float]:
    base = make_url(server).set(drivername="postgresql")
    admin = await asyncpg.connect(base.render_as_string(hide_password=False), timeout=5)
    names: list[str] = []
    engines: dict[int, AsyncEngine] = {}
    try:
        for size in sizes:
            name = f"feedsvc_bench_{uuid.uuid4().hex[:12]}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            names.append(name)
            url = base.set(database=name).render_as_string(hide_password=False)
            store = open_store(url)
            await store.migrate()
            await store.close()
            started = time.perf_counter()
            await load_postgres(url, items[:size])
            print(f"  loaded {size:,} stories into PostgreSQL in {time.perf_counter() - started:.1f} s", flush=True)
            engines[size] = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
        timings = await measure(engines, asked, rounds)
        return {size: summary("PostgreSQL", size, timings[size]) for size in sizes}
    finally:
        for engine in engines.values():
            await engine.dispose()
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main_async(args: argparse.Namespace) -> int:
    sizes = sorted(int(size) for size in args.sizes.split(","))
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        items = stored_stories(max(sizes), pool)
    asked = queries(args.queries, max(sizes))
    print(f"{len(asked)} lookups per size ({sum(q.copy_of is not None for q in asked)} of them copies of stored stories)")
    backends = {"SQLite": await run_sqlite(sizes, items, asked, args.rounds)}
    if not args.no_postgres:
        try:
            backends["PostgreSQL"] = await run_postgres(args.postgres, sizes, items, asked, args.rounds)
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
            print(f"PostgreSQL skipped: {exc!r}")
    ok = True
    for name, results in backends.items():
        ratio = results[sizes[-1]] / results[sizes[0]]
        verdict = "within 2x" if ratio <= 2.0 else "MORE than 2x"
        ok = ok and ratio <= 2.0
        print(f"{name}: {sizes[-1]:,} vs {sizes[0]:,} stories: {ratio:.2f}x the median cost per lookup ({verdict})")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="measured passes over the queries (after one warm-up)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
