"""`make demo`: the platform's main job on embedded defaults, with no cloud account.

1. synthesize every environment's stack (platform policy runs during synth)
2. checkov over the stacks
3-5. the training, prediction and monitoring pipelines, locally with kfp.local
then a short summary. Each pipeline's full log is kept in build/demo/<pipeline>.log. Running it
again is fine: the local registry keeps every version, and the champion changes only when a
challenger beats it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from environments.loading import BUILD_DIR, LOCAL_REGISTRY, REPO_ROOT
from pipelines.kfp_glue import EXECUTOR_OUTPUT
from pipelines.logic.data import load_reference
from pipelines.logic.promotion import current_champion
from pipelines.logic.registry import LocalRegistry
from pipelines.logic.spec import counted

DEMO_DIR = BUILD_DIR / "demo"
RECENT_DAYS = 14  # monitoring compares the last two weeks with the champion's training data
STEP_LINE = re.compile(r"(SUCCESS|FAILURE) ")  # the CLI's line per finished step


def step(number: int, total: int, title: str) -> float:
    print(f"[{number}/{total}] {title}", flush=True)
    return time.perf_counter()


def done(started: float, note: str = "") -> None:
    print(f"      done in {time.perf_counter() - started:.1f} s{f' — {note}' if note else ''}", flush=True)


def run_pipeline(name: str, params: dict | None = None) -> dict:
    """Run one pipeline in a child process (`make run-pipeline`'s CLI), showing its step lines;
    the child keeps kfp.local's full log in build/local-runs/logs/."""
    result_path = DEMO_DIR / f"{name}.result.json"
    result_path.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pipelines.ops.cli",
        "run",
        name,
        "--params",
        json.dumps(params or {}),
        "--result-file",
        str(result_path),
    ]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as child:
        last = ""
        for line in child.stdout:
            if STEP_LINE.match(line):
                print(f"      {line.rstrip()}", flush=True)
            last = line.strip() or last
    if child.returncode != 0:
        raise SystemExit(f"{name} pipeline {last}")
    return json.loads(result_path.read_text())


def main() -> int:
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    registry = LocalRegistry(LOCAL_REGISTRY)
    total = 6

    started = step(1, total, "synthesize every environment (CDK Terrain, platform policy at synth)")
    from infra.synth import format_counts, resource_counts, synthesize

    stacks = synthesize()
    counts = {name: resource_counts(path) for name, path in stacks.items()}
    done(started, ", ".join(f"{name}: {sum(c.values())} resources" for name, c in counts.items()))

    started = step(2, total, "checkov over the synthesized stacks (offline)")
    from infra.policy.checkov import check

    policy = check(list(stacks))
    done(started, f"{policy.passed} passed, {len(policy.failed)} failed, {len(policy.skipped)} skipped with reasons")
    if not policy.ok:
        raise SystemExit("policy failed: run `make policy` for the findings")

    before = current_champion(registry)  # a broken pointer counts as none; training heals it
    held_before = {version.version for version in registry.versions()}
    started = step(3, total, "training pipeline: ingest, validate, features, train, evaluate, gate, register")
    training = run_pipeline("training")
    output = training["output"]
    done(
        started,
        f"version {output} holds the same artifacts: nothing registered"
        if output in held_before
        else f"registered version {output}",
    )
    after = current_champion(registry)

    started = step(4, total, "prediction pipeline: the next day with the champion")
    prediction = run_pipeline("prediction")
    done(started)

    started = step(
        5, total, f"monitoring pipeline: drift of the last {RECENT_DAYS} days against the champion's training data"
    )
    recent = DEMO_DIR / "recent.csv"
    load_reference().tail(RECENT_DAYS * 48).to_csv(recent, index=False)
    # the recent window is new data for the reference's model: monitoring names that model's registry
    monitoring = run_pipeline("monitoring", {"source": str(recent), "registry_uri": str(LOCAL_REGISTRY)})
    drift = _task_output(Path(monitoring["output"]).parent)
    done(
        started,
        f"drift share {drift['drift_share']:.2f}, threshold {drift['threshold']:.2f}: "
        + ("retrained" if drift["retrain"] else "no retraining"),
    )
    started = step(6, total, "online prediction: POST the last 9 days to the predict function over HTTP")
    online = online_prediction()
    done(
        started,
        f"model version {online['model_version']}, first forecast {online['forecasts'][0]['forecast']:.0f} "
        f"MW at {online['forecasts'][0]['timestamp']}",
    )

    forecasts = shutil.copyfile(prediction["output"], DEMO_DIR / "forecasts.csv")
    report = shutil.copyfile(monitoring["output"], DEMO_DIR / "drift_report.html")

    registered = next(v for v in registry.versions() if v.version == training["output"])
    holdout, baseline = registered.metrics["holdout"], registered.metrics["baseline"]
    print("\nsummary")
    print(format_counts(counts).replace("\n", "\n  ").join(["  ", ""]))
    print(
        f"  policy: checkov {policy.passed} passed, {len(policy.failed)} failed "
        f"({len(policy.skipped)} skips with reasons in infra/policy/checkov_skips.yaml)"
    )
    print(
        f"  model (backtest, 7 daily folds) MAE {holdout['mae']:7.1f}  RMSE {holdout['rmse']:8.1f}  "
        f"MAPE {holdout['mape']:5.2f} %"
    )
    print(
        f"  better naive rule ({baseline['rule']:<12}) MAE {baseline['mae']:7.1f}  RMSE {baseline['rmse']:8.1f}  "
        f"MAPE {baseline['mape']:5.2f} %"
    )
    changed = (before.version if before else None) != (after.version if after else None)
    reason = (
        f"this run trained the very model version {registered.version} holds, so nothing was registered"
        if registered.version in held_before
        else registered.metrics["reason"]
    )
    print(
        f"  champion: version {after.version if after else 'none'} "
        f"({'changed from ' + (before.version if before else 'none') if changed else 'unchanged'}: {reason})"
    )
    print(f"  registry: {_shown(LOCAL_REGISTRY)} ({counted(len(registry.versions()), 'version', 'versions')})")
    print(
        f"  forecasts: {_shown(Path(forecasts))} (next {len(Path(forecasts).read_text().splitlines()) - 1} "
        f"half-hours, model version {after.version if after else 'none'})"
    )
    print(f"  drift report: {_shown(Path(report))} (share of drifted columns {drift['drift_share']:.2f})")
    print(
        f"  online: POST / -> model version {online['model_version']}, "
        + ", ".join(f"{f['timestamp'][11:16]} {f['forecast']:.0f}" for f in online["forecasts"])
    )
    return 0


def online_prediction() -> dict:
    """Serve predict on a free loopback port, as `make serve FUNCTION=predict` does, and call it."""
    from functions.serve import serving
    from pipelines.logic.data import DataSpec
    from pipelines.logic.features import history_periods

    history = load_reference().tail(history_periods(DataSpec()))
    body = {
        "history": [
            {"timestamp": t.isoformat(), "demand": float(d)}
            for t, d in zip(history["timestamp"], history["demand"], strict=True)
        ],
        "horizon": 4,
    }
    with serving(["functions.serve", "--function", "predict"]) as url:
        response = requests.post(url, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _task_output(task_dir: Path) -> dict:
    """The drift task's metrics and decision, from the executor output KFP writes for each task."""
    output = json.loads((task_dir / EXECUTOR_OUTPUT).read_text())
    metrics = output["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    return {
        "drift_share": metrics["drift_share"],
        "threshold": metrics["threshold"],
        "retrain": output["parameterValues"]["Output"],
    }


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
