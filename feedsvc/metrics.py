"""Prometheus metrics of the write side: outbound fetches, scrape work, host health.

Nothing here is global: ``FetchMetrics`` is made per runtime (its ``observe`` is the
Fetcher's observer) and, with the collectors that read the pipeline's
``ScrapeCounters`` and the Fetcher's host states at scrape time, registered on the
web app's ``CollectorRegistry`` by ``register_metrics``. The read side's metrics
(feed renders, HTTP requests by route and status) are registered by ``feedsvc.web``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feedsvc.fetch import HostState

FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HOST_STATES = ("ok", "failing", "paused", "probing")


class ScrapeCounts(Protocol):
    """What the collector reads of the pipeline's ``ScrapeCounters`` (not imported: only
    the composition imports the pipeline)."""

    @property
    def section_runs(self) -> int: ...
    @property
    def section_failures(self) -> int: ...
    @property
    def section_parses(self) -> int: ...
    @property
    def section_not_modified(self) -> int: ...
    @property
    def article_fetches(self) -> int: ...
    @property
    def article_failures(self) -> int: ...
    @property
    def extractions(self) -> int: ...
    @property
    def extraction_failures(self) -> int: ...
    @property
    def stories_created(self) -> int: ...
    @property
    def stories_changed(self) -> int: ...
    @property
    def store_writes(self) -> int: ...


class FetchMetrics:
    """Outbound requests by host and outcome, and their durations."""

    def __init__(self) -> None:
        self.fetches = Counter(
            "feedsvc_fetches",
            "Outbound requests by host and outcome (HTTP status, or timeout, connect_error, bad_response, body_error, too_large)",
            ["host", "status"],
            registry=None,
        )
        self.durations = Histogram(
            "feedsvc_fetch_duration_seconds",
            "Duration of outbound requests, by host",
            ["host"],
            buckets=FETCH_BUCKETS,
            registry=None,
        )

    def observe(self, host: str, status: str, seconds: float) -> None:
        """The Fetcher's observer: one call per request."""
        self.fetches.labels(host, status).inc()
        self.durations.labels(host).observe(max(seconds, 0.0))


class ScrapeCollector(Collector):
    """Reads the pipeline's counters at scrape time."""

    def __init__(self, counters: ScrapeCounts) -> None:
        self._counters = counters

    def collect(self) -> Iterable[Metric]:
        c = self._counters
        runs = CounterMetricFamily("feedsvc_section_runs", "Section refreshes, by result", labels=["result"])
        runs.add_metric(["ok"], c.section_runs - c.section_failures)
        runs.add_metric(["failed"], c.section_failures)
        yield runs
        pages = CounterMetricFamily("feedsvc_section_pages", "Section pages fetched, by result", labels=["result"])
        pages.add_metric(["parsed"], c.section_parses)
        pages.add_metric(["not_modified"], c.section_not_modified)
        yield pages
        yield CounterMetricFamily("feedsvc_article_fetches", "Article pages fetched", value=c.article_fetches)
        yield CounterMetricFamily(
            "feedsvc_article_failures", "Articles that could not be taken (fetch or extraction failed)", value=c.article_failures
        )
        yield CounterMetricFamily("feedsvc_extractions", "Pages extracted", value=c.extractions)
        yield CounterMetricFamily(
            "feedsvc_extraction_failures", "Pages that yielded no article, or on which extraction failed", value=c.extraction_failures
        )
        stored = CounterMetricFamily("feedsvc_stories_stored", "Stories stored, new or corrected", labels=["kind"])
        stored.add_metric(["new"], c.stories_created)
        stored.add_metric(["changed"], c.stories_changed)
        yield stored
        yield CounterMetricFamily("feedsvc_store_writes", "Write transactions of the scrape path", value=c.store_writes)


class StatementCollector(Collector):
    """SQL statements the store has sent, by verb and table written (reads have table "")."""

    def __init__(self, statements: Mapping[tuple[str, str], int]) -> None:
        self._statements = statements

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "feedsvc_store_statements", "SQL statements sent to the store, by verb and table written", labels=["verb", "table"]
        )
        for (verb, table), count in sorted(self._statements.items()):
            family.add_metric([verb, table], count)
        yield family


class HostCollector(Collector):
    """The circuit breaker of each host asked so far."""

    def __init__(self, hosts: Callable[[], Mapping[str, HostState]]) -> None:
        self._hosts = hosts

    def collect(self) -> Iterable[Metric]:
        states = GaugeMetricFamily("feedsvc_host_state", "1 for the current state of each host's circuit breaker", labels=["host", "state"])
        failures = GaugeMetricFamily("feedsvc_host_consecutive_failures", "Failed requests in a row, by host", labels=["host"])
        for host, state in self._hosts().items():
            for name in HOST_STATES:
                states.add_metric([host, name], 1.0 if state.state == name else 0.0)
            failures.add_metric([host], state.consecutive_failures)
        yield states
        yield failures


def register_metrics(
    registry: CollectorRegistry,
    *,
    fetch: FetchMetrics,
    counters: ScrapeCounts,
    hosts: Callable[[], Mapping[str, HostState]],
    statements: Mapping[tuple[str, str], int] | None = None,
) -> None:
    """Put the write side's metrics on the app's registry (once per registry)."""
    registry.register(fetch.fetches)
    registry.register(fetch.durations)
    registry.register(ScrapeCollector(counters))
    registry.register(HostCollector(hosts))
    if statements is not None:
        registry.register(StatementCollector(statements))
