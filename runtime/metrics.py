"""/metrics: Prometheus text. One registry per application (tests run several in a process).

Handlers record after the answer is written (on_finish, or after the frame is sent), so
counting never delays a player.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PCounter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from .connections import Connections
    from .history import Feed, FeedStatus

log = logging.getLogger(__name__)

disable_created_metrics()  # the *_created series double the output and nobody reads them

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _StoreCalls(Collector):
    """The gateway's store round trips, read from its plain Counter at scrape time."""

    def __init__(self, calls: Counter[str]) -> None:
        self._calls = calls

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "rulesc_store_calls", "Store round trips made by the gateway", labels=["op"]
        )
        for op, n in sorted(self._calls.items()):
            family.add_metric([op], n)
        yield family


class _Counts(Collector):
    """A counter kept in a plain Counter (its label values, or the one value, -> n) and
    read at scrape time: nothing to look up or lock on the paths that count."""

    def __init__(self, name: str, doc: str, labels: list[str], counts: Counter[Any]) -> None:
        self._name, self._doc, self._labels, self._counts = name, doc, labels, counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._doc, labels=self._labels)
        for key, n in sorted(self._counts.items()):
            family.add_metric(list(key) if isinstance(key, tuple) else [key], n)
        yield family


class _Connections(Collector):
    """The client connections a process holds and refuses (runtime/connections.py)."""

    def __init__(self, connections: Connections) -> None:
        self._c = connections

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rulesc_client_connections",
            "Open client connections (HTTP and WebSocket)",
            value=self._c.open,
        )
        refused = CounterMetricFamily(
            "rulesc_connections_refused",
            "Connections answered 503 over a cap, by cap",
            labels=["reason"],
        )
        for reason in ("max_connections", "max_connections_per_address"):
            refused.add_metric([reason], self._c.refused[reason])
        yield refused
        yield CounterMetricFamily(
            "rulesc_accept_pauses",
            "Times accepting paused at the open-file limit",
            value=self._c.accept_pauses,
        )


class _Packs(Collector):
    """Rule packs this process holds imported, and the pack folders in the data directory
    (runtime/packdir.py), read at scrape time. Both stay bounded however many swaps come:
    a count that keeps growing is a leak."""

    def __init__(self, loaded: Callable[[], int], folders: Callable[[], int]) -> None:
        self._loaded, self._folders = loaded, folders

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rulesc_packs_loaded",
            "Rule pack modules imported in this process (serving, or held by requests in flight)",
            value=self._loaded(),
        )
        yield GaugeMetricFamily(
            "rulesc_pack_folders",
            "Pack folders in DATA_DIR/packs (serving, and kept for a rollback)",
            value=self._folders(),
        )


class _Histogram(Collector):
    """A latency histogram by one or more labels, kept in plain lists and read at scrape
    time: an observation is a bisect and two additions (prometheus_client's takes a lock
    and several calls; every WebSocket frame and HTTP request makes one)."""

    def __init__(self, name: str, doc: str, labels: list[str]) -> None:
        self._name, self._doc, self._labels = name, doc, labels
        self._series: dict[tuple[str, ...], list[float]] = {}  # counts per bucket, then the sum

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(_BUCKETS) + 2)
        series[bisect.bisect_left(_BUCKETS, seconds)] += 1  # the last slot is +Inf
        series[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labels)
        for labels, series in sorted(self._series.items()):
            cumulative, buckets = 0.0, []
            for le, n in zip((*_BUCKETS, float("inf")), series[:-1], strict=True):
                cumulative += n
                buckets.append((floatToGoString(le), cumulative))
            family.add_metric(list(labels), buckets, series[-1])
        yield family


class _History(Collector):
    """The history sink's lag (runtime/history.py), read from the store's feed when
    /metrics is asked (Metrics.refresh): the drainer runs in a process of its own."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.status: FeedStatus | None = None  # the last read (kept when the store is down)
        self.read_at = 0.0

    def collect(self) -> Iterator[Metric]:
        s = self.status
        if s is None:
            return
        yield GaugeMetricFamily(
            "rulesc_history_waiting",
            "Commits in the store's history feed not yet written to the history database",
            value=s.waiting,
        )
        yield GaugeMetricFamily(
            "rulesc_history_behind_seconds",
            "Age of the oldest commit not yet written to the history database",
            value=s.behind(self.read_at),
        )
        yield CounterMetricFamily(
            "rulesc_history_entries_written",
            "Ledger entries the history drainers wrote to the history database (all "
            "processes: kept in the store)",
            value=s.written,
        )
        yield CounterMetricFamily(
            "rulesc_history_failures",
            "History writes or feed reads that failed (retried; all processes)",
            value=s.failures,
        )


class Metrics:
    def __init__(
        self, store_calls: Counter[str], pack_faults: Counter[tuple[str, str]] | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self._history: _History | None = None
        r = self.registry
        # actions answered, by (game, action, outcome): a plain Counter read at scrape time
        # (a labelled prometheus counter costs a lookup and a lock per action)
        self.actions: Counter[tuple[str, str, str]] = Counter()
        self.requests = _Histogram(
            "rulesc_request_seconds",
            "HTTP request latency, by route and status",
            ["route", "status"],
        )
        self.frames = _Histogram(
            "rulesc_ws_frame_seconds", "WebSocket frame handling latency, by frame type", ["type"]
        )
        r.register(self.requests)
        r.register(self.frames)
        self.connections = Gauge(
            "rulesc_open_connections", "Open WebSocket connections", ["game"], registry=r
        )
        self.store_errors = PCounter(
            "rulesc_store_errors",
            "Calls answered 503 because the store was unavailable",
            registry=r,
        )
        # frames pushed, by type: a plain Counter read at scrape time (every push adds one)
        self.pushes: Counter[str] = Counter()
        self.slow_closes = PCounter(
            "rulesc_ws_slow_closes",
            "WebSocket connections closed because the client did not read what was sent to it",
            registry=r,
        )
        r.register(_StoreCalls(store_calls))
        r.register(
            _Counts(
                "rulesc_actions",
                "Actions answered, by game, action and outcome",
                ["game", "action", "outcome"],
                self.actions,
            )
        )
        # pack faults contained (runtime/engine.py PackFault), by (game, where): kept by the
        # gateway, which meets them
        self.pack_faults: Counter[tuple[str, str]] = (
            pack_faults if pack_faults is not None else Counter()
        )
        r.register(
            _Counts(
                "rulesc_pack_faults",
                "Faults inside a rule pack's code, contained (by game, and where: action, "
                "grant, hook, delivery, read, migrate)",
                ["game", "where"],
                self.pack_faults,
            )
        )
        r.register(
            _Counts(
                "rulesc_push_frames",
                "Frames pushed to WebSocket connections",
                ["type"],
                self.pushes,
            )
        )

    def count_connections(self, connections: Connections) -> None:
        self.registry.register(_Connections(connections))

    def count_packs(self, loaded: Callable[[], int], folders: Callable[[], int]) -> None:
        self.registry.register(_Packs(loaded, folders))

    def watch_history(self, feed: Feed) -> None:
        self._history = _History(feed)
        self.registry.register(self._history)

    async def refresh(self) -> None:
        """Read what is kept outside this process (the history feed's status)."""
        h = self._history
        if h is not None:
            try:
                h.status = await h.feed.status()
                h.read_at = time.time()
            except Exception as e:  # the store is down: /metrics still answers
                log.warning("metrics: history feed status: %s", e)

    def count_results(
        self, game: str, known_actions: object, names: list[str], results: list[dict]
    ) -> None:
        for name, result in zip(names, results, strict=False):
            if result.get("replayed"):
                outcome = "replayed"
            elif result["status"] == "ok":
                outcome = "ok"
            else:
                outcome = result["error"]["code"]
            # unknown names come from clients: one label value for all, not one each
            label = name if name in known_actions else "(unknown)"  # type: ignore[operator]
            self.actions[(game, label, outcome)] += 1

    def frame_seconds(self, kind: str, seconds: float) -> None:
        self.frames.observe((kind,), seconds)

    def pushed(self, kind: str) -> None:
        self.pushes[kind] += 1

    def request_seconds(self, route: str, status: str, seconds: float) -> None:
        self.requests.observe((route, status), seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
