"""The daily cycle's only contact with the forecaster, the registry, drift and the gate: small
adapters over their public functions, so that the cycle does not depend on how they work inside.

Retraining does what the training pipeline does (pipelines/kfp_glue/definitions.py): backtest
every candidate on the last `holdout_days` days, refit the best on all data (the series is kept as
the drift reference), score the champion on the same folds, let the gate decide, and register
through `promotion.register` (the compare-and-swap on the champion).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.logic import drift, promotion
from pipelines.logic.backtest import train_challenger
from pipelines.logic.champion import load_champion
from pipelines.logic.features import max_horizon, required_history
from pipelines.logic.forecast import forecast
from pipelines.logic.gate import decide
from pipelines.logic.registry import ModelVersion, Registry
from pipelines.logic.spec import DataSpec, counted


def champion(registry: Registry) -> ModelVersion | None:
    """The champion, or None when there is none (or its pointer is broken)."""
    return promotion.current_champion(registry)


def forecast_next_day(registry: Registry, version: ModelVersion, series: pd.DataFrame) -> pd.DataFrame:
    """The champion's forecast of the day after the series' last observation: timestamp, forecast
    and its intervals."""
    _, forecaster = load_champion(registry, current=version)
    return forecast(forecaster, series, max_horizon(forecaster.spec))


def champion_drift(registry: Registry, version: ModelVersion, recent: pd.DataFrame) -> drift.DriftResult:
    """How the monitored columns of `recent` moved from the champion's training data."""
    _, forecaster = load_champion(registry, training_data=True, current=version)
    return drift.detect_drift(forecaster.training_data, recent, forecaster.spec)


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


def too_short_to_retrain(series: pd.DataFrame, spec: DataSpec, holdout_days: int) -> str | None:
    """Why `series` is too short to retrain on, if it is (a cycle's first weeks)."""
    needed = required_history(spec, "training", holdout_days)
    if len(series) >= needed:
        return None
    return (
        f"only {counted(len(series), 'period', 'periods')} collected; expected at least {needed} to retrain "
        f"({needed // spec.periods_per_day} days at {spec.frequency})"
    )


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
    if problem := too_short_to_retrain(series, spec, holdout_days):
        raise ValueError(problem)
    model_dir = Path(tempfile.mkdtemp(prefix="cycle-model-"))
    try:
        train_challenger(series, spec, holdout_days, params, metric=metric).save(model_dir)
        evaluation = promotion.evaluate(registry, model_dir, series)
        decision = decide(evaluation, metric=metric, margin=margin)
        version = promotion.register(
            registry,
            model_dir,
            evaluation,
            promote=decision.promote,
            reason=decision.reason,
            series=series,
            metric=metric,
            margin=margin,
            recorded={CYCLE_DAY: day} if day else None,
        )
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    return Retrained(version.version, bool(version.metrics["promoted"]), str(version.metrics["reason"]))
