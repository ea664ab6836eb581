"""The outage pause: pure decisions, and the gate's pause, single probe and resumption."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.testing import capture_logs

from dropscribe.core import errors
from dropscribe.pipeline.gates.outage import ServiceGate, counts_as_outage, is_outage
from dropscribe.pipeline.gates.pause import ProbeTiming, probe_wait

TIMING = ProbeTiming(first_seconds=5.0, max_seconds=60.0)
DOWN = errors.TransientApiError("put: HTTP 503", status=503)


@dataclass
class Harness:
    now: list[float] = field(default_factory=lambda: [1000.0])
    holds: list[float] = field(default_factory=list)
    records: list[tuple[float | None, float | None]] = field(default_factory=list)

    def gate(self) -> ServiceGate:
        return ServiceGate(
            self.holds.append,
            structlog.get_logger(),
            lambda: self.now[0],
            TIMING,
            lambda since, due: self.records.append((since, due)),
        )


def paused_gate(h: Harness) -> ServiceGate:
    gate = h.gate()
    for n in range(4):
        gate.failed(f"job{n}", DOWN)
    assert gate.paused()
    return gate


def events(logs: Sequence[Mapping[str, Any]]) -> list[Any]:
    return [entry["event"] for entry in logs]


def test_is_outage_four_failures_of_seven_is_an_outage() -> None:
    assert is_outage([True, True, True, False, False, False, False])


def test_is_outage_half_failing_is_no_outage() -> None:
    assert not is_outage([True, False] * 4)


def test_is_outage_three_failures_in_a_row_are_too_few() -> None:
    assert not is_outage([False, False, False])


def test_probe_wait_doubles_up_to_the_cap() -> None:
    assert [probe_wait(TIMING, n) for n in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_probe_wait_huge_count_is_the_cap() -> None:
    assert probe_wait(TIMING, 10_000) == 60.0


def test_counts_as_outage_expired_url_and_permanent_errors_do_not() -> None:
    assert counts_as_outage(DOWN)
    assert not counts_as_outage(errors.UploadUrlExpired("403 on PUT"))
    assert not counts_as_outage(errors.PermanentApiError("422", status=422))
    assert not counts_as_outage(errors.AuthError("401", status=401))


def test_service_gate_fourth_failure_in_a_row_pauses_once_and_holds() -> None:
    h = Harness()
    gate = h.gate()
    with capture_logs() as logs:
        told = [gate.failed(f"job{n}", DOWN) for n in range(6)]
    assert told == [False, False, False, True, True, True]
    assert events(logs) == ["service.unavailable"]
    assert h.holds == [5.0]
    assert h.records == [(1000.0, 1005.0)]


def test_service_gate_successes_between_failures_keep_it_open() -> None:
    gate = Harness().gate()
    for n in range(8):
        gate.failed(f"job{n}", DOWN) if n % 2 else gate.succeeded(f"job{n}")
    assert not gate.paused()


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
    assert h.records[-1] == (1000.0, 1015.0)
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
