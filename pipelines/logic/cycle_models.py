"""The daily cycle's only contact with the forecaster, the registry, drift and the gate: small
adapters over their public functions, so that the cycle does not depend on how they work inside.

Retraining does what the training pipeline does (pipelines/kfp_glue/definitions.py): fit on all
but the holdout days, keep the training part as the drift reference, score challenger, champion
and the seasonal-naive baseline on the holdout, let the gate decide, and register through
`promotion.register` (the compare-and-swap on the champion).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.logic import drift, promotion
from pipelines.logic.evaluation import split_holdout
from pipelines.logic.features import max_horizon, required_history, training_rows
from pipelines.logic.forecast import forecast
from pipelines.logic.gate import decide
from pipelines.logic.model import TRAINING_DATA_FILE, Forecaster
from pipelines.logic.registry import ARTIFACT_FILES, ModelVersion, Registry
from pipelines.logic.spec import DataSpec


def champion(registry: Registry) -> ModelVersion | None:
    """The champion, or None when there is none (or its pointer is broken)."""
    return promotion.current_champion(registry)


def forecast_next_day(registry: Registry, version: ModelVersion, series: pd.DataFrame) -> pd.DataFrame:
    """The champion's forecast of the day after the series' last observation: timestamp, forecast."""
    forecaster = Forecaster.load(registry.fetch(version))
    return forecast(forecaster, series, max_horizon(forecaster.spec))


def drift_share(registry: Registry, version: ModelVersion, recent: pd.DataFrame) -> tuple[float, list[str]]:
    """Share of monitored columns whose recent distribution drifted from the champion's training
    data, and their names."""
    artifacts = registry.fetch(version, ARTIFACT_FILES)
    spec = Forecaster.load(artifacts).spec
    result = drift.detect_drift(pd.read_parquet(artifacts / TRAINING_DATA_FILE), recent, spec)
    return result.share, result.drifted


@dataclass(frozen=True)
class Retrained:
    version: str
    promoted: bool
    reason: str


# The metric a version retrained by the daily cycle carries: the day it was retrained for.
CYCLE_DAY = "cycle_day"


def retrained_for(registry: Registry, day: str) -> Retrained | None:
    """The version the cycle registered for `day`, if any: a retried task finds it instead of
    registering a second one (the step's outcome file is written only after registration)."""
    for version in registry.versions():
        if version.metrics.get(CYCLE_DAY) == day:
            return Retrained(version.version, bool(version.metrics["promoted"]), str(version.metrics["reason"]))
    return None


def retrain(
    registry: Registry,
    series: pd.DataFrame,
    spec: DataSpec,
    *,
    holdout_days: int,
    metric: str,
    margin: float,
    day: str | None = None,
    params: dict | None = None,
) -> Retrained:
    """Train a challenger on the series and register it, recording the cycle's `day` when given
    (`retrained_for`; a warm-up has none); it becomes champion only through the gate."""
    needed = required_history(spec, "training", holdout_days)
    if len(series) < needed:
        raise ValueError(f"only {len(series)} periods collected; retraining needs at least {needed}")
    training_part, holdout = split_holdout(series, spec, holdout_days)
    rows, target = training_rows(series, spec)
    keep = ~rows.index.isin(holdout)
    model_dir = Path(tempfile.mkdtemp(prefix="cycle-model-"))
    try:
        Forecaster.fit(rows[keep], target[keep], spec, params).save(model_dir)
        training_part.to_parquet(model_dir / TRAINING_DATA_FILE)
        evaluation = promotion.evaluate(registry, model_dir, series, spec, holdout_days)
        decision = decide(
            evaluation["challenger"], evaluation["champion"], evaluation["baseline"], metric=metric, margin=margin
        )
        version = promotion.register(
            registry,
            model_dir,
            evaluation,
            promote=decision.promote,
            reason=decision.reason,
            series=series,
            spec=spec,
            holdout_days=holdout_days,
            metric=metric,
            margin=margin,
            recorded={CYCLE_DAY: day} if day else None,
        )
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    return Retrained(version.version, bool(version.metrics["promoted"]), str(version.metrics["reason"]))
