"""Load benchmark: the predict function on loopback, next to a hello-world function (the floor:
functions-framework itself) measured in the same run; then malformed requests next to valid ones.

Each server runs under functions-framework as `make serve` runs it: the floor with the framework's
defaults (gunicorn, 4 threads per core), predict as deployed (THREADS=1: one request at a time,
functions/settings.py), and the floor again with predict's THREADS, to show what that setting
alone is worth. Beside the floor, a function
that reads predict's request and writes predict's own answer to it (computed beforehand) with no
work in between shows what the bytes alone cost. wrk (installed with apt-get
when missing and running as root; it takes little CPU from the server) keeps 1 or 8 persistent
connections busy for DURATION seconds per function after a warm-up, split into ROUNDS rounds that
visit the functions in turn, so that each function is measured next to its floor while the
machine's speed drifts (on a shared machine it drifts by a fifth within minutes). It reports
requests per second, p50/p99 latency (medians over the rounds), the errors and the ratio to the
floor (the median of each round's ratio, with the lowest and highest); without wrk a Python load
generator stands in. The
malformed-request run also uses wrk: each finding of issue 17 alone on one connection, then all of
them in turn on 8 connections next to valid requests, with the answers counted by status.
Figures are printed, never asserted. Requests only go to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import requests

from environments.loading import load_environment
from functions.serve import serving
from functions.settings import deployed_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DURATION = float(os.environ.get("BENCH_SECONDS", "10"))  # per function and connection count
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = (1, 8)
SCRIPT = str(Path(__file__).with_name("malformed.lua"))


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
    from pipelines.logic.data import DataSpec, load_reference
    from pipelines.logic.features import history_periods

    history = load_reference().tail(history_periods(DataSpec()) + 48)  # 9 days, as issue 13 measures
    rows = [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(history["timestamp"], history["demand"], strict=True)
    ]
    return json.dumps({"history": rows, "horizon": 48}).encode()


def ensure_champion(registry: Path):
    """The champion version and forecaster of the benchmark's registry, trained first when there is
    none the current code reads (as the pipeline trains: backtest, then refit)."""
    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.data import DataSpec, load_reference, validate
    from pipelines.logic.promotion import readable_champion
    from pipelines.logic.registry import LocalRegistry

    if readable_champion(LocalRegistry(registry)) is None:
        spec = DataSpec()
        forecaster = train_challenger(validate(load_reference(), spec, "reference"), spec, 7)
        folder = registry.parent / "bench-model"
        forecaster.save(folder)
        LocalRegistry(registry).register(folder, {"note": "benchmark"}, promote=True)
    return readable_champion(LocalRegistry(registry))


def predict_answer(champion, body: bytes) -> bytes:
    """The champion's answer to `body`, in the bytes the predict function writes (fast_json)."""
    import orjson

    from pipelines.logic.online import answer, parse

    version, forecaster = champion
    return orjson.dumps(answer(forecaster, version.version, parse(json.loads(body), forecaster.spec)))


def malformed_bodies(valid: bytes) -> dict[str, bytes]:
    """The request findings of issue 17, and other malformed bodies, each built on the valid body."""
    body = json.loads(valid)
    rows = body["history"]

    def with_rows(changed: list[dict]) -> bytes:
        return json.dumps(body | {"history": changed}).encode()

    wide = [dict(row) for row in rows]
    wide[0]["timestamp"], wide[-1]["timestamp"] = "1677-09-22T00:00:00", "2262-04-11T00:00:00"
    late_stamps = pd.date_range(end="2262-04-11", periods=len(rows), freq="30min")
    late = [dict(row, timestamp=stamp.isoformat()) for row, stamp in zip(rows, late_stamps, strict=True)]
    nan = [dict(row) for row in rows]
    nan[5]["demand"] = float("nan")
    huge = json.dumps(rows[0]["demand"]).encode()
    return {
        "span 1677-2262 (24 KB)": with_rows(wide),
        "ends at pandas' last date": with_rows(late),
        "nested 30,000 deep": b'{"history": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        "5,000-digit integer": b'{"history": [], "horizon": ' + b"7" * 5000 + b"}",
        "10**400 in history": valid.replace(huge, b"1" + b"0" * 400, 1),
        "NaN in history": with_rows(nan),
        "truncated JSON": valid[: len(valid) // 2],
        "not UTF-8": b"\xff" + valid,
        "history an object": b'{"history": {}}',
        "1 MiB + 1 byte": b" " * (1024 * 1024 + 1),
    }


def ensure_wrk() -> str | None:
    """wrk, installed from the distribution's packages when missing and allowed."""
    if not shutil.which("wrk") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
    return shutil.which("wrk")


def wrk_run(wrk: str, url: str, bodies: list[bytes], connections: int, seconds: float) -> dict:
    """POST `bodies` in turn for `seconds`; statuses counted, latency figures in ms (malformed.lua)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, payload in enumerate(bodies):
            path = Path(folder) / f"{index}.json"
            path.write_bytes(payload)
            paths.append(str(path))
        options = [f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", SCRIPT]
        result = subprocess.run(
            [wrk, *options, url, "--", *paths],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def wrk_load(wrk: str, url: str, body: bytes, connections: int, seconds: float) -> dict:
    """Throughput and latency of one body under wrk; errors are answers other than 200 and socket errors."""
    result = wrk_run(wrk, url, [body], connections, seconds)
    return {
        "rps": result["requests"] / result["seconds"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "errors": result["requests"] - result["statuses"].get("200", 0) + result["socket_errors"],
    }


def malformed_requests(wrk: str, url: str, valid: bytes) -> None:
    bodies = malformed_bodies(valid)
    print("\nmalformed requests against predict (wrk, loopback); valid requests alongside for comparison")
    print(
        f"{'body':<28} {'conns':>5} {'requests':>9} {'statuses':<26} {'p50 ms':>8} {'slowest ms':>10} {'sock err':>8}"
    )

    def show(name: str, connections: int, result: dict) -> None:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result["statuses"].items()))
        print(
            f"{name:<28} {connections:>5} {result['requests']:>9} {statuses:<26} {result['p50_ms']:>8.1f} "
            f"{result['max_ms']:>10.1f} {result['socket_errors']:>8}"
        )

    show("valid (48 periods)", 1, wrk_run(wrk, url, [valid], 1, 2))
    for name, body in bodies.items():
        show(name, 1, wrk_run(wrk, url, [body], 1, 2))
    show("valid (48 periods)", 8, wrk_run(wrk, url, [valid], 8, DURATION))
    show("all malformed, in turn", 8, wrk_run(wrk, url, list(bodies.values()), 8, DURATION))


def main() -> None:
    registry = REPO_ROOT / "build" / "bench-registry"
    champion = ensure_champion(registry)
    floors = str(Path(__file__).parent / "hello" / "main.py")
    body = predict_body()
    answer_file = registry.parent / "bench-answer.json"
    answer_file.write_bytes(predict_answer(champion, body))
    # As deployed, the champion alias is checked once a minute (`make serve` checks on every request).
    deployed = deployed_settings("predict", load_environment("dev"), team_accounts={}).to_env()
    served_as_deployed = {key: deployed[key] for key in ("CHAMPION_CHECK_SECONDS", "THREADS")}
    predict_env = {"REGISTRY_URI": str(registry), **served_as_deployed}
    predict_name = f"predict ({champion[1].family})"
    hello = ["functions_framework", "--source", floors, "--target", "hello"]
    servers = {
        "hello-world (floor)": (hello, b"{}", {}),
        # The floor with predict's own server setting: what that setting alone gives.
        f"hello-world, THREADS={deployed['THREADS']}": (hello, b"{}", {"THREADS": deployed["THREADS"]}),
        # Predict's request in, its answer out, no work between: what the bytes alone cost.
        "same bytes, no work": (
            ["functions_framework", "--source", floors, "--target", "same_bytes"],
            body,
            {"SAME_BYTES_ANSWER": str(answer_file)},
        ),
        predict_name: (["functions.serve", "--function", "predict"], body, predict_env),
    }
    wrk = ensure_wrk()
    generator = "wrk" if wrk else "a Python load generator (wrk is not installed)"
    print(f"predict load benchmark: 9 days of history, 48 periods; {generator}, loopback, {os.cpu_count()} cores.")
    print(f"{ROUNDS} rounds of {DURATION / ROUNDS:g} s per function and connection count, the functions in turn within")
    print("each round (the machine's speed drifts): medians over the rounds; `x floor` is the median of each")
    print("round's ratio to the floor, with the lowest and highest round")
    print(
        f"{'function':<22} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x floor':>8} "
        f"{'rounds':>11}"
    )
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serving(arguments, env)) for name, (arguments, _, env) in servers.items()}
        for name, url in urls.items():
            load(url, servers[name][1], 1, 2.0)  # warm-up: model load, first-request costs
        for connections in CONNECTIONS:
            results: dict[str, list[dict]] = {name: [] for name in servers}
            for _ in range(ROUNDS):
                for name, url in urls.items():
                    body, seconds = servers[name][1], DURATION / ROUNDS
                    run = (
                        wrk_load(wrk, url, body, connections, seconds) if wrk else load(url, body, connections, seconds)
                    )
                    results[name].append(run)
            floor = [run["rps"] for run in results["hello-world (floor)"]]
            for name, runs in results.items():
                ratios = [run["rps"] / floor_rps for run, floor_rps in zip(runs, floor, strict=True)]
                print(
                    f"{name:<22} {connections:>5} {median(runs, 'rps'):>8.1f} {median(runs, 'p50_ms'):>8.2f} "
                    f"{median(runs, 'p99_ms'):>8.2f} {sum(run['errors'] for run in runs):>7} "
                    f"{statistics.median(ratios):>7.2f}x {min(ratios):>5.2f}-{max(ratios):.2f}"
                )
        if wrk:
            malformed_requests(wrk, urls[predict_name], servers[predict_name][1])
        else:
            print("wrk is not installed (apt-get install wrk): malformed-request run skipped")


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


if __name__ == "__main__":
    main()
