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
from pipelines.logic import promotion
from pipelines.logic.backtest import train_challenger
from pipelines.logic.data import DataSpec, read_source, validate
from pipelines.logic.features import required_history
from pipelines.logic.gate import decide
from pipelines.logic.parameters import DEFAULTS
from pipelines.logic.registry import LocalRegistry

spec, folds = DataSpec(), DEFAULTS["holdout_days"]
series = validate(read_source("reference"), spec, "reference", min_history=required_history(spec, "training", folds))
folder = Path(tempfile.mkdtemp())
train_challenger(series, spec, folds).save(folder)
registry = LocalRegistry(Path({registry!r}))
evaluation = promotion.evaluate(registry, folder, series)
decision = decide(evaluation)
promotion.register(
    registry, folder, evaluation, promote=decision.promote, reason=decision.reason, series=series,
    metric="mae", margin=0.01,
)
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
            env=os.environ | {"TMPDIR": scratch},  # kfp.local's step programs go where the run's files go
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
