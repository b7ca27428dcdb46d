"""Time-ordered holdout, forecast metrics and the seasonal-naive baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.logic.data import DataSpec
from pipelines.logic.features import build_features

BASELINE_SEASON_DAYS = 7  # same period, one week earlier: the strongest naive rule for demand


def split_holdout(series: pd.DataFrame, spec: DataSpec, holdout_days: int) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """Training part (everything before the holdout) and the holdout's timestamps (the last days)."""
    holdout = holdout_days * spec.periods_per_day
    return series.iloc[:-holdout], pd.DatetimeIndex(series.index[-holdout:])


def metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MAPE (in percent; rows with a zero actual are left out of MAPE)."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    errors = predicted - actual
    nonzero = actual != 0
    return {
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mape": float(np.mean(np.abs(errors[nonzero] / actual[nonzero])) * 100),
    }


def seasonal_naive(series: pd.DataFrame, spec: DataSpec, at: pd.DatetimeIndex) -> np.ndarray:
    """The value one season (a week) earlier, for each timestamp in `at`."""
    shifted = series[spec.target_column].shift(BASELINE_SEASON_DAYS * spec.periods_per_day)
    return shifted.loc[at].to_numpy()


def evaluate_on_holdout(forecaster, series: pd.DataFrame, holdout: pd.DatetimeIndex) -> dict[str, float]:
    """A forecaster's metrics on the holdout, with features built from the full series (every
    feature is at least a day old, so no holdout target leaks into its own prediction)."""
    features = build_features(series, forecaster.spec).loc[holdout]
    actual = series.loc[holdout, forecaster.spec.target_column].to_numpy()
    return metrics(actual, forecaster.predict(features))
