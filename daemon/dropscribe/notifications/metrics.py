"""The daemon's Prometheus metrics, served at ``/metrics`` on ``metrics.listen``.

Counters and the duration histogram are kept in memory and start at zero with each run (as
Prometheus expects of counters); the gauges are read at each scrape from where the truth
lives: jobs per state from the state file (so they are right after a restart), the auth pause
from the daemon, the inbox from the folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: Buckets of the claim-to-publish time (seconds): from a short clip on a fast service to a
#: long recording in a queue.
DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
#: The outcome labels of dropscribe_jobs_total.
OUTCOMES = ("published", "failed", "duplicate", "incomplete")


class _Gauges(Collector):
    """The gauges read at scrape time."""

    def __init__(
        self,
        jobs: Callable[[], Mapping[str, int]],
        auth_paused: Callable[[], bool],
        inbox_pending: Callable[[], int],
    ) -> None:
        self._jobs = jobs
        self._auth_paused = auth_paused
        self._inbox_pending = inbox_pending

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "dropscribe_jobs", "Jobs in the state file, per state.", labels=["state"]
        )
        for state, count in self._jobs().items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "dropscribe_auth_paused",
            "1 while all work waits because the service refuses the API key.",
            value=1 if self._auth_paused() else 0,
        )
        yield GaugeMetricFamily(
            "dropscribe_inbox_pending",
            "Recordings in the inbox not yet claimed.",
            value=self._inbox_pending(),
        )


class DaemonMetrics:
    """The daemon's metrics, in a registry of their own; safe to update from any thread."""

    def __init__(
        self,
        jobs: Callable[[], Mapping[str, int]],
        auth_paused: Callable[[], bool],
        inbox_pending: Callable[[], int],
        info: Mapping[str, str],
    ) -> None:
        """``jobs`` returns the jobs per state, ``auth_paused`` whether work waits for the
        key, ``inbox_pending`` how many recordings wait in the inbox; ``info`` labels
        dropscribe_info (version, backend)."""
        self.registry = CollectorRegistry()
        self.registry.register(_Gauges(jobs, auth_paused, inbox_pending))
        self._jobs_total = Counter(
            "dropscribe_jobs", "Jobs that ended, per outcome.", ["outcome"], registry=self.registry
        )
        for outcome in OUTCOMES:
            self._jobs_total.labels(outcome)
        self._duration = Histogram(
            "dropscribe_job_duration_seconds",
            "Time from a recording's claim to its published transcript.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._api = Counter(
            "dropscribe_api_requests",
            "Requests to the transcription service, per step and HTTP status (none: no answer).",
            ["step", "code"],
            registry=self.registry,
        )
        self._deliveries = Counter(
            "dropscribe_webhook_deliveries",
            "Attempts at webhook and message deliveries, per outcome.",
            ["outcome"],
            registry=self.registry,
        )
        Info("dropscribe", "The running dropscribe.", registry=self.registry).info(dict(info))

    def job_ended(self, outcome: str) -> None:
        """Count a job outcome (one of OUTCOMES)."""
        self._jobs_total.labels(outcome).inc()

    def job_published(self, seconds: float) -> None:
        """Observe a job's time from claim to publish."""
        self._duration.observe(max(0.0, seconds))

    def api_response(self, step: str, code: int | None) -> None:
        """Count one request to the service (code None: no answer came)."""
        self._api.labels(step, "none" if code is None else str(code)).inc()

    def delivery(self, outcome: str) -> None:
        """Count one delivery attempt by its outcome."""
        self._deliveries.labels(outcome).inc()

    def serve(self, host: str, port: int) -> MetricsServer:
        """Start serving /metrics on ``host:port`` in a thread; return the running server.
        Raise OSError if the address cannot be bound."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return MetricsServer(server)


class MetricsServer:
    """The HTTP server of /metrics, running in its own thread."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        """Return the port it listens on."""
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
