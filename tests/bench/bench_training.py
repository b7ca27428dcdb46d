"""Benchmark: the local training pipeline (kfp.local, one subprocess per component) next to the
same steps called directly in one process, on the same data in the same run.

Each case runs RUNS times in a fresh process; wall time is printed (median and worst), never
asserted. The difference is kfp.local's price: a python start and imports per component, and
artifacts written to and read from disk between steps.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

DIRECT = """
import tempfile
from pathlib import Path
from pipelines.logic.data import DataSpec, read_source, validate
from pipelines.logic.evaluation import evaluate_on_holdout, metrics, seasonal_naive, split_holdout
from pipelines.logic.features import required_history, training_rows
from pipelines.logic.gate import decide
from pipelines.logic.model import Forecaster
from pipelines.logic.registry import LocalRegistry

spec, holdout_days = DataSpec(), 7
series = validate(read_source("reference"), spec, "reference", min_history=required_history(spec, "training", 7))
training, holdout = split_holdout(series, spec, holdout_days)
features, target = training_rows(training, spec)
forecaster = Forecaster.fit(features, target, spec)
challenger = evaluate_on_holdout(forecaster, series, holdout)
baseline = metrics(series.loc[holdout, spec.target_column].to_numpy(), seasonal_naive(series, spec, holdout))
registry = LocalRegistry(Path({registry!r}))
current = registry.champion()
champion = evaluate_on_holdout(Forecaster.load(registry.fetch(current)), series, holdout) if current else None
decision = decide(challenger, champion, baseline)
folder = Path(tempfile.mkdtemp())
forecaster.save(folder)
registry.register(folder, {{"holdout": challenger}}, promote=decision.promote)
"""

PIPELINE = """
from pathlib import Path
from pipelines.kfp_glue import local
from pipelines.kfp_glue.definitions import build
local.init(Path({root!r}))
build().training(registry_uri={registry!r})
"""


def measure(code: str) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        source = code.format(registry=f"{scratch}/registry", root=f"{scratch}/root")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", source],
            cwd=REPO_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def main() -> None:
    print(f"training benchmark: reference dataset (4032 half-hours), {RUNS} fresh processes each")
    print(f"{'case':<40} {'median':>8} {'worst':>8}")
    results = {}
    for name, code in (("steps called directly, one process", DIRECT), ("kfp.local pipeline, 7 components", PIPELINE)):
        walls = [measure(code) for _ in range(RUNS)]
        results[name] = statistics.median(walls)
        print(f"{name:<40} {statistics.median(walls):>7.1f}s {max(walls):>7.1f}s")
    direct, pipeline = results.values()
    print(f"kfp.local overhead: +{pipeline - direct:.1f}s ({pipeline / direct:.1f}x)")


if __name__ == "__main__":
    main()
