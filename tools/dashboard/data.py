"""What the dashboard shows, read from the local registry and the local run outputs.

Every reader returns plain data (lists and dicts) and an empty result when its source does not
exist yet, so the page shows what exists: a fresh checkout shows an empty page that says what to
run, never an error.

- forecasts against actuals: the registry's champion applied to the reference data's last
  `BACKTEST_DAYS` (each period forecast from data at least a day old, as the daily prediction does),
  next to the weekly seasonal-naive rule; the model gives point forecasts only, so no intervals;
- accuracy per model version: each version's holdout metrics and the naive baseline's, from the
  version metadata the gate records;
- champion history: the versions that were promoted, in order, with the gate's reason;
- drift: the drift share of the newest monitoring run in the local pipeline root;
- recent runs: the newest folders of the local pipeline root, with their tasks and status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.registry import LocalRegistry, RegistryError

BACKTEST_DAYS = 7
RECENT_RUNS = 10
EXECUTOR_OUTPUT = "executor_output.json"  # what kfp.local writes for each finished task


@dataclass(frozen=True)
class Sources:
    registry: Path
    runs: Path


def accuracy(registry: LocalRegistry) -> list[dict]:
    """One row per version: version, created, the holdout and baseline metrics, promoted."""
    rows = []
    for version in registry.versions():
        metrics = version.metrics
        rows.append(
            {
                "version": version.version,
                "created": version.created,
                "holdout": metrics.get("holdout", {}),
                "baseline": metrics.get("baseline", {}),
                "promoted": bool(metrics.get("promoted")),
                "reason": metrics.get("reason", ""),
            }
        )
    return rows


def champion_history(rows: list[dict]) -> list[dict]:
    """The promoted versions in order: each was champion from its registration to the next one's."""
    promoted = [row for row in rows if row["promoted"]]
    return [
        {
            "version": row["version"],
            "since": row["created"],
            "until": after["created"] if after else None,
            "reason": row["reason"],
        }
        for row, after in zip(promoted, [*promoted[1:], None], strict=False)
    ]


def backtest(registry: LocalRegistry, days: int = BACKTEST_DAYS) -> dict | None:
    """The champion's day-ahead forecasts of the reference data's last `days` (each day from the
    data before it), the actuals and the weekly seasonal-naive forecasts; None without a
    (readable) champion."""
    import numpy as np

    from pipelines.logic.backtest import fold_origins
    from pipelines.logic.champion import load_champion
    from pipelines.logic.model import Series

    try:
        champion = load_champion(registry)
    except (RegistryError, ValueError):
        return None
    if champion is None:
        return None
    version, forecaster = champion
    spec: DataSpec = forecaster.spec
    series = validate(load_reference(), spec, "reference")
    arrays = Series.of(series, spec)
    origins = fold_origins(arrays, spec, days)
    per_day = spec.periods_per_day
    forecasts = forecaster.predict_origins(arrays.y, origins, per_day, arrays.first_period(spec), arrays.known)
    periods = (origins[:, None] + np.arange(per_day)[None, :]).reshape(-1)
    actual = series[spec.target_column]
    week = 7 * per_day
    return {
        "version": version.version,
        "timestamps": [t.isoformat() for t in series.index[periods]],
        "forecast": [float(v) for v in forecasts.reshape(-1)],
        "actual": [float(v) for v in actual.iloc[periods]],
        "naive": [float(v) for v in actual.iloc[periods - week]],
    }


def runs(root: Path, limit: int = RECENT_RUNS) -> list[dict]:
    """The newest local pipeline runs: name, start (folder time), tasks finished and status."""
    if not root.is_dir():
        return []
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    found = []
    for folder in folders[:limit]:
        tasks = sorted(p for p in folder.iterdir() if p.is_dir())
        finished = [task for task in tasks if (task / EXECUTOR_OUTPUT).is_file()]
        found.append(
            {
                "run": folder.name,
                "tasks": len(tasks),
                "finished": len(finished),
                # kfp.local writes a task's output when it succeeds: a task without one failed or
                # was stopped.
                "status": "succeeded" if tasks and len(finished) == len(tasks) else "failed or stopped",
            }
        )
    return found


def drift(root: Path) -> dict | None:
    """The newest monitoring run's drift share and threshold, or None."""
    newest = None
    for output in root.glob(f"*/*/{EXECUTOR_OUTPUT}") if root.is_dir() else []:
        try:
            artifacts = json.loads(output.read_text()).get("artifacts", {})
            metadata = artifacts["metrics"]["artifacts"][0]["metadata"]
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
        if "drift_share" in metadata and (newest is None or output.stat().st_mtime > newest[0]):
            newest = (output.stat().st_mtime, output.parent.parent.name, metadata)
    if newest is None:
        return None
    _, run, metadata = newest
    return {"run": run, "drift_share": float(metadata["drift_share"]), "threshold": float(metadata["threshold"])}


def gather(sources: Sources) -> dict:
    registry = LocalRegistry(sources.registry)
    rows = accuracy(registry)
    return {
        "accuracy": rows,
        "champions": champion_history(rows),
        "backtest": backtest(registry),
        "drift": drift(sources.runs),
        "runs": runs(sources.runs),
    }
