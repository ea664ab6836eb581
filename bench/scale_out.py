"""Scale-out: per-job overhead of the distributed path against SQLite mode, throughput with one
and two worker processes, and the inputs of a written estimate for N GPU workers.

Starts a real redis-server (AOF on) and a SeaweedFS S3 store on loopback (tests/support/scale),
then, on the same recordings and the same bundled model:

1. overhead: one job at a time through the four protocol steps (upload-url, PUT, submit, long
   poll), alternately against an in-process SQLite-mode EmbeddedServer (1 engine worker) and a
   scale-out front end (in-process, --workers 0) with one ``dropscribe worker`` process
   (--workers 1); ``--repeat`` rounds, interleaved. Overhead = distributed - SQLite, per job.
2. throughput: ``--jobs`` jobs submitted at once to the front end, drained by 1 and then by 2
   worker processes (each --workers 1), alternated ``--repeat`` times.
3. the broker's and the bucket's share: Redis commands per job (INFO commandstats before and
   after), bytes moved through the bucket per job, and the front end's time per request.

Writes scale_out.json into ``--results-dir`` (default bench/results). The figures feed the
README's estimate for N GPU workers. ``--small`` is a smoke run: jfk.flac alone, one round,
2 jobs drained by one worker process, a 1 s idle window.

Usage: .venv/bin/python bench/scale_out.py [--repeat N] [--jobs N] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from _common import BENCH_TOKEN, ROOT, add_results_option, print_table, write_report

from dropscribe.scaleout.frontend import assemble_front_end
from dropscribe.server.embedded import EmbeddedServer, ServerOptions
from support.scale import RedisServer, SeaweedS3, WorkerProcess
from support.tiyaro_flow import whisper_input

SPEECH = ROOT.parent / "shared" / "fixtures" / "speech"
FIXTURES = ("jfk.flac", "OSR_us_000_0034_8k.wav")
AUDIO_SECONDS = {"jfk.flac": 11.0, "OSR_us_000_0034_8k.wav": 35.6}
SUBMIT = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"

#: Seconds one long poll may hold (the server's maximum).
LONG_POLL_SECONDS = 30

#: Seconds over which the Redis commands of one idle worker are counted.
IDLE_SECONDS = 5.0

#: The worker process counts of the throughput runs.
WORKER_COUNTS = (1, 2)


@dataclass(frozen=True)
class Plan:
    """What one run measures: rounds, jobs per throughput run, recordings, the idle window
    (seconds) and the worker process counts."""

    repeat: int
    jobs: int
    fixtures: tuple[str, ...] = FIXTURES
    idle_seconds: float = IDLE_SECONDS
    worker_counts: tuple[int, ...] = WORKER_COUNTS


#: The smoke run's plan (--small).
SMALL_PLAN = Plan(repeat=1, jobs=2, fixtures=FIXTURES[:1], idle_seconds=1.0, worker_counts=(1,))


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {BENCH_TOKEN}"}


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def submit_file(base_url: str, audio: Path, steps: dict[str, list[float]]) -> str:
    """Run upload-url, PUT and submit; record each step's seconds; return the poll URL."""
    resp, spent = timed(
        lambda: requests.post(
            f"{base_url}/v1/input/upload-url?extension={audio.suffix[1:]}", headers=headers()
        )
    )
    steps["upload_url"].append(spent)
    put_url = resp.json()["uploadUrl"]["PUT"]
    with audio.open("rb") as body:
        _, spent = timed(lambda: requests.put(put_url, data=body).raise_for_status())
    steps["put"].append(spent)
    payload = {"input": whisper_input(), "URL": put_url}
    resp, spent = timed(lambda: requests.post(base_url + SUBMIT, json=payload, headers=headers()))
    steps["submit"].append(spent)
    assert resp.status_code == 202, resp.text
    poll_url: str = resp.json()["response"]["urls"]["GET"]
    return poll_url


def wait_final(poll_url: str) -> dict[str, Any]:
    while True:
        body: dict[str, Any] = requests.get(
            poll_url, params={"wait": LONG_POLL_SECONDS}, headers=headers()
        ).json()
        if body["status"] in ("success", "failed", "cancelled"):
            assert body["status"] == "success", body
            return body


def one_job(base_url: str, audio: Path, steps: dict[str, list[float]]) -> float:
    """Return the seconds of the four steps for one recording."""
    start = time.perf_counter()
    wait_final(submit_file(base_url, audio, steps))
    return time.perf_counter() - start


@contextmanager
def sqlite_server(folder: Path) -> Iterator[EmbeddedServer]:
    options = ServerOptions(folder, token=BENCH_TOKEN, workers=1)
    server = EmbeddedServer(options)
    server.load_models()
    with server:
        yield server


@contextmanager
def front_end(broker: str, storage: str, folder: Path) -> Iterator[EmbeddedServer]:
    options = ServerOptions(
        folder, token=BENCH_TOKEN, workers=0, broker=broker, storage=storage, create_bucket=True
    )
    with EmbeddedServer(options, scale_out=assemble_front_end) as server:
        yield server


@contextmanager
def workers(count: int, broker: str, storage: str, env: dict[str, str]) -> Iterator[None]:
    started = [WorkerProcess(broker, storage, env, ["--workers", "1"]) for _ in range(count)]
    try:
        for worker in started:
            worker.start()
        yield
    finally:
        for worker in started:
            worker.stop()


def redis_commands(client: redis.Redis) -> int:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return sum(int(entry["calls"]) for entry in stats.values())


def commands_per_second(client: redis.Redis, seconds: float) -> float:
    """Return the Redis commands per second sent while nothing is submitted."""
    before = redis_commands(client)
    time.sleep(seconds)
    return (redis_commands(client) - before) / seconds


def measure_overhead(
    plan: Plan, broker: str, storage: str, env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    times: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in plan.fixtures} for mode in ("sqlite", "distributed")
    }
    steps: dict[str, dict[str, list[float]]] = {
        mode: {"upload_url": [], "put": [], "submit": []} for mode in times
    }
    client = redis.Redis.from_url(broker)
    with (
        sqlite_server(tmp / "sqlite") as local,
        front_end(broker, storage, tmp / "front") as front,
        workers(1, broker, storage, env),
    ):
        for server in (local, front):  # warm-up: page cache, first model use
            one_job(server.base_url, SPEECH / FIXTURES[0], {k: [] for k in steps["sqlite"]})
        idle_rate = commands_per_second(client, plan.idle_seconds)
        per_job_commands: list[float] = []
        for _ in range(plan.repeat):
            for name in plan.fixtures:
                times["sqlite"][name].append(
                    one_job(local.base_url, SPEECH / name, steps["sqlite"])
                )
                before = redis_commands(client)
                spent = one_job(front.base_url, SPEECH / name, steps["distributed"])
                times["distributed"][name].append(spent)
                # The job's own commands: what the idle workers' polling would have sent
                # anyway over the same time is taken off.
                per_job_commands.append(redis_commands(client) - before - idle_rate * spent)
        commands_per_job = statistics.median(per_job_commands)
    return {
        "seconds": times,
        "steps": steps,
        "redis_commands_per_job": commands_per_job,
        "redis_idle_commands_per_second_one_worker": idle_rate,
    }


def measure_throughput(
    plan: Plan, broker: str, storage: str, env: dict[str, str], tmp: Path
) -> dict[str, list[float]]:
    """Return, per worker count, the wall seconds to drain the plan's jobs submitted at once."""
    drained: dict[str, list[float]] = {str(count): [] for count in plan.worker_counts}
    audio = SPEECH / FIXTURES[0]
    with front_end(broker, storage, tmp / "front-throughput") as front:
        for _ in range(plan.repeat):
            for count in plan.worker_counts:
                with workers(count, broker, storage, env):
                    scratch: dict[str, list[float]] = {"upload_url": [], "put": [], "submit": []}
                    start = time.perf_counter()
                    polls = [submit_file(front.base_url, audio, scratch) for _ in range(plan.jobs)]
                    for poll in polls:
                        wait_final(poll)
                    drained[str(count)].append(time.perf_counter() - start)
    return drained


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    cli.add_argument("--jobs", type=int, default=8, help="jobs per throughput run (default 8)")
    cli.add_argument(
        "--small", action="store_true", help="smoke run: 1 round, 1 recording, 2 jobs, 1 worker"
    )
    add_results_option(cli)
    args = cli.parse_args()
    plan = SMALL_PLAN if args.small else Plan(args.repeat, args.jobs)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as name:
        tmp = Path(name)
        with RedisServer(tmp / "redis") as redis_server, SeaweedS3(tmp / "s3") as s3:
            env = s3.aws_env()
            os.environ.update(env)
            broker, storage = redis_server.url(), "s3://bench/jobs"
            overhead = measure_overhead(plan, broker, storage, env, tmp)
            drained = measure_throughput(plan, broker, storage, env, tmp)
    rows = []
    per_job: dict[str, dict[str, float]] = {}
    for name in plan.fixtures:
        local = overhead["seconds"]["sqlite"][name]
        dist = overhead["seconds"]["distributed"][name]
        extra = [d - s for d, s in zip(dist, local, strict=True)]
        per_job[name] = {"median_extra_seconds": statistics.median(extra)}
        rows.append([name, spread(local), spread(dist), spread(extra)])
    print("\nper job, one at a time: seconds, median (min-max)")
    print_table(["recording", "sqlite", "distributed", "extra"], rows)
    print("\nfront-end steps, distributed: median seconds")
    step_rows = [
        [step, f"{statistics.median(values):.4f}"]
        for step, values in overhead["steps"]["distributed"].items()
    ]
    print_table(["step", "median"], step_rows)
    print(f"redis commands per job: {overhead['redis_commands_per_job']:.0f}")
    idle = overhead["redis_idle_commands_per_second_one_worker"]
    print(f"redis commands per second, one idle worker: {idle:.1f}")
    audio = AUDIO_SECONDS[FIXTURES[0]] * plan.jobs
    print(f"\nthroughput: {plan.jobs} x {FIXTURES[0]} submitted at once")
    print_table(
        ["worker processes", "wall s, median (min-max)", "audio s per wall s"],
        [[count, spread(v), f"{audio / statistics.median(v):.2f}"] for count, v in drained.items()],
    )
    write_report(
        "scale_out",
        started,
        vars(args),
        {
            "plan": asdict(plan),
            "overhead": overhead,
            "per_job": per_job,
            "throughput_wall_seconds": drained,
        },
        [],
        args.results_dir,
    )


if __name__ == "__main__":
    main()
