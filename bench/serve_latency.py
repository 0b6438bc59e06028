"""Decode round-trip latency of the latent explorer's HTTP API (`vaelab serve`).

    python -m bench.serve_latency runs/demo [--clients 4] [--requests 500] [--warmup 50] [--json PATH]

What it measures
----------------
`vaelab serve RUN --port 0` is started in a subprocess, exactly as a user starts it (one torch
thread per request; concurrent requests run side by side on the server's thread pool). Once it
prints its URL, `--clients` threads each open one keep-alive connection and send `--warmup`
untimed requests, then `--requests` timed ones: POST /api/decode with a latent code drawn from
N(0, I) beforehand (a different one each time) and the PNG back. A round trip is timed from
writing the request to reading the last byte of the response, and every response is checked
(status 200, a PNG). Printed: p50 / p95 / p99 of the round trips in ms, and requests per second
over the timed part (all clients' timed requests / the wall time from the first timed request to
the last response). Goal: p95 under 20 ms on 2 CPU cores with 4 concurrent clients.

The clients run on the same machine, so they take CPU time from the server: the figures are
those of the whole round trip on this machine. Like bench.throughput it also reports the share
of the cores that processes other than the benchmark and its server used meanwhile (Linux only);
trust the figures when that is near 0.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np

from .report import command_line, write_json
from .throughput import cpu_counters, pct

GOAL_P95_MS = 20.0


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def start_server(run: str, timeout: float = 300.0) -> tuple[subprocess.Popen, str, int]:
    """`vaelab serve RUN --port 0` in a subprocess: (process, host, port), once it has printed its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "vaelab", "serve", run, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)  # a run as large as MNIST takes a few seconds to encode its examples
    found = re.search(r"http://([0-9.]+):(\d+)/", line[0]) if line else None
    if not found:
        proc.kill()
        _, err = proc.communicate()
        sys.exit(f"the server did not start: {err.strip().splitlines()[-1:] or 'no output'}")
    return proc, found.group(1), int(found.group(2))


def client(host: str, port: int, bodies: list[bytes], warmup: int, times: list[float], errors: list[str],
           start: threading.Barrier) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    try:
        for i, body in enumerate(bodies):
            if i == warmup:
                start.wait()  # every client starts its timed requests together
            t0 = time.perf_counter()
            conn.request("POST", "/api/decode", body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            elapsed = time.perf_counter() - t0
            if response.status != 200 or not content.startswith(b"\x89PNG"):
                errors.append(f"status {response.status}: {content[:200]!r}")
                return
            if i >= warmup:
                times.append(elapsed)
    except (OSError, http.client.HTTPException) as e:
        errors.append(f"{type(e).__name__}: {e}")
        start.abort()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.serve_latency", description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder to serve, e.g. runs/demo")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument("--requests", type=int, default=500, help="timed requests per client (default 500)")
    p.add_argument("--warmup", type=int, default=50, help="untimed requests per client first (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    if args.clients < 1 or args.requests < 1 or args.warmup < 0:
        p.error("--clients and --requests must be at least 1, --warmup at least 0")
    command = command_line("bench.serve_latency", argv)
    print(f"command: {command}")

    proc, host, port = start_server(args.run)
    try:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", "/api/info")
        info = json.loads(conn.getresponse().read())
        conn.close()
        rng = np.random.default_rng(args.seed)
        per_client = args.warmup + args.requests
        codes = rng.standard_normal((args.clients, per_client, info["latent_dim"]))
        bodies = [[json.dumps({"z": z.tolist()}).encode() for z in codes[c]] for c in range(args.clients)]
        times: list[list[float]] = [[] for _ in range(args.clients)]
        errors: list[str] = []
        start = threading.Barrier(args.clients + 1)
        threads = [threading.Thread(target=client, args=(host, port, bodies[c], args.warmup, times[c], errors, start))
                   for c in range(args.clients)]
        for t in threads:
            t.start()
        start.wait()
        before, server_before = cpu_counters(), process_cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        after, server_after = cpu_counters(), process_cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    if errors:
        sys.exit(f"a request failed: {errors[0]}")

    ms = np.array([t for ts in times for t in ts]) * 1000
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
    others = None
    if before is not None and after is not None and after[2] > before[2]:
        own = (after[1] - before[1]) + (server_after - server_before)  # this process and the server
        others = max(0.0, ((after[0] - before[0]) - own) / ((os.cpu_count() or 1) * (after[2] - before[2])))
    results = {
        "command": command, "run": args.run, "latent_dim": info["latent_dim"], "clients": args.clients,
        "requests": len(ms), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "mean_ms": float(ms.mean()),
        "requests_per_second": len(ms) / wall, "cores": os.cpu_count(), "others_cpu_share": others,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "goal_p95_ms": GOAL_P95_MS,
    }
    print(f"POST /api/decode on {args.run} ({info['latent_dim']}-D code -> {'x'.join(map(str, info['shape']))} PNG), "
          f"{args.clients} concurrent clients x {args.requests} requests ({args.warmup} warm-up each), "
          f"{os.cpu_count()} cores")
    print(f"round trip: p50 {p50:.2f} ms   p95 {p95:.2f} ms   p99 {p99:.2f} ms   (mean {ms.mean():.2f} ms)")
    print(f"throughput: {results['requests_per_second']:.0f} requests/s")
    print(f"goal p95 < {GOAL_P95_MS:g} ms: {'met' if p95 < GOAL_P95_MS else 'NOT met'}")
    print(f"other processes used {pct(others)} of the cores meanwhile")
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
