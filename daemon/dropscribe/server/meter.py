"""What the engine workers measure for /metrics: time the engine is busy, and how that time
compares with the audio it transcribed (the real-time factor: 0.1 means ten times faster than
the audio plays). Kept in a registry of the server's own, rendered with prometheus_client."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: Buckets of the real-time factor: a GPU at 0.01, the tiny model on a small CPU near 0.1 to
#: 0.3, an overloaded machine above 1.
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class _QueueDepth(Collector):
    def __init__(self, name: str, depth: Callable[[], int]) -> None:
        self._name = name
        self._depth = depth

    def collect(self) -> list[GaugeMetricFamily]:
        help_text = "Jobs handed to the engine workers and not yet taken by one."
        return [GaugeMetricFamily(self._name, help_text, value=self._depth())]


class EngineMeter:
    """Busy seconds, real-time factors and the workers' queue depth; thread-safe."""

    def __init__(self, prefix: str) -> None:
        self.registry = CollectorRegistry()
        self._busy = Counter(
            f"{prefix}engine_busy_seconds",
            "Seconds the engine workers spent transcribing (all workers added up).",
            registry=self.registry,
        )
        self._rtf = Histogram(
            f"{prefix}real_time_factor",
            "Engine time per second of audio, per engine run (batches: per batch).",
            buckets=RTF_BUCKETS,
            registry=self.registry,
        )
        self._prefix = prefix

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as the queue depth at each scrape."""
        self.registry.register(_QueueDepth(f"{self._prefix}queue_depth", depth))

    def ran(self, busy_seconds: float, audio_seconds: float) -> None:
        """Record one engine run: its wall time and the audio it covered (0: unknown)."""
        self._busy.inc(max(0.0, busy_seconds))
        if audio_seconds > 0:
            self._rtf.observe(max(0.0, busy_seconds) / audio_seconds)

    def exposition(self) -> str:
        """Return the metrics in the Prometheus text format."""
        return generate_latest(self.registry).decode()
