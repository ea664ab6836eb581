"""Attacks: every hostile input of the security review at once against one ``dropscribe serve``,
while a legitimate client keeps working. Prints the server's peak RSS and the legitimate
client's worst latency.

Each run starts a fresh server (``--workers 2``, under ``prlimit --nofile=8192``, the unit's
LimitNOFILE=), transcribes one clip to load the model, then for ``--seconds`` runs together:

- bomb: the 10,044-byte 1 Hz WAV that claims 2 h 46 min, submitted again and again;
- params: temperature_increment_on_fallback of 2e-8 and 5e-324 (the worker killers);
- body: unauthenticated POSTs announcing 256 MB and streaming it;
- slowloris: 1,100 connections from 20 loopback addresses that never finish their headers,
  plus 200 from one address, each reopened as soon as the server drops it;
- polls: 45 long polls (?wait=30) from 3 addresses on jobs of 1 min of silence, one after
  another, so there is always a job to wait for;
- tokens: wrong bearer tokens as fast as one client can send them;
- replay: a PUT to an upload that was already submitted.

Meanwhile the legitimate client (127.0.0.1) calls /healthz and the upload-url endpoint every
0.25 s and transcribes jfk.flac end to end in a loop. Runs alternate with quiet runs (the same
client, no attack), ``--runs`` of each, so the figures can be compared on a shared machine.
Targets: peak RSS under attack <= baseline + 300 MB; worst request latency <= 2 s; no worker
dead; every attack answered as designed.

Usage: .venv/bin/python bench/attacks.py [--small] [--runs N] [--seconds S] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import select
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from _common import ROOT, ProcSampler, Target, add_results_option, print_table, write_report

from support import tiyaro_flow as flow
from support.bombs import one_hertz_bomb, silent_wav
from support.serve import ServeProcess, SourceAdapter, open_slow_connection

SPEECH = ROOT.parent / "shared" / "fixtures" / "speech" / "jfk.flac"
SUBMIT_TINY = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"

#: Seconds between the legitimate client's small requests.
CLIENT_STEP_SECONDS = 0.25

#: What the legitimate client asks for every CLIENT_STEP_SECONDS.
CLIENT_REQUESTS = (("GET", "/healthz"), ("POST", "/v1/input/upload-url?extension=wav"))

#: HTTP timeout of every request, attacker's or client's, in seconds.
TIMEOUT = 60.0

#: The attacks, by name (--only).
ATTACKS = ("bomb", "params", "body", "slowloris", "polls", "tokens", "replay")

#: Allowed growth of the server's peak RSS over its warm baseline, in MB.
RSS_GROWTH_LIMIT_MB = 300.0

#: Allowed worst latency of the legitimate client's small requests, in seconds.
LATENCY_LIMIT_SECONDS = 2.0


class Run:
    """One server, one legitimate client, and (for an attack run) the attackers."""

    def __init__(
        self, folder: Path, seconds: float, attack: bool, small: bool, only: str | None = None
    ) -> None:
        self.only = only
        self.folder = folder
        self.seconds = seconds
        self.attack = attack
        self.small = small
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.job_seconds: list[float] = []
        self.client_errors: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()

    def count(self, what: str) -> None:
        with self.lock:
            self.outcomes[what] += 1

    def execute(self) -> dict[str, Any]:
        with ServeProcess(self.folder, ["--workers", "2"], file_limit=8192) as serve:
            final = flow.transcribe(serve.base_url, serve.token, SPEECH)  # loads the model
            assert final["status"] == "success", final
            baseline = serve.rss_bytes()
            sampler = ProcSampler(serve.pid).start()
            threads = [threading.Thread(target=self.client, args=(serve,), daemon=True)]
            threads += [threading.Thread(target=self.jobs, args=(serve,), daemon=True)]
            if self.attack:
                threads += [
                    threading.Thread(target=attack, args=(serve,), daemon=True)
                    for attack in self.attacks()
                ]
            for thread in threads:
                thread.start()
            time.sleep(self.seconds)
            self.stop.set()
            for thread in threads:
                thread.join(TIMEOUT)
            sampler.stop()
            health = requests.get(serve.base_url + "/healthz", timeout=TIMEOUT).json()
            peak = max(s[1] for s in sampler.samples)
            log_lines = len(serve.lines)
        return {
            "attack": self.attack,
            "baseline_rss_mb": round(baseline / 1e6, 1),
            "peak_rss_mb": round(peak / 1e6, 1),
            "rss_growth_mb": round((peak - baseline) / 1e6, 1),
            "requests": len(self.latencies),
            "worst_latency_s": round(max(self.latencies), 3),
            "median_latency_s": round(statistics.median(self.latencies), 3),
            "jobs": len(self.job_seconds),
            "worst_job_s": round(max(self.job_seconds, default=float("nan")), 2),
            "client_errors": dict(self.client_errors),
            "workers": health["workers"],
            "server_log_lines": log_lines,
            "outcomes": dict(self.outcomes),
        }

    def attacks(self) -> list[Callable[[ServeProcess], None]]:
        every = [
            self.bomb, self.params, self.body, self.slowloris, self.polls, self.tokens,
            self.replay,
        ]  # fmt: skip
        return [attack for attack in every if self.only in (None, attack.__name__)]

    # -- the legitimate client -----------------------------------------------------------------

    def client(self, serve: ServeProcess) -> None:
        headers = flow.headers(serve.token)
        with requests.Session() as http:
            while not self.stop.wait(CLIENT_STEP_SECONDS):
                for method, path in (
                    ("GET", "/healthz"),
                    ("POST", "/v1/input/upload-url?extension=wav"),
                ):
                    started = time.monotonic()
                    try:
                        resp = http.request(
                            method, serve.base_url + path, headers=headers, timeout=TIMEOUT
                        )
                        ok = resp.status_code in (200, 201)
                    except requests.RequestException as exc:
                        ok, resp = False, None
                        self.client_errors[type(exc).__name__] += 1
                    self.latencies.append(time.monotonic() - started)
                    if not ok and resp is not None:
                        self.client_errors[str(resp.status_code)] += 1

    def jobs(self, serve: ServeProcess) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                final = flow.transcribe(serve.base_url, serve.token, SPEECH)
                if final["status"] != "success":
                    self.client_errors["job " + final["status"]] += 1
            except (requests.RequestException, AssertionError) as exc:
                self.client_errors["job " + type(exc).__name__] += 1
            self.job_seconds.append(time.monotonic() - started)

    # -- the attackers -------------------------------------------------------------------------

    def bomb(self, serve: ServeProcess) -> None:
        bomb = one_hertz_bomb(self.folder.parent / "bomb.wav")
        while not self.stop.wait(1.0):
            url = flow.get_upload_url(serve.base_url, serve.token, "wav")
            flow.upload(url, bomb)
            job = flow.submit(serve.base_url, serve.token, url, SUBMIT_TINY)
            final = flow.wait_until_final(job["urls"]["GET"], serve.token, timeout=TIMEOUT)
            self.count(f"bomb {final['status']}")

    def params(self, serve: ServeProcess) -> None:
        url = flow.get_upload_url(serve.base_url, serve.token, "flac")
        flow.upload(url, SPEECH)
        for increment in self.cycle([2e-8, 5e-324], 0.5):
            body = {
                "input": {"temperature": 0.0, "temperature_increment_on_fallback": increment},
                "URL": url,
            }
            resp = requests.post(
                serve.base_url + SUBMIT_TINY,
                json=body,
                headers=flow.headers(serve.token),
                timeout=TIMEOUT,
            )
            self.count(f"params {resp.status_code}")

    def body(self, serve: ServeProcess) -> None:
        head = (
            b"POST /v1/async/ent/tiyarofs/1/openai/whisper-tiny HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 268435456\r\n\r\n"
        )
        host, port = serve.base_url.rsplit("//", 1)[1].rsplit(":", 1)
        while not self.stop.wait(0.2):
            with socket.create_connection((host, int(port)), TIMEOUT, ("127.0.0.5", 0)) as sock:
                answer = b""
                with contextlib.suppress(OSError):  # the server answers and closes early
                    sock.sendall(head)
                    for _ in range(4 if self.small else 256):
                        sock.sendall(b"x" * (1 << 20))
                with contextlib.suppress(OSError):
                    answer = sock.recv(64)
            self.count("body " + (answer[9:12].decode() or "closed"))

    def slowloris(self, serve: ServeProcess) -> None:
        sources = [f"127.0.0.{10 + n % 20}" for n in range(110 if self.small else 1100)]
        sources += ["127.0.0.2"] * (20 if self.small else 200)
        socks: dict[int, tuple[socket.socket, str]] = {}
        watch = select.poll()  # not select(): these descriptors go past 1024
        while not self.stop.is_set():
            while sources:
                source = sources.pop()
                try:
                    sock = open_slow_connection(serve.base_url, source)
                except OSError:
                    self.count("slowloris connect failed")
                    sources.append(source)
                    break
                socks[sock.fileno()] = (sock, source)
                watch.register(sock, select.POLLIN)
                self.count("slowloris opened")
            for fd, _ in watch.poll(500):  # the server closed it: per-client cap or timeout
                sock, source = socks.pop(fd)
                watch.unregister(fd)
                sock.close()
                sources.append(source)
                self.count("slowloris dropped by server")
        for sock, _ in socks.values():
            sock.close()

    def polls(self, serve: ServeProcess) -> None:
        # A minute: long enough to wait on, short enough that its engine memory (about 51 MiB
        # per minute of audio) does not drown the attacks' own.
        silence = silent_wav(self.folder.parent / "silence.wav", 8000, 8000 * 60)
        current: list[str] = []

        def poll(source: str) -> None:
            headers = flow.headers(serve.token)
            with requests.Session() as http:
                http.mount("http://", SourceAdapter(source))
                while not self.stop.is_set():
                    resp = http.get(current[-1] + "?wait=30", headers=headers, timeout=TIMEOUT)
                    self.count(f"poll {resp.status_code}")

        with ThreadPoolExecutor(max_workers=45) as pool:
            while not self.stop.is_set():  # a minute of silence, again and again
                url = flow.get_upload_url(serve.base_url, serve.token, "wav")
                flow.upload(url, silence)
                job = flow.submit(serve.base_url, serve.token, url, SUBMIT_TINY)
                current.append(job["urls"]["GET"])
                if len(current) == 1:
                    for n in range(45):
                        pool.submit(poll, f"127.0.1.{n % 3 + 1}")
                flow.wait_until_final(current[-1], serve.token, timeout=10 * TIMEOUT)
            requests.delete(current[-1], headers=flow.headers(serve.token), timeout=TIMEOUT)

    def tokens(self, serve: ServeProcess) -> None:
        with requests.Session() as http:
            http.mount("http://", SourceAdapter("127.0.0.6"))
            for _ in self.cycle([None], 0.0):
                resp = http.post(
                    serve.base_url + "/v1/input/upload-url?extension=wav",
                    headers=flow.headers("wrong-token-0123456789"),
                    timeout=TIMEOUT,
                )
                self.count(f"tokens {resp.status_code}")

    def replay(self, serve: ServeProcess) -> None:
        while not self.stop.wait(1.0):
            url = flow.get_upload_url(serve.base_url, serve.token, "flac")
            flow.upload(url, SPEECH)
            job = flow.submit(serve.base_url, serve.token, url, SUBMIT_TINY)
            resp = requests.put(url, data=b"replacement", timeout=TIMEOUT)
            self.count(f"replay {resp.status_code}")
            requests.delete(job["urls"]["GET"], headers=flow.headers(serve.token), timeout=TIMEOUT)

    def cycle(self, values: list[Any], pause: float) -> Any:
        while not self.stop.wait(pause):
            yield from values


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}..{max(values):.3f}]"


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument(
        "--small", action="store_true", help="a smoke run: 1 pair, 3 s, fewer attackers"
    )
    cli.add_argument("--runs", type=int, default=3, help="attack runs (each after a quiet run)")
    cli.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    cli.add_argument(
        "--only", choices=ATTACKS, help="run this attack alone (to find what costs what)"
    )
    add_results_option(cli)
    args = cli.parse_args()
    runs, seconds = (1, 3.0) if args.small else (args.runs, args.seconds)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the slowloris needs 1,300 fds
    started = time.time()
    results: list[dict[str, Any]] = []
    for n in range(runs):
        for attack in (False, True):  # interleaved: quiet, attack, quiet, attack, ...
            with tempfile.TemporaryDirectory(prefix="dropscribe-attacks-") as tmp:
                run = Run(Path(tmp) / "data", seconds, attack, args.small, args.only)
                result = run.execute()
            result["run"] = n + 1
            results.append(result)
            print(f"run {n + 1} {'attack' if attack else 'quiet '}: {result}", flush=True)
    rows = [
        [r["run"], "attack" if r["attack"] else "quiet", r["baseline_rss_mb"], r["peak_rss_mb"],
         r["rss_growth_mb"], r["worst_latency_s"], r["median_latency_s"], r["worst_job_s"],
         r["jobs"], sum(r["client_errors"].values()), r["workers"]["alive"], r["server_log_lines"]]
        for r in results
    ]  # fmt: skip
    print()
    print_table(
        ["run", "kind", "base MB", "peak MB", "growth MB", "worst s", "median s", "worst job s",
         "jobs", "client errors", "workers alive", "log lines"],
        rows,
    )  # fmt: skip
    attacked = [r for r in results if r["attack"]]
    quiet = [r for r in results if not r["attack"]]
    summary = {
        "attack_peak_rss_mb": spread([r["peak_rss_mb"] for r in attacked]),
        "attack_rss_growth_mb": spread([r["rss_growth_mb"] for r in attacked]),
        "attack_worst_latency_s": spread([r["worst_latency_s"] for r in attacked]),
        "quiet_worst_latency_s": spread([r["worst_latency_s"] for r in quiet]),
        "attack_worst_job_s": spread([r["worst_job_s"] for r in attacked]),
        "quiet_worst_job_s": spread([r["worst_job_s"] for r in quiet]),
    }
    print("\nmedian [min..max] over the runs:")
    for name, value in summary.items():
        print(f"  {name}: {value}")
    growth = max(r["rss_growth_mb"] for r in attacked)
    worst = max(r["worst_latency_s"] for r in attacked)
    errors = sum(sum(r["client_errors"].values()) for r in attacked)
    dead = sum(r["workers"]["configured"] - r["workers"]["alive"] for r in results)
    targets = [
        Target("peak RSS growth under attack (worst run)", growth, RSS_GROWTH_LIMIT_MB, "MB"),
        Target(
            "client's worst latency under attack (worst run)", worst, LATENCY_LIMIT_SECONDS, "s"
        ),
        Target("legitimate client's errors under attack", errors, 0, "errors"),
        Target("dead engine workers at the end", dead, 0, "workers"),
    ]
    data = {"runs": results, "summary": summary}
    arguments = {**vars(args), "runs": runs, "seconds": seconds}
    write_report("attacks", started, arguments, data, targets, args.results_dir)


if __name__ == "__main__":
    main()
