"""Load benchmark: the predict function on loopback, next to a hello-world function (the floor:
functions-framework itself) measured in the same run.

Each server runs under functions-framework as `make serve` runs it. A Python load generator keeps
1 or 8 persistent connections busy for DURATION seconds after a warm-up, and reports requests per
second and p50/p99 latency. Figures are printed, never asserted. Requests only go to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from pathlib import Path

import requests

from functions.serve import serving

REPO_ROOT = Path(__file__).resolve().parents[2]
DURATION = float(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = (1, 8)


def load(url: str, body: bytes, connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        mine, failed = [], 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
            mine.append(time.perf_counter() - started)
            failed += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


def predict_body() -> bytes:
    from pipelines.data import DataSpec, load_reference
    from pipelines.features import history_periods

    history = load_reference().tail(history_periods(DataSpec()))
    rows = [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(history["timestamp"], history["demand"], strict=True)
    ]
    return json.dumps({"history": rows, "horizon": 48}).encode()


def ensure_champion(registry: Path) -> None:
    from pipelines.data import DataSpec, load_reference, validate
    from pipelines.model import Forecaster
    from pipelines.registry import LocalRegistry

    if LocalRegistry(registry).champion() is None:
        spec = DataSpec()
        forecaster = Forecaster.train(validate(load_reference(), spec, "reference"), spec)
        folder = registry.parent / "bench-model"
        forecaster.save(folder)
        LocalRegistry(registry).register(folder, {"note": "benchmark"}, promote=True)


def main() -> None:
    registry = REPO_ROOT / "build" / "bench-registry"
    ensure_champion(registry)
    servers = {
        "hello-world (floor)": (
            ["functions_framework", "--source", str(Path(__file__).parent / "hello" / "main.py"), "--target", "hello"],
            b"{}",
        ),
        "predict (48 periods)": (["functions.serve", "--function", "predict"], predict_body()),
    }
    print(f"predict load benchmark: {DURATION:.0f} s per run after a 2 s warm-up, loopback, {os.cpu_count()} cores")
    print(f"{'function':<22} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, (arguments, body) in servers.items():
        env = {"REGISTRY_URI": str(registry)} if arguments[0] == "functions.serve" else {}
        with serving(arguments, env) as url:
            load(url, body, 1, 2.0)  # warm-up: model load, first-request costs
            for connections in CONNECTIONS:
                result = load(url, body, connections, DURATION)
                print(
                    f"{name:<22} {connections:>5} {result['rps']:>8.1f} {result['p50_ms']:>8.1f} "
                    f"{result['p99_ms']:>8.1f} {result['errors']:>7}"
                )


if __name__ == "__main__":
    main()
