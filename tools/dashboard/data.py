"""What the dashboard shows, read from a registry and a pipeline root, local or in the cloud.

`Sources` names both: locally the registry folder and kfp.local's run folder (`make dashboard`);
deployed, the environment's registry (`vertex://<project>/<region>/<model>`, read through
`pipelines.logic.registry`, whose artifacts are in the models bucket) and its pipeline-root bucket
(`gs://<bucket>/<prefix>`, read with google-cloud-storage), where Vertex AI keeps each run under
`<prefix>/<run>/<task>/` as kfp.local does locally. Only reads: nothing here writes anywhere.

Every reader returns plain data (lists and dicts) and an empty result when its source does not
exist yet, so the page shows what exists: a fresh checkout shows an empty page that says what to
run, never an error.

- forecasts against actuals: the registry's champion applied to the last `BACKTEST_DAYS` of the
  series it was trained on (its drift reference, stored with every version: any model's own data,
  of its own spec), each period forecast from data at least a day old as the daily prediction
  does, with its 80 % and 95 % intervals (as predict serves them), next to the weekly
  seasonal-naive rule;
- accuracy per model version: each version's holdout metrics and the naive baseline's, from the
  version metadata the gate records;
- champion history: the versions that were promoted, in order, with the gate's reason;
- drift: the drift share of the newest monitoring run of the registry's model in the pipeline root;
- recent runs: the newest run folders of the pipeline root, with their tasks and status;
- the daily cycle (when its store is given): the stored forecasts of each model version against
  the collected actuals, and each scored day's accuracy per version next to the naive rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.kfp_glue import EXECUTOR_OUTPUT
from pipelines.logic.cycle_store import CycleStore
from pipelines.logic.data import DataSpec
from pipelines.logic.registry import Registry, RegistryError, open_registry

if TYPE_CHECKING:
    from pipelines.logic.model import Forecaster

BACKTEST_DAYS = 7
RECENT_RUNS = 10
_champions: dict[str, Forecaster] = {}  # loaded forecasters by their artifacts (a folder or gs:// prefix)


@dataclass(frozen=True)
class Sources:
    registry: str  # a registry URI: a folder, or vertex://<project>/<region>/<model>
    runs: str  # a pipeline root: a folder, or gs://<bucket>[/<prefix>]
    # The daily cycle's store: a folder (build/cycle/<model> locally) or gs://<bucket>/<prefix>.
    cycle: str | None = None


@dataclass(frozen=True)
class Task:
    """One task folder of one run in a pipeline root."""

    run: str
    name: str
    updated: float  # seconds since the epoch: its executor output's time, else the folder's
    read_output: Callable[[], bytes] | None  # reads its executor output; None when it has none


_BUCKET = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/.*)?")


def check_runs_root(root: str) -> str:
    """`root` if it names a folder or a gs:// bucket (and prefix), else ValueError saying what."""
    if root.startswith("gs://") and not _BUCKET.fullmatch(root):
        raise ValueError(f"--runs {root[:80]!r}: expected gs://<bucket>[/<prefix>] or a folder")
    return root


def tasks(root: str) -> list[Task]:
    """Every `<run>/<task>/` under the pipeline root `root` (a folder or gs:// prefix)."""
    return list(_bucket_tasks(root) if root.startswith("gs://") else _folder_tasks(Path(root)))


def _folder_tasks(root: Path) -> Iterator[Task]:
    for task in root.glob("*/*/") if root.is_dir() else []:
        output = task / EXECUTOR_OUTPUT
        if output.is_file():
            yield Task(task.parent.name, task.name, output.stat().st_mtime, output.read_bytes)
        else:
            yield Task(task.parent.name, task.name, task.stat().st_mtime, None)


def _bucket_tasks(root: str) -> Iterator[Task]:
    """One listing of the objects under the prefix; a task is a `<run>/<task>/` holding any object."""
    from google.cloud import storage

    bucket_name, _, prefix = root.removeprefix("gs://").partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    found: dict[tuple[str, str], Task] = {}
    for blob in storage.Client().list_blobs(bucket_name, prefix=prefix):
        parts = blob.name.removeprefix(prefix).split("/")
        if len(parts) < 3:
            continue
        key, updated = (parts[0], parts[1]), blob.updated.timestamp()
        if parts[2:] == [EXECUTOR_OUTPUT]:
            found[key] = Task(*key, updated, blob.download_as_bytes)
        elif key not in found or (found[key].read_output is None and updated > found[key].updated):
            found[key] = Task(*key, updated, None)  # without an output: as new as its newest object
    return iter(found.values())


def accuracy(registry: Registry) -> list[dict]:
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


def champion(registry: Registry) -> tuple[str, Forecaster] | None:
    """The champion's version and forecaster, with the series it was trained on; None without a
    (readable) champion. A registry in the cloud downloads a version once."""
    from pipelines.logic.champion import load_champion

    try:
        version = registry.champion()
        if version is None:
            return None
        if version.artifacts not in _champions:
            _champions[version.artifacts] = load_champion(registry, training_data=True, current=version)[1]
    except (RegistryError, ValueError):
        return None
    return version.version, _champions[version.artifacts]


def backtest(current: tuple[str, Forecaster] | None, days: int = BACKTEST_DAYS) -> dict | None:
    """The champion's day-ahead forecasts of the last `days` of its training series (each day from
    the data before it), the actuals and the weekly seasonal-naive forecasts; None without a
    champion."""
    import numpy as np

    from pipelines.logic.backtest import fold_origins
    from pipelines.logic.model import Series, interval_bounds, interval_level

    if current is None:
        return None
    version, forecaster = current
    spec: DataSpec = forecaster.spec
    series = forecaster.training_data
    arrays = Series.of(series, spec)
    origins = fold_origins(arrays, spec, days)
    per_day = spec.periods_per_day
    forecasts = forecaster.predict_origins(arrays.y, origins, per_day, arrays.first_period(spec), arrays.known)
    periods = (origins[:, None] + np.arange(per_day)[None, :]).reshape(-1)
    actual = series[spec.target_column]
    week = 7 * per_day
    bounds = {}
    if forecaster.intervals is not None:  # as served: around each day's forecast, scaled by `interval_level`
        level = interval_level(arrays.y, origins, per_day, forecaster.interval_level_days)[:, None]
        bounds = interval_bounds(forecasts, level, forecaster.intervals, spec)
    return {
        "version": version,
        "target": spec.target_column,
        "timestamps": [t.isoformat() for t in series.index[periods]],
        "forecast": [float(v) for v in forecasts.reshape(-1)],
        **{key: [float(v) for v in values.reshape(-1)] for key, values in bounds.items()},
        "actual": [float(v) for v in actual.iloc[periods]],
        "naive": [float(v) for v in actual.iloc[periods - week]],
    }


def runs(found: list[Task], limit: int = RECENT_RUNS) -> list[dict]:
    """The newest pipeline runs (by their newest task): name, tasks finished and status."""
    by_run: dict[str, list[Task]] = {}
    for task in found:
        by_run.setdefault(task.run, []).append(task)
    newest = sorted(by_run.items(), key=lambda item: max(t.updated for t in item[1]), reverse=True)
    return [
        {
            "run": run,
            "tasks": len(run_tasks),
            "finished": sum(task.read_output is not None for task in run_tasks),
            # kfp.local and Vertex AI write a task's output when it succeeds: a task without one
            # failed, was stopped, or is still running.
            "status": "succeeded" if all(task.read_output is not None for task in run_tasks) else "failed or stopped",
        }
        for run, run_tasks in newest[:limit]
    ]


def drift(found: list[Task], registry: str) -> dict | None:
    """The drift share and threshold of the newest monitoring run of `registry`'s champion (runs
    that recorded no registry count as its), or None."""
    for task in sorted((t for t in found if t.read_output), key=lambda t: t.updated, reverse=True):
        try:
            artifacts = json.loads(task.read_output()).get("artifacts", {})
            metadata = artifacts["metrics"]["artifacts"][0]["metadata"]
            monitored = artifacts.get("report_json", {}).get("artifacts", [{}])[0].get("metadata", {})
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
        if "registry_uri" in monitored and not _same_registry(monitored["registry_uri"], registry):
            continue  # another model's monitoring
        if "drift_share" in metadata:
            return {
                "run": task.run,
                "drift_share": float(metadata["drift_share"]),
                "threshold": float(metadata["threshold"]),
            }
    return None


def _same_registry(one: str, other: str) -> bool:
    """Two registry URIs name one registry: the same vertex:// URI, or folders that resolve alike."""
    if one.startswith("vertex://") or other.startswith("vertex://"):
        return one == other
    return Path(one).resolve() == Path(other).resolve()


def cycle_forecasts(store: CycleStore, spec: DataSpec) -> dict | None:
    """The daily cycle's stored forecasts against the collected actuals: the timestamps forecast,
    the actuals (None where not collected yet) and one series per model version; None when the
    cycle has stored no forecast."""
    forecasts = store.forecasts()
    if forecasts.empty:
        return None
    observations = store.observations()
    actual = observations.set_index(spec.timestamp_column)[spec.target_column] if not observations.empty else None
    timestamps = sorted(set(forecasts[spec.timestamp_column]))
    by_version = {}
    for version, rows in forecasts.groupby(forecasts["model_version"].astype(str)):
        values = rows.set_index(spec.timestamp_column)["forecast"]
        by_version[version] = [float(values[t]) if t in values.index else None for t in timestamps]
    return {
        "target": spec.target_column,
        "timestamps": [t.isoformat() for t in timestamps],
        "actual": [float(actual[t]) if actual is not None and t in actual.index else None for t in timestamps],
        "versions": dict(sorted(by_version.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)),
    }


def cycle_accuracy(store: CycleStore) -> list[dict]:
    """Each scored day's MAE per model version, next to the naive rules' MAE that day."""
    scores = store.scores()
    if scores.empty:
        return []
    return [
        {
            "day": row["day"],
            "version": str(row["model_version"]),
            "mae": float(row["mae"]),
            "naive_daily": float(row["naive_daily_mae"]),
            "naive_weekly": float(row["naive_weekly_mae"]),
        }
        for row in scores.sort_values(["day", "model_version"]).to_dict("records")
    ]


def gather_cycle(root: Path | str, spec: DataSpec | None) -> dict:
    """What the dashboard shows of the daily cycle (a folder or, with credentials, a gs:// root);
    its forecasts need the model's spec (its columns), known once there is a champion."""
    store = CycleStore(str(root))
    return {"forecasts": cycle_forecasts(store, spec) if spec else None, "accuracy": cycle_accuracy(store)}


def gather(sources: Sources) -> dict:
    registry = open_registry(sources.registry)
    rows = accuracy(registry)
    found = tasks(sources.runs)
    current = champion(registry)
    spec = current[1].spec if current else None  # the cycle's columns: the model's
    gathered = {
        "accuracy": rows,
        "champions": champion_history(rows),
        "backtest": backtest(current),
        "drift": drift(found, sources.registry),
        "runs": runs(found),
    }
    return gathered | ({"cycle": gather_cycle(sources.cycle, spec)} if sources.cycle is not None else {})
