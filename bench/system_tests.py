"""Wall time of the system tests (tests/system) with a cold and with a warm cache.

Alternates, ``--repeat`` times: *cold*, with the cache folder emptied first (debootstrap and the
wheel downloads run), then *warm*, with the cache the cold run left. Each run is
``pytest tests/system`` in a fresh process, with its own cache folder (``system-cache`` in
``--results-dir``, by default ``bench/results``; never the shared one in /var/cache) through
DROPSCRIBE_SYSTEM_TEST_CACHE. The set-up phases are read from the run's terminal summary.
Needs root, like the tests.

Target: a run fits in what .ci/run can spend on it, 15 minutes for the whole suite; the
figure to compare with the rest of the suite is the cold one.

``--small`` is a smoke run of the script, not of the system tests: one cold/warm pair that
only collects them (``--collect-only``), since running them needs root, systemd-nspawn and
minutes to build a Debian root. Its figures say nothing about the system tests.

Usage: .venv/bin/python bench/system_tests.py [--repeat N] [--small] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, Target, add_results_option, print_table, write_report

#: The cache the benchmark owns (emptied for each cold run), in --results-dir.
CACHE_NAME = "system-cache"
#: A phase line of the terminal summary: "   64.0 s  Debian root build (0 when cached)".
PHASE = re.compile(r"^\s*(\d+(?:\.\d+)?) s  (.+)$", re.MULTILINE)
#: What one cold run may take, in seconds: the whole of .ci/run's 15 minutes.
CI_BUDGET_SECONDS = 900.0
#: How much of a failed run's output the report keeps.
OUTPUT_TAIL_CHARS = 6000
#: A hang guard for one run, in seconds.
RUN_TIMEOUT_SECONDS = 1200


def run_once(kind: str, cache: Path, collect_only: bool) -> dict[str, Any]:
    """Run the system tests once (after emptying ``cache`` for ``kind`` "cold"), or with
    ``collect_only`` only collect them."""
    if kind == "cold":
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "DROPSCRIBE_SYSTEM_TEST_CACHE": str(cache)}
    argv = [str(PYTHON), "-m", "pytest", "tests/system", "-q", "-p", "no:cacheprovider"]
    if collect_only:
        argv.append("--collect-only")
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )
    seconds = time.monotonic() - started
    phases = {name: float(value) for value, name in PHASE.findall(result.stdout)}
    last_line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    run = {
        "kind": kind,
        "seconds": round(seconds, 1),
        "exit": result.returncode,
        "summary": last_line,
        "phases": phases,
    }
    if result.returncode != 0:
        run["output_tail"] = (result.stdout + result.stderr)[-OUTPUT_TAIL_CHARS:]
    return run


def main() -> None:
    """Measure, write system_tests.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=3, help="cold/warm pairs (default 3)")
    cli.add_argument(
        "--small", action="store_true", help="one pair that only collects the tests (a smoke run)"
    )
    add_results_option(cli)
    args = cli.parse_args()
    if args.small:
        print("smoke run: the system tests are collected, not run")
    started = time.time()
    cache = args.results_dir / CACHE_NAME
    repeat = 1 if args.small else args.repeat
    runs = [run_once(kind, cache, args.small) for _ in range(repeat) for kind in ("cold", "warm")]
    print_table(
        ["run", "wall s", "exit", "root build s", "pytest summary"],
        [
            [
                r["kind"],
                r["seconds"],
                r["exit"],
                r["phases"].get("Debian root build (0 when cached)", ""),
                r["summary"],
            ]
            for r in runs
        ],
    )
    figures = {}
    for kind in ("cold", "warm"):
        values = [r["seconds"] for r in runs if r["kind"] == kind]
        figures[kind] = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "runs": values,
        }
        print(
            f"{kind}: median {figures[kind]['median']:.1f} s, "
            f"spread {figures[kind]['min']:.1f}-{figures[kind]['max']:.1f} s"
        )
    targets = [
        Target("cold system tests, median", figures["cold"]["median"], CI_BUDGET_SECONDS, "s")
    ]
    data = {"collect_only": args.small, "runs": runs, "figures": figures}
    arguments = {**vars(args), "repeat": repeat}
    write_report("system_tests", started, arguments, data, targets, args.results_dir)


if __name__ == "__main__":
    main()
