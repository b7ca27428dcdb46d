"""The one feature module, shared by training, batch prediction and online serving.

Every feature of period t uses only targets at least one day older than t (lags of 1, 2 and 7
days, statistics of the day that ends one day before t, and last week's value scaled by how that
day's level compares with the same day a week earlier), plus the calendar of t and the exogenous
values at t (e.g. a temperature forecast). So any period up to one day past the last
observation is forecast directly from known history: no recursion, and no training/serving skew.
"""

from __future__ import annotations

import pandas as pd

from pipelines.logic.data import DataSpec

LAG_DAYS = (1, 2, 7)
CALENDAR_FEATURES = ("period_of_day", "day_of_week", "is_weekend")


def feature_names(spec: DataSpec) -> list[str]:
    lags = [f"lag_{days}d" for days in LAG_DAYS]
    rolling = ["prior_day_mean", "prior_day_std", "prior_day_min", "prior_day_max", "lag_7d_level_adjusted"]
    return [*lags, *rolling, *CALENDAR_FEATURES, *spec.exogenous_columns]


def history_periods(spec: DataSpec) -> int:
    """Observed periods before a row's features are complete: the level adjustment averages the
    day that ends 8 days before t, so its first period lies 9 days less one period back."""
    return (max(LAG_DAYS) + 2) * spec.periods_per_day - 1


def max_horizon(spec: DataSpec) -> int:
    """How many periods past the last observation can be forecast: one day."""
    return spec.periods_per_day


def build_features(series: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """Features for every row of a validated series (indexed by timestamp at `spec.frequency`).

    Rows without full history get NaN features; rows without a target (future periods) still get
    features when they are within `max_horizon` of the last observation.
    """
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
    week_earlier_day_mean = target.shift((max(LAG_DAYS) + 1) * per_day).rolling(per_day, min_periods=per_day).mean()
    features["lag_7d_level_adjusted"] = features["lag_7d"] * features["prior_day_mean"] / week_earlier_day_mean
    index = pd.DatetimeIndex(series.index)
    features["period_of_day"] = (index.hour * 60 + index.minute) // (24 * 60 // per_day)
    features["day_of_week"] = index.dayofweek
    features["is_weekend"] = (index.dayofweek >= 5).astype(int)
    for column in spec.exogenous_columns:
        features[column] = series[column]
    return features[feature_names(spec)]


def training_rows(series: pd.DataFrame, spec: DataSpec) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target of every row that has both complete history and an observed target."""
    features = build_features(series, spec)
    target = series[spec.target_column]
    usable = features.notna().all(axis=1) & target.notna()
    return features[usable], target[usable]


def required_history(spec: DataSpec, purpose: str, holdout_days: int = 0) -> int:
    """Observed periods a pipeline needs: prediction and monitoring need one complete feature row's
    history (and a day to compare, for monitoring); training also needs a holdout and at least as
    many training days as holdout days after the warm-up."""
    per_day = spec.periods_per_day
    if purpose == "training":
        return history_periods(spec) + 2 * holdout_days * per_day
    if purpose == "monitoring":
        return history_periods(spec) + per_day
    return history_periods(spec)
