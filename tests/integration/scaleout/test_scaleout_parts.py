"""The pure parts of the scale-out mode: arguments, queue names, backoff, the outage record."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropscribe.scaleout.outages import (
    BROKER,
    STORAGE,
    Backoff,
    BrokerUnavailable,
    Outages,
    StorageUnavailable,
    backoff_delay,
    retrying,
)
from dropscribe.scaleout.tasks import queue_for
from dropscribe.server.embedded import ServerOptions
from dropscribe.server.locations import (
    StorageLocation,
    broker_url,
    storage_location,
)


def test_storage_location_bucket_and_prefix_are_split() -> None:
    location = storage_location("s3://recordings/team/a/")
    assert location == StorageLocation("recordings", "team/a")
    assert location.key("uploads", "x.wav") == "team/a/uploads/x.wav"


def test_storage_location_without_prefix_keys_from_the_root() -> None:
    assert storage_location("s3://recordings").key("uploads", "x.wav") == "uploads/x.wav"


@pytest.mark.parametrize(
    "text", ["http://bucket/p", "s3://Bad_Bucket/p", "s3://bucket/p?x=1", "s3://bucket/a b"]
)
def test_storage_location_unusable_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="storage"):
        storage_location(text)


@pytest.mark.parametrize(
    "text", ["http://host:6379/0", "redis:///0", "redis://h:x/0", "redis://h/db"]
)
def test_broker_url_unusable_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="broker"):
        broker_url(text)


def test_server_options_broker_without_storage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both broker and storage"):
        ServerOptions(tmp_path, token="t" * 16, broker="redis://h:1/0")


def test_server_options_zero_workers_only_with_a_broker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ServerOptions(tmp_path, token="t" * 16, workers=0)
    scaled = ServerOptions(
        tmp_path,
        token="t" * 16, workers=0, broker="redis://h:1/0", storage="s3://bucket/p",
    )  # fmt: skip
    assert scaled.workers == 0


def test_queue_for_each_spec_its_own_safe_queue() -> None:
    specs = ["bundled", "large-v3", "/srv/models/large v3", "/srv/models/large_v3"]
    queues = [queue_for(spec) for spec in specs]
    assert len(set(queues)) == len(specs)
    assert queues[:2] == ["transcribe.bundled", "transcribe.large-v3"]
    assert all(len(q) < 80 and " " not in q and "/" not in q for q in queues)


def test_backoff_delay_doubles_up_to_the_ceiling() -> None:
    policy = Backoff(first=0.5, factor=2, ceiling=3)
    assert [backoff_delay(policy, n) for n in (1, 2, 3, 4, 9)] == [0.5, 1, 2, 3, 3]


def test_outages_down_since_first_failure_until_recovered() -> None:
    now = [100.0]
    outages = Outages(lambda: now[0])
    outages.failed(STORAGE, "one")
    now[0] = 105.0
    outages.failed(STORAGE, "two")
    state = outages.states()[STORAGE]
    assert (state.down_since, state.failures, state.last_error) == (100.0, 2, "two")
    assert not outages.all_reachable()
    outages.recovered(STORAGE)
    assert outages.states()[STORAGE].as_dict()["reachable"] is True
    assert outages.all_reachable()


def test_retrying_waits_with_backoff_then_succeeds_and_recovers() -> None:
    outages, waits = Outages(), []
    attempts = iter([BrokerUnavailable("down"), BrokerUnavailable("down"), None])

    def call() -> str:
        problem = next(attempts)
        if problem is not None:
            raise problem
        return "done"

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        assert not outages.all_reachable()
        return False

    assert retrying(call, BROKER, outages, Backoff(first=1, factor=2, ceiling=10), sleep) == "done"
    assert waits == [1, 2]
    assert outages.states()[BROKER].failures == 2 and outages.all_reachable()


def test_retrying_gives_up_when_stopped() -> None:
    def call() -> None:
        raise StorageUnavailable("down")

    with pytest.raises(StorageUnavailable):
        retrying(call, STORAGE, Outages(), Backoff(), lambda seconds: True)
