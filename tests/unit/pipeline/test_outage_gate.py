"""The outage pause: pure decisions, and the gate's pause, single probe and resumption."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.testing import capture_logs

from dropscribe.config import Retry
from dropscribe.core import errors
from dropscribe.pipeline.gates.outage import (
    PARK_AFTER_PROBE_SECONDS,
    OutageRule,
    ServiceGate,
    counts_as_outage,
    is_outage,
)
from dropscribe.pipeline.gates.pause import ProbeTiming, probe_wait

TIMING = ProbeTiming(first_seconds=5.0, max_seconds=60.0)
RULE = OutageRule(min_failures=4, min_seconds=10.0)
DOWN = errors.TransientApiError("put: HTTP 503", status=503)


@dataclass
class Harness:
    now: list[float] = field(default_factory=lambda: [1000.0])
    holds: list[float] = field(default_factory=list)
    records: list[tuple[float | None, float | None]] = field(default_factory=list)

    def gate(self, timing: ProbeTiming = TIMING) -> ServiceGate:
        return ServiceGate(
            self.holds.append,
            structlog.get_logger(),
            lambda: self.now[0],
            timing,
            lambda since, due: self.records.append((since, due)),
        )


def paused_gate(h: Harness, timing: ProbeTiming = TIMING) -> ServiceGate:
    """A gate paused by four failures in a row over 12 s; the clock stands at the pause."""
    gate = h.gate(timing)
    for n in range(4):
        gate.failed(f"job{n}", DOWN)
        h.now[0] += 4.0
    h.now[0] -= 4.0
    assert gate.paused()
    return gate


def events(logs: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [entry["event"] for entry in logs]


def test_is_outage_four_failures_in_a_row_over_ten_seconds_is_an_outage() -> None:
    assert is_outage(RULE, 4, 10.0)


def test_is_outage_failures_short_of_a_burst_within_seconds_are_no_outage() -> None:
    assert not is_outage(RULE, 19, 9.9)


def test_is_outage_three_failures_in_a_row_over_a_minute_are_too_few() -> None:
    assert not is_outage(RULE, 3, 60.0)


def test_is_outage_a_burst_of_twenty_failures_in_a_row_is_one_at_once() -> None:
    assert not is_outage(RULE, 19, 0.5)
    assert is_outage(RULE, 20, 0.5)


def test_probe_wait_doubles_up_to_the_cap() -> None:
    assert [probe_wait(TIMING, n) for n in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_probe_wait_huge_count_is_the_cap() -> None:
    assert probe_wait(TIMING, 10_000) == 60.0


def test_counts_as_outage_expired_url_and_permanent_errors_do_not() -> None:
    assert counts_as_outage(DOWN)
    assert not counts_as_outage(errors.UploadUrlExpired("403 on PUT"))
    assert not counts_as_outage(errors.PermanentApiError("422", status=422))
    assert not counts_as_outage(errors.AuthError("401", status=401))


def test_service_gate_failures_in_a_row_pause_once_after_ten_seconds() -> None:
    h = Harness()
    gate = h.gate()
    told = []
    with capture_logs() as logs:
        for n in range(8):
            told.append(gate.failed(f"job{n}", DOWN))
            h.now[0] += 2.0
    # Failures at 0, 2, ... 14 s: the one at 10 s is the first of an outage.
    assert told == [False] * 5 + [True] * 3
    assert events(logs) == ["service.unavailable"]
    assert (logs[0]["failures_in_a_row"], logs[0]["failing_seconds"]) == (6, 10.0)
    assert h.holds == [5.0]
    assert h.records == [(1010.0, 1015.0)]


def test_service_gate_a_call_that_goes_through_starts_the_count_again() -> None:
    h = Harness()
    gate = h.gate()
    for n in range(6):  # failing from 0 s to 7.5 s
        gate.failed(f"job{n}", DOWN)
        h.now[0] += 1.5
    gate.succeeded("ok")  # at 9 s
    told = []
    for n in range(6):  # failing again from 9 s to 16.5 s: only 7.5 s of it
        told.append(gate.failed(f"again{n}", DOWN))
        h.now[0] += 1.5
    assert told == [False] * 6
    assert not gate.paused()


def test_service_gate_quarter_of_calls_failing_never_pauses() -> None:
    # A flaky service, not a down one: 20,000 calls 50 ms apart (1000 s), a quarter failing
    # at random, the rest going through. The old rule (most of the last 8) paused in seconds.
    h = Harness()
    gate = h.gate()
    rng = random.Random(27)
    with capture_logs() as logs:
        for n in range(20_000):
            if rng.random() < 0.25:
                gate.failed(f"job{n}", DOWN)
            else:
                gate.succeeded(f"job{n}")
            h.now[0] += 0.05
    assert "service.unavailable" not in events(logs)
    assert h.holds == []


def test_service_gate_paused_admits_one_probe_only_once_due() -> None:
    h = Harness()
    gate = paused_gate(h)
    assert not gate.admit("a")
    h.now[0] += 5.0
    assert [gate.admit(j) for j in ("a", "b", "c")] == [True, False, False]


def test_service_gate_failed_probe_waits_twice_as_long() -> None:
    h = Harness()
    gate = paused_gate(h)
    h.now[0] += 5.0
    assert gate.admit("a")
    with capture_logs() as logs:
        assert gate.failed("a", DOWN)
    assert events(logs) == []  # still the one pause
    assert h.holds == [5.0, 10.0]
    assert h.records[-1] == (1012.0, 1027.0)
    assert not gate.admit("b")


def test_service_gate_failure_of_a_call_sent_before_the_pause_burns_nothing() -> None:
    h = Harness()
    gate = paused_gate(h)
    assert gate.failed("late", DOWN)
    assert h.holds == [5.0]


def test_service_gate_probe_that_goes_through_ends_the_pause() -> None:
    h = Harness()
    gate = paused_gate(h)
    h.now[0] += 5.0
    assert gate.admit("a")
    with capture_logs() as logs:
        assert gate.succeeded("a")
    assert events(logs) == ["service.available"]
    assert logs[0]["paused_seconds"] == 5.0
    assert h.records[-1] == (None, None)
    assert gate.admit("b") and not gate.paused()


def test_service_gate_probe_meeting_a_permanent_error_frees_the_probe() -> None:
    h = Harness()
    gate = paused_gate(h)
    h.now[0] += 5.0
    assert gate.admit("a")
    assert not gate.failed("a", errors.PermanentApiError("422", status=422))
    assert gate.admit("b")


def test_service_gate_park_seconds_reach_past_the_next_probe() -> None:
    h = Harness()
    gate = paused_gate(h)
    h.now[0] += 2.0
    assert gate.park_seconds() == 3.0 + 5.0


def probes_until_back(gate: ServiceGate, h: Harness, back_at: float) -> list[float]:
    """Play one parked job against a paused gate until the service is back at ``back_at``:
    it asks again after each ``park_seconds``, and probes when admitted. Return when each
    probe was made; the last one went through."""
    probes = []
    while True:
        h.now[0] += gate.park_seconds()
        if not gate.admit("parked"):
            continue
        probes.append(h.now[0])
        if h.now[0] >= back_at:
            assert gate.succeeded("parked")
            return probes
        assert gate.failed("parked", DOWN)


def test_service_gate_default_probes_resume_work_within_twenty_seconds_of_the_return() -> None:
    # The defaults of the settings, an outage of three hours and a few seconds: probes are
    # never more than the cap plus the park margin apart, so whenever the service returns,
    # the next probe goes through within that.
    retry = Retry()
    timing = ProbeTiming(retry.outage_probe_first_seconds, retry.outage_probe_max_seconds)
    h = Harness()
    gate = paused_gate(h, timing)
    back_at = h.now[0] + 3 * 3600 + 7.0
    probes = probes_until_back(gate, h, back_at)
    gaps = [later - earlier for earlier, later in itertools.pairwise(probes)]
    assert max(h.holds) == retry.outage_probe_max_seconds <= 15.0
    assert max(gaps) <= retry.outage_probe_max_seconds + PARK_AFTER_PROBE_SECONDS <= 20.0
    assert probes[-1] - back_at <= 20.0
    assert not gate.paused()
    # Cheap: one call per probe, about three a minute.
    assert len(probes) <= 3 * 3600 / 15.0
