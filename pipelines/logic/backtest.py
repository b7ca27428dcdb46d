"""The rolling-origin backtest: the evaluation of every candidate and baseline alike.

Fold k forecasts every period of day D_k from data up to the end of day D_k - 1 (the origin, at
midnight); the folds are the last `days` whole days of the series. Every candidate is refit on the
data before each fold's origin (the seasonal model on its trailing window, the trees on up to a
year) and forecasts through the same code that serves it; the naive rules read the day, or the
day a week, before. A candidate's fit is timed in CPU seconds (on a shared machine wall time
measures the neighbours).

Intervals are conformal on relative residuals (actual - forecast) / level, level being the mean
of the week before the origin, per step, pooled over the steps h - POOL..h + POOL. The coverage a
backtest reports is leave-one-fold-out: fold k's interval comes from the other folds' residuals,
never its own. The registered model's intervals come from the chosen family's residuals on the
last CALIBRATION_DAYS days (its backtest's and, refit weekly, the days before it, as far as the
series allows; why not the backtest's alone: CALIBRATION_DAYS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.logic.evaluation import NAIVE_RULES, Evaluation, Scores, point_scores
from pipelines.logic.features import MIN_TRAINING_DAYS
from pipelines.logic.model import (
    ENSEMBLE_PARTS,
    FAMILIES,
    INTERVAL_KEYS,
    INTERVAL_LEVEL_DAYS,
    LEVELS,
    Forecaster,
    Series,
    ensemble_of,
    interval_bounds,
    interval_level,
)
from pipelines.logic.parameters import DEFAULTS
from pipelines.logic.spec import DataSpec

POOL = 2
# The days whose residuals set a registered model's intervals (the backtest's days, if more). On the
# accuracy benchmark's three series (56 days, chosen on them), a champion chosen each day on the
# week before it covered 73-77 % and 85-88 % with that week's residuals, 78.9-80.7 % and 94.2-96.4 % with
# 28 days' (BENCH_CALIBRATION_DAYS=7 and 28).
CALIBRATION_DAYS = 28


@dataclass
class FoldForecasts:
    """One method's forecasts of every fold: (folds, periods_per_day) arrays."""

    forecast: np.ndarray
    actual: np.ndarray
    level: np.ndarray  # (folds,) the residuals' scale at each origin (model.interval_level)
    fit_seconds: float = 0.0
    # Each fold's own interval quantiles, where they were set per fold (a model chosen day by day).
    fold_intervals: list[dict[str, np.ndarray]] | None = None

    def relative_residuals(self) -> np.ndarray:
        return (self.actual - self.forecast) / self.level[:, None]

    def mae(self) -> float:
        return point_scores(self.actual, self.forecast)["mae"]

    def folds(self, which: slice) -> FoldForecasts:
        """These forecasts of some of the folds."""
        return FoldForecasts(
            self.forecast[which],
            self.actual[which],
            self.level[which],
            self.fit_seconds,
            None if self.fold_intervals is None else self.fold_intervals[which],
        )

    def scores(self, intervals: dict[str, np.ndarray] | None = None) -> Scores:
        """Point scores, and the coverage of `intervals` (fixed quantiles, e.g. a champion's), else
        of each fold's own (`fold_intervals`), else of leave-one-fold-out conformal intervals."""
        residuals = self.relative_residuals()
        inside = {level: [] for level in LEVELS}
        for k in range(len(self.forecast)):
            quantiles = intervals or (
                self.fold_intervals[k]
                if self.fold_intervals is not None
                else conformal_quantiles(np.delete(residuals, k, axis=0))
            )
            bounds = interval_bounds(self.forecast[k], self.level[k], quantiles)
            for level in LEVELS:
                inside[level].append(
                    (self.actual[k] >= bounds[f"lo_{level}"]) & (self.actual[k] <= bounds[f"hi_{level}"])
                )
        coverage = {level: float(np.mean(np.concatenate(inside[level])) * 100) for level in LEVELS}
        return Scores(
            **point_scores(self.actual, self.forecast),
            coverage_80=coverage[80],
            coverage_95=coverage[95],
            fit_seconds=self.fit_seconds,
        )


def conformal_quantiles(relative_residuals: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step quantiles of relative residuals (folds, steps) for INTERVAL_KEYS, pooling steps
    h - POOL..h + POOL, with the finite-sample correction of split conformal on each tail."""
    residuals = np.asarray(relative_residuals, dtype=float)
    steps = residuals.shape[1]
    quantiles = {key: np.zeros(steps) for key in INTERVAL_KEYS}
    for step in range(steps):
        pooled = residuals[:, max(0, step - POOL) : step + POOL + 1].reshape(-1)
        pooled = pooled[np.isfinite(pooled)]
        n = len(pooled)
        if not n:
            continue
        for level in LEVELS:
            tail = (1 - level / 100) / 2
            quantiles[f"lo_{level}"][step] = np.quantile(pooled, max(0.0, np.floor((n + 1) * tail) / n))
            quantiles[f"hi_{level}"][step] = np.quantile(pooled, min(1.0, np.ceil((n + 1) * (1 - tail)) / n))
    return quantiles


def fold_origins(series: Series, spec: DataSpec, days: int) -> np.ndarray:
    """The first index of each of the last `days` whole days."""
    per_day = spec.periods_per_day
    end = len(series.y) - (series.first_period(spec) + len(series.y)) % per_day
    return end - per_day * np.arange(days, 0, -1)


def _fold_forecasts(
    series: Series, spec: DataSpec, origins: np.ndarray, forecast, seconds: float, level_days: int = INTERVAL_LEVEL_DAYS
) -> FoldForecasts:
    per_day = spec.periods_per_day
    actual = np.stack([series.y[o : o + per_day] for o in origins])
    level = interval_level(series.y, origins, per_day, level_days)
    return FoldForecasts(np.asarray(forecast, dtype=float), actual, level, seconds)


def naive_forecasts(series: Series, spec: DataSpec, origins: np.ndarray) -> dict[str, FoldForecasts]:
    per_day = spec.periods_per_day
    return {
        rule: _fold_forecasts(
            series, spec, origins, [series.y[o - days * per_day : o - (days - 1) * per_day] for o in origins], 0.0
        )
        for rule, days in zip(NAIVE_RULES, (1, 7), strict=True)
    }


def candidate_forecasts(
    series: Series, spec: DataSpec, origins: np.ndarray, params: dict, families=FAMILIES, fitted_at=None
) -> dict[str, FoldForecasts]:
    """Each of `families` refit on each fold's data, forecasting the fold through its serving code;
    with `fitted_at` (one index per origin, at or before it: `weekly_fits`), fitted on the data
    before that index instead, once for the folds that share it. Fit time is CPU seconds per fit."""
    per_day, first = spec.periods_per_day, series.first_period(spec)
    fitted_at = origins if fitted_at is None else fitted_at
    ensemble = "ensemble" in families
    needed = set(families) | set(ENSEMBLE_PARTS if ensemble else ())
    fitted_families = [family for family in FAMILIES if family in needed and family != "ensemble"]
    forecasts = {family: np.empty((len(origins), per_day)) for family in [*fitted_families, *(["ensemble"] * ensemble)]}
    seconds = dict.fromkeys(forecasts, 0.0)
    starts = np.unique(fitted_at)
    for start in starts:
        history, these = series.upto(int(start)), fitted_at == start
        for family in fitted_families:
            started = time.process_time()
            fitted = Forecaster.fit(history, spec, family, params)
            seconds[family] += time.process_time() - started
            forecasts[family][these] = fitted.predict_origins(series.y, origins[these], per_day, first, series.known)
        if ensemble:
            forecasts["ensemble"][these] = ensemble_of(*(forecasts[part][these] for part in ENSEMBLE_PARTS))
    if ensemble:
        seconds["ensemble"] = sum(seconds[part] for part in ENSEMBLE_PARTS)
    return {
        family: _fold_forecasts(series, spec, origins, forecasts[family], seconds[family] / len(starts))
        for family in families
    }


def first_training_origin(series: Series, spec: DataSpec) -> int:
    """The first midnight with MIN_TRAINING_DAYS of data before it: the earliest a fit may end."""
    enough = MIN_TRAINING_DAYS * spec.periods_per_day
    return enough + (-(series.first_period(spec) + enough)) % spec.periods_per_day


def calibration_origins(series: Series, spec: DataSpec, days: int) -> np.ndarray:
    """The origins of the last CALIBRATION_DAYS days before the last `days` (a backtest's), those
    with MIN_TRAINING_DAYS of data before them."""
    origins = fold_origins(series, spec, max(CALIBRATION_DAYS, days))[: max(0, CALIBRATION_DAYS - days)]
    return origins[origins >= first_training_origin(series, spec)]


def weekly_fits(series: Series, spec: DataSpec, origins: np.ndarray) -> np.ndarray:
    """Where the forecasts of `origins` (midnights) refit once a week end their data: at the Monday
    (UTC) that starts each one's week or, where that leaves less than MIN_TRAINING_DAYS of data, at
    the first midnight that does not. A day's forecast is then the same in every run on the series,
    at a seventh of the fits of a refit per day."""
    per_day = spec.periods_per_day
    days_since_monday = ((series.first_period(spec) + origins) // per_day + 3) % 7  # day 0 of the epoch: a Thursday
    return np.maximum(origins - days_since_monday * per_day, first_training_origin(series, spec))


def champion_forecasts(
    champion: Forecaster, series: Series, spec: DataSpec, origins: np.ndarray, challenger: Forecaster
) -> FoldForecasts:
    """The champion's forecast of each fold, out of sample on every fold: as registered (not
    refit) on the days after its training data; on days it was trained on, its recipe (family and
    settings) refit on the data before the fold, as every candidate is; these are the challenger
    run's own candidate forecasts when the recipe is one of them."""
    per_day, first = spec.periods_per_day, series.first_period(spec)
    forecast = champion.predict_origins(series.y, origins, per_day, first, series.known)
    trained_until = pd.Timestamp(champion.trained_until).as_unit("ns").value if champion.trained_until else np.inf
    seen = series.timestamps[origins] <= trained_until
    if seen.any():
        if champion.params == challenger.params and champion.family in challenger.fold_forecasts:
            forecast[seen] = challenger.fold_forecasts[champion.family][seen]
        else:
            for k in np.flatnonzero(seen):
                refit = Forecaster.fit(series.upto(int(origins[k])), spec, champion.family, champion.params)
                forecast[k] = refit.predict_origins(series.y, origins[k : k + 1], per_day, first, series.known)[0]
    return _fold_forecasts(series, spec, origins, forecast, 0.0, champion.interval_level_days)


def fold_days(series: Series, origins: np.ndarray) -> list[str]:
    return [str(pd.Timestamp(series.timestamps[o]).date()) for o in origins]


def train_challenger(
    frame: pd.DataFrame,
    spec: DataSpec,
    days: int,
    params: dict | None = None,
    families=FAMILIES,
    *,
    metric: str = DEFAULTS["metric"],
) -> Forecaster:
    """Backtest every candidate and naive rule on the last `days` days, choose the candidate with
    the lowest `metric` (the one the gate then judges it on), refit it on all data with intervals
    from its residuals on the last CALIBRATION_DAYS days (`interval_days` in the evaluation): the
    backtest's, and before them its forecasts refit weekly (`weekly_fits`).
    The forecaster carries the backtest's scores (`backtest`) and its training data."""
    series, params = Series.of(frame, spec), params or {}
    origins = fold_origins(series, spec, days)
    candidates = candidate_forecasts(series, spec, origins, params, families)
    methods = candidates | naive_forecasts(series, spec, origins)
    scores = {name: forecasts.scores() for name, forecasts in methods.items()}
    chosen = min(candidates, key=lambda family: scores[family].metric(metric))
    earlier = calibration_origins(series, spec, days)
    residuals = candidates[chosen].relative_residuals()
    if len(earlier):
        fitted_at = weekly_fits(series, spec, earlier)
        before = candidate_forecasts(series, spec, earlier, params, (chosen,), fitted_at)[chosen]
        residuals = np.concatenate([before.relative_residuals(), residuals])
    calibration = {"interval_days": len(residuals)}
    evaluation = Evaluation(fold_days(series, origins), scores, chosen, extra={"chosen_on": metric} | calibration)
    forecaster = Forecaster.train(frame, spec, chosen, params)
    forecaster.intervals = conformal_quantiles(residuals)
    forecaster.backtest = evaluation.to_dict()
    forecaster.fold_forecasts = {family: candidates[family].forecast for family in candidates}
    return forecaster


def evaluate_champion(challenger: Forecaster, frame: pd.DataFrame, champion: Forecaster, version: str) -> Evaluation:
    """The challenger's evaluation with the champion scored on the same folds, with its own intervals."""
    spec = challenger.spec
    evaluation = Evaluation.from_dict(challenger.backtest)
    series = Series.of(frame, spec)
    days = pd.DatetimeIndex(series.timestamps)
    origins = np.array([int(days.get_loc(pd.Timestamp(day))) for day in evaluation.folds])
    scores = champion_forecasts(champion, series, spec, origins, challenger).scores(champion.intervals)
    return evaluation.with_champion(version, scores)
