"""Points 3, 4 (both cores) and 5 on the fixture origin, grown with synthetic sections.

1. ``feedsvc scrape`` fills the store with the fixture origin's own sections.
2. ``feedsvc run`` starts on the fixture sections plus synthetic ones whose
   section pages the origin holds back. Paced GETs of a fixture feed (the
   Python client, recording every request's time and latency: wrk reports a
   whole run only) measure the idle latency while the held refreshes pile up;
   then the origin lets them all through at once: a full scrape at full speed
   (every synthetic article fetched, extracted in the CPU pool, stored, feeds
   re-rendered) while the same GETs go on. The p99 of the requests sent during
   the scrape is compared with the p99 of those sent idle (before and after).
   The CPU time of the service and of each pool worker over the scrape shows
   whether both cores worked.
3. The service is restarted with every section due: its first pass is a
   refresh of an unchanged origin. Its counters (``/metrics``) and the
   origin's request log give the work it did.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.daemon import Daemon, free_port, metric_sum, site_config, write_config
from bench.fixture_origin import GatedOrigin, HOSTS, build_scaled_tree, fixture_sections, manifest
from bench.loadgen import Latencies, LatencyRecorder, latencies_between
from bench.report import Figure, Report

# Written on every refresh to coordinate replicas, not content: the run record and the lease.
BOOKKEEPING_TABLES = frozenset({"section_runs", "section_leases"})
UNCHANGED_EVERY = 5.0  # seconds: the refresh interval of the unchanged pass
# Requests in flight per host (the default config has 1, with 2 s between requests): a scrape
# at full speed, politeness off, so that its work on the service's event loop is at its most.
SCRAPE_CONCURRENCY = 4


@dataclass(frozen=True)
class ScrapePlan:
    sections_per_site: int  # synthetic sections added to each fixture site
    articles_per_section: int
    idle_seconds: float  # at least, before the scrape (more while the held refreshes pile up), and after
    connections: int = 4
    delay_ms: float = 10.0  # pause after each answer, per connection: a paced load, not a flood


QUICK = ScrapePlan(sections_per_site=2, articles_per_section=50, idle_seconds=4.0)
FULL = ScrapePlan(sections_per_site=5, articles_per_section=60, idle_seconds=15.0)


async def run(report: Report, work: Path, plan: ScrapePlan, log: Callable[[str], None]) -> None:
    synthetic = build_scaled_tree(work / "origin", sections_per_site=plan.sections_per_site,
                                  articles_per_section=plan.articles_per_section)
    origin = GatedOrigin(work / "origin")
    await origin.start()
    daemon: Daemon | None = None
    try:
        fixtures = fixture_sections()
        site_titles = {s: d["title"] for s, d in manifest()["sites"].items()}
        db = f"sqlite:///{work / 'scrape.db'}"

        def sites(with_synthetic: bool, every: float = 3600.0) -> list[dict[str, object]]:
            out = []
            for site in HOSTS:
                sections = [(s["id"], s["title"], origin.url(site, s["path"]), every) for s in fixtures if s["site"] == site]
                if with_synthetic:
                    sections += [(s.id, s.title, origin.url(site, s.path), every) for s in synthetic if s.site == site]
                out.append(site_config(site, site_titles[site], origin.base_url(site), sections))
            return out

        port = free_port()
        prefill_dir = work / "prefill"
        prefill_dir.mkdir()
        prefill = write_config(prefill_dir, storage=db, port=port, sites=sites(False))
        await _scrape_once(prefill)
        log("store filled with the fixture sections (feedsvc scrape)")

        concurrency = SCRAPE_CONCURRENCY
        config = write_config(work, storage=db, port=port, sites=sites(True), per_host_concurrency=concurrency)
        origin.gated = {(s.site, s.path) for s in synthetic}
        origin.gate.clear()
        profile = Path(os.environ["FEEDSVC_BENCH_PROFILE"]) if os.environ.get("FEEDSVC_BENCH_PROFILE") else None
        daemon = Daemon(config, port, profile=profile)
        await daemon.start()
        await daemon.wait_ready()
        feed = "/feeds/spacewar/nukewars.atom"
        recorder = LatencyRecorder(daemon.base + feed, connections=plan.connections, delay_ms=plan.delay_ms,
                                   headers={"Accept-Encoding": "gzip"})
        await recorder.start()
        await asyncio.sleep(1.0)  # the client connects and warms up
        idle_start = time.monotonic()
        await asyncio.sleep(plan.idle_seconds)
        # Each held section page takes one of its host's request slots: the rest wait for a slot.
        held = min(len(synthetic), concurrency * len(HOSTS))
        deadline = time.monotonic() + 60
        while origin.waiting < held and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if origin.waiting < held:
            await recorder.stop()
            raise RuntimeError(f"only {origin.waiting} of {held} held section refreshes arrived")

        expected = sum(len(s.articles) for s in synthetic)
        before = await daemon.metrics()
        cpu_before = daemon.cpu_seconds()
        scrape_started = time.monotonic()
        origin.gate.set()
        finished = asyncio.Event()
        scrape_end: list[float] = []
        await _watch_scrape(daemon, before, expected, len(synthetic), finished, scrape_end)
        cpu_after = daemon.cpu_seconds()
        after = await daemon.metrics()
        await asyncio.sleep(plan.idle_seconds + 1.0)
        records = await recorder.stop()
        idle_end = time.monotonic()
        scrape_seconds = scrape_end[0] - scrape_started
        idle = [r for r in records if idle_start <= r[0] < scrape_started or scrape_end[0] + 1.0 <= r[0] < idle_end]
        _stall_figures(report, idle, latencies_between(records, scrape_started, scrape_end[0]), scrape_seconds, plan)
        _core_figures(report, daemon, cpu_before, cpu_after, scrape_seconds, before, after)
        log(f"full scrape of {expected} articles in {scrape_seconds:.1f}s")

        await daemon.stop()
        daemon = None
        # Sections due every few seconds: a replica skips a section refreshed less than an
        # interval ago (feedsvc.leasing), and this pass must refresh every one of them.
        again = write_config(work / "prefill", storage=db, port=port, sites=sites(True, every=UNCHANGED_EVERY),
                             per_host_concurrency=concurrency)
        await _unchanged_restart(report, again, port, origin, synthetic_count=len(synthetic), log=log)
    finally:
        origin.gate.set()  # nothing left waiting at the origin
        if daemon is not None:
            await daemon.stop()
        await origin.stop()


async def _scrape_once(config: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", "--log-level", "WARNING", "scrape", "--config", str(config),
        cwd=str(config.parent), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    if process.returncode != 0:
        raise RuntimeError(f"feedsvc scrape failed ({process.returncode}): {out.decode(errors='replace')[-2000:]}")


async def _watch_scrape(daemon: Daemon, before: dict[str, float], expected: int, sections: int,
                        finished: asyncio.Event, end: list[float]) -> None:
    """Set ``finished`` once every expected article is extracted, every held section's refresh
    has ended (its articles stored: a copy stored as another story's alias moves no story
    counter) and the feeds stopped re-rendering; ``end`` gets the time of the poll that first
    saw the last change (an upper bound)."""
    names = ("feedsvc_extractions_total", "feedsvc_section_runs_total", "feedsvc_feed_renders_total",
             "feedsvc_stories_stored_total")
    last = tuple(metric_sum(before, n) for n in names)
    base = last
    changed_at = time.monotonic()
    deadline = changed_at + 600
    while time.monotonic() < deadline:
        samples = await daemon.metrics()
        now = time.monotonic()
        values = tuple(metric_sum(samples, n) for n in names)
        if values != last:
            last, changed_at = values, now
        done = values[0] - base[0] >= expected and values[1] - base[1] >= sections
        if done and now - changed_at >= 1.5:
            break
        await asyncio.sleep(0.2)
    end.append(changed_at)
    finished.set()


def _stall_figures(report: Report, idle_records: list[tuple[float, float, int]], busy: Latencies,
                   scrape_seconds: float, plan: ScrapePlan) -> None:
    idle = latencies_between(idle_records, 0.0, float("inf"))
    errors = idle.errors + busy.errors
    figure = report.add(Figure(
        "3", "p99 feed GET latency during a full scrape", busy.p99_ms, "ms", idle.p99_ms, "idle, same run", "<= 2x", None,
        f"paced GETs of a feed ({plan.connections} connections, {plan.delay_ms:g} ms pause, Python client recording "
        f"each request); {busy.requests:,} requests during the {scrape_seconds:.1f}s scrape, {idle.requests:,} idle "
        f"({plan.idle_seconds:g}s before and after); p50 {busy.p50_ms:.2f} vs {idle.p50_ms:.2f} ms; max {busy.max_ms:.0f} "
        f"vs {idle.max_ms:.0f} ms" + (f"; {errors} errors" if errors else "")))
    figure.met = figure.ratio is not None and figure.ratio <= 2.0 and errors == 0
    report.details["latency"] = {"idle": idle.__dict__, "scrape": busy.__dict__}


def _core_figures(report: Report, daemon: Daemon, before: dict[int, float], after: dict[int, float], seconds: float,
                  metrics_before: dict[str, float], metrics_after: dict[str, float]) -> None:
    used = {pid: after.get(pid, 0.0) - before.get(pid, 0.0) for pid in after}
    main = used.pop(daemon.pid, 0.0)
    workers = sorted((w for w in used.values() if w > 0.05), reverse=True)
    pool = sum(workers)
    shares = [w / pool for w in workers] if pool else []
    both = len(workers) >= 2 and min(shares[:2]) >= 0.25
    extracted = metric_sum(metrics_after, "feedsvc_extractions_total") - metric_sum(metrics_before, "feedsvc_extractions_total")
    report.add(Figure(
        "4", "full scrape: pool work on each core (smaller share)", min(shares[:2]) if len(shares) >= 2 else 0.0, "",
        target="both workers >= 25%", met=both,
        note=f"{extracted:.0f} pages extracted in {seconds:.1f}s; CPU s over the scrape: pool workers "
        + ", ".join(f"{w:.1f}" for w in workers[:4]) + f"; service process {main:.1f} "
        f"({main / extracted * 1000 if extracted else 0:.0f} ms per page: fetch, store, dedupe); "
        f"all processes {(main + pool) / seconds if seconds else 0:.2f} cores on average"))


async def _unchanged_restart(report: Report, config: Path, port: int, origin: GatedOrigin, *, synthetic_count: int,
                             log: Callable[[str], None]) -> None:
    sections = len(fixture_sections()) + synthetic_count
    section_pages = {(s["site"], s["path"]) for s in fixture_sections()} | set(origin.gated)
    section_paths = {p for _, p in section_pages}
    origin.clear_log()
    origin.gate.set()
    daemon = Daemon(config, port)
    await daemon.start()
    try:
        ready = await daemon.wait_ready()
        before = await daemon.metrics()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len({(r.site, r.path) for r in origin.log if (r.site, r.path) in section_pages}) >= sections:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(6.0)  # one more pass of the feed cache's version poll
        after = await daemon.metrics()
    finally:
        await daemon.stop()
    requests = list(origin.log)
    section_requests = [r for r in requests if r.path in section_paths]
    conditional = [r for r in section_requests
                   if r.status == 304 and ("If-None-Match" in r.headers or "If-Modified-Since" in r.headers)]
    others = [r for r in requests if r.path not in section_paths and r.path != "/robots.txt"]
    robots = [r for r in requests if r.path == "/robots.txt"]
    parses = metric_sum(after, "feedsvc_section_pages_total", result="parsed")
    fetches = metric_sum(after, "feedsvc_article_fetches_total")
    extractions = metric_sum(after, "feedsvc_extractions_total")
    scrape_writes = metric_sum(after, "feedsvc_store_writes_total")
    re_renders = metric_sum(after, "feedsvc_feed_renders_total") - metric_sum(before, "feedsvc_feed_renders_total")
    written: dict[str, float] = {}
    for key, value in after.items():
        if key.startswith("feedsvc_store_statements_total{") and 'verb="SELECT"' not in key and 'verb="BEGIN"' not in key:
            table = key.split('table="', 1)[1].split('"', 1)[0] if 'table="' in key else ""
            if table:
                written[table] = written.get(table, 0.0) + value
    content_writes = sum(v for t, v in written.items() if t not in BOOKKEEPING_TABLES)
    bookkeeping = {t: int(v) for t, v in written.items() if t in BOOKKEEPING_TABLES}
    log(f"unchanged refresh: {len(section_requests)} section requests, {len(conditional)} answered 304; "
        f"{len(others)} other requests; writes {written}")
    report.add(Figure("5", "unchanged refresh: article fetches", len(others) + fetches, "", target="== 0",
                      met=not others and fetches == 0 and len(conditional) == len(section_requests) > 0,
                      note=f"{len(section_requests)} section page requests for {sections} sections (due every "
                      f"{UNCHANGED_EVERY:g}s), {len(conditional)} "
                      f"conditional and answered 304; {len(others)} other requests at the origin (robots.txt: {len(robots)}, "
                      f"once per host per process start)"))
    report.add(Figure("5", "unchanged refresh: section-page parses", parses, "", target="== 0", met=parses == 0))
    report.add(Figure("5", "unchanged refresh: extractions", extractions, "", target="== 0", met=extractions == 0))
    report.add(Figure("5", "unchanged refresh: feed re-renders", re_renders, "", target="== 0", met=re_renders == 0,
                      note="renders counted after start-up (start-up renders or loads every feed once)"))
    report.add(Figure("5", "unchanged refresh: store writes (stories, feeds)", scrape_writes + content_writes, "",
                      target="== 0", met=scrape_writes + content_writes == 0,
                      note=f"SQL INSERT/UPDATE/DELETE by table: {bookkeeping or 'none'} - the run record and the "
                      "section lease, which let several replicas take turns; nothing else"))
    report.details["unchanged_refresh"] = {"ready_s": ready, "writes_by_table": written,
                                           "section_requests": len(section_requests), "conditional_304": len(conditional)}
