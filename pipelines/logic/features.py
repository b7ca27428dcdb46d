"""The one feature module, shared by training, backtests, batch prediction and online serving.

Origin-relative features (`origin_features`): every forecast is made from a forecast origin (the
end of the history given) for steps h = 1..one day after it, and every feature of a target period
t is computed from the history up to the origin only (never from anything later), by the same
numpy function for training (many origins at once), backtests, batch and online prediction:

- the step h, the period of day, day of week and day type (workday / Saturday / Sunday) of t and
  of the days its lags come from;
- the same period 1, 2, 7 and 8 days before t, last week's value scaled by how the latest day's
  level compares with the day a week before it, and the mean of the same period over 7 days;
- the last observed value and its change against the same time one day and one week earlier, the
  latest day's spread, minimum and maximum, and the latest day's level against the last week's;
- known-in-advance exogenous columns at t and one and seven days before t (the caller supplies
  their values for the forecast periods, and for the history the values that were known then).

Level normalisation: every target-valued feature is divided by the mean of the last day before
the origin (`level`), so the trees learn shapes and ratios and follow level shifts they never saw.
The model learns the ratio minus the same period yesterday (`base`).

`build_features` is the per-period view that drift monitoring compares (lags and the prior day's
statistics of each period); it is not what the model reads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.logic.spec import SECONDS_PER_DAY, DataSpec

HISTORY_DAYS = 8  # the level-adjusted weekly lag reads the day that ends 7 days before the origin
NANOSECONDS = 1_000_000_000
ORIGIN_FEATURES = (
    "step", "period", "day_of_week", "day_type", "day_type_1d", "day_type_7d",
    "lag_1d", "lag_2d", "lag_7d", "lag_8d", "lag_7d_level_adjusted", "period_mean_7d",
    "last", "last_vs_1d", "last_vs_7d", "day_vs_week", "day_std", "day_min", "day_max",
)  # fmt: skip

# The drift monitor's per-period view.
LAG_DAYS = (1, 2, 7)
CALENDAR_FEATURES = ("period_of_day", "day_of_week", "is_weekend")


def feature_names(spec: DataSpec) -> list[str]:
    """The model's feature columns, in order."""
    exogenous = [f"{c}{lag}" for c in spec.exogenous_columns for lag in ("", "_1d", "_7d")]
    return [*ORIGIN_FEATURES, *exogenous]


def history_periods(spec: DataSpec) -> int:
    """Observed periods a forecast needs before its origin: eight days."""
    return HISTORY_DAYS * spec.periods_per_day


def max_horizon(spec: DataSpec) -> int:
    """How many periods past the last observation can be forecast: one day."""
    return spec.periods_per_day


def period_number(timestamps_ns: np.ndarray | int, periods_per_day: int) -> np.ndarray:
    """Periods since 1970-01-01 00:00 of timestamps given as nanoseconds."""
    return np.asarray(timestamps_ns, dtype=np.int64) // (SECONDS_PER_DAY * NANOSECONDS // periods_per_day)


def day_type(days: np.ndarray) -> np.ndarray:
    """0 Monday to Friday, 1 Saturday, 2 Sunday, from day numbers (1970-01-01 was a Thursday)."""
    day_of_week = (days + 3) % 7
    return np.where(day_of_week == 5, 1, np.where(day_of_week == 6, 2, 0))


def origin_features(
    y: np.ndarray, origins: np.ndarray, horizon: int, first_period: int, spec: DataSpec, known: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of targets origins[i] + h - 1 (h = 1..horizon) from y[:origins[i]] only.

    `y` holds the history (later values, if any, are never read); `first_period` is the period
    number of y[0]; `known` holds each exogenous column over every target index. Returns the
    feature matrix (n_origins * horizon rows), and the level and base of each row.
    """
    per_day = spec.periods_per_day
    o = origins[:, None]
    t = o + np.arange(horizon)[None, :]  # target index
    shape = t.shape
    prefix = np.concatenate(([0.0], np.cumsum(y[: int(origins.max())])))

    def window_mean(end, length):  # mean of y[end - length: end]
        return (prefix[end] - prefix[end - length]) / length

    level = np.maximum(window_mean(origins, per_day), 1e-9)[:, None]
    level_8d = np.maximum(window_mean(origins - 7 * per_day, per_day), 1e-9)[:, None]
    week_mean = np.maximum(window_mean(origins, 7 * per_day), 1e-9)[:, None]
    last_day = y[(o - per_day) + np.arange(per_day)[None, :]]
    lag1, lag2, lag7, lag8 = (y[t - d * per_day] for d in (1, 2, 7, 8))
    period_mean = sum(y[t - d * per_day] for d in range(1, 8)) / 7
    last = y[o - 1]
    periods = first_period + t
    days = periods // per_day
    columns = [
        np.broadcast_to(np.arange(1, horizon + 1)[None, :], shape),
        periods % per_day,
        (days + 3) % 7,
        day_type(days),
        day_type(days - 1),
        day_type(days - 7),
        lag1 / level,
        lag2 / level,
        lag7 / level,
        lag8 / level,
        lag7 / level_8d,
        period_mean / level,
        np.broadcast_to(last / level, shape),
        np.broadcast_to((last - y[o - 1 - per_day]) / level, shape),
        np.broadcast_to((last - y[o - 1 - 7 * per_day]) / level, shape),
        np.broadcast_to(level / week_mean, shape),
        np.broadcast_to(last_day.std(axis=1)[:, None] / level, shape),
        np.broadcast_to(last_day.min(axis=1)[:, None] / level, shape),
        np.broadcast_to(last_day.max(axis=1)[:, None] / level, shape),
    ]
    for column in spec.exogenous_columns:
        values = known[column]
        columns += [values[t], values[t - per_day], values[t - 7 * per_day]]
    matrix = np.empty((t.size, len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        matrix[:, index] = np.asarray(column).reshape(-1)
    return matrix, np.broadcast_to(level, shape).reshape(-1), (lag1 / level).reshape(-1)


def build_features(series: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The drift monitor's view of every period of a validated series: lags of 1, 2 and 7 days,
    the prior day's statistics, the calendar and the exogenous values (NaN without full history)."""
    per_day = spec.periods_per_day
    target = series[spec.target_column]
    features = pd.DataFrame(index=series.index)
    for days in LAG_DAYS:
        features[f"lag_{days}d"] = target.shift(days * per_day)
    prior_day = target.shift(per_day).rolling(per_day, min_periods=per_day)
    features["prior_day_mean"] = prior_day.mean()
    features["prior_day_std"] = prior_day.std()
    features["prior_day_min"] = prior_day.min()
    features["prior_day_max"] = prior_day.max()
    index = pd.DatetimeIndex(series.index)
    features["period_of_day"] = (index.hour * 60 + index.minute) // (24 * 60 // per_day)
    features["day_of_week"] = index.dayofweek
    features["is_weekend"] = (index.dayofweek >= 5).astype(int)
    for column in spec.exogenous_columns:
        features[column] = series[column]
    return features


# Before the first backtest fold, a candidate needs three weeks: the seasonal model's weekly season
# needs two whole weeks, and the trees need eight days of history before their first training origin.
MIN_TRAINING_DAYS = 21


def required_history(spec: DataSpec, purpose: str, backtest_days: int = 0) -> int:
    """Observed periods a pipeline needs: prediction needs one forecast's history, monitoring a
    day more; training needs MIN_TRAINING_DAYS before the first of `backtest_days` folds."""
    per_day = spec.periods_per_day
    if purpose == "training":
        return (MIN_TRAINING_DAYS + backtest_days) * per_day
    if purpose == "monitoring":
        return history_periods(spec) + per_day
    return history_periods(spec)
