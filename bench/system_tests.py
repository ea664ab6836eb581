"""Wall time of the system tests (tests/system) with a cold and with a warm cache.

Alternates, ``--repeat`` times: *cold*, with the cache folder emptied first (debootstrap and the
wheel downloads run), then *warm*, with the cache the cold run left. Each run is
``pytest tests/system`` in a fresh process, with its own cache folder (``bench/results/
system-cache``, never the shared one in /var/cache) through DROPSCRIBE_SYSTEM_TEST_CACHE. The
set-up phases are read from the run's terminal summary. Needs root, like the tests.

Target: a run fits in what .ci/run can spend on it, 15 minutes for the whole suite; the
figure to compare with the rest of the suite is the cold one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time
from typing import Any

from _common import PYTHON, RESULTS_DIR, ROOT, Target, print_table, write_report

#: The cache the benchmark owns (emptied for each cold run).
CACHE = RESULTS_DIR / "system-cache"
#: A phase line of the terminal summary: "   64.0 s  Debian root build (0 when cached)".
PHASE = re.compile(r"^\s*(\d+(?:\.\d+)?) s  (.+)$", re.MULTILINE)
#: What one cold run may take, in seconds: the whole of .ci/run's 15 minutes.
CI_BUDGET_SECONDS = 900.0
#: How much of a failed run's output the report keeps.
OUTPUT_TAIL_CHARS = 6000
#: A hang guard for one run, in seconds.
RUN_TIMEOUT_SECONDS = 1200


def run_once(kind: str) -> dict[str, Any]:
    """Run the system tests once (after emptying the cache for ``kind`` "cold")."""
    if kind == "cold":
        shutil.rmtree(CACHE, ignore_errors=True)
    env = {**os.environ, "DROPSCRIBE_SYSTEM_TEST_CACHE": str(CACHE)}
    argv = [str(PYTHON), "-m", "pytest", "tests/system", "-q", "-p", "no:cacheprovider"]
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
    """Measure, write bench/results/system_tests.json, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=3, help="cold/warm pairs (default 3)")
    args = cli.parse_args()
    started = time.time()
    runs = [run_once(kind) for _ in range(args.repeat) for kind in ("cold", "warm")]
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
    write_report("system_tests", started, vars(args), {"runs": runs, "figures": figures}, targets)


if __name__ == "__main__":
    main()
