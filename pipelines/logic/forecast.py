"""Forecasts from a trained forecaster: the periods after the last observation, up to one day.

Batch prediction and the online `predict` function both call `forecast`, with the same feature
module as training.
"""

from __future__ import annotations

import pandas as pd

from pipelines.logic.data import DataValidationError
from pipelines.logic.features import build_features, history_periods, max_horizon
from pipelines.logic.model import Forecaster


def forecast(forecaster: Forecaster, series: pd.DataFrame, horizon: int, source: str = "input") -> pd.DataFrame:
    """Forecast `horizon` periods after the last observed target of a validated series.

    Rows after the last observation carry the future exogenous values the model needs; the
    series must hold at least `history_periods` observations before them.
    """
    spec = forecaster.spec
    limit = max_horizon(spec)
    if not 1 <= horizon <= limit:
        raise DataValidationError(
            source, [f"horizon {horizon} is out of range; expected 1 to {limit} periods (one day at {spec.frequency})"]
        )
    target = series[spec.target_column]
    observed = int(target.notna().to_numpy().nonzero()[0].max()) + 1 if target.notna().any() else 0
    needed = history_periods(spec)
    if observed < needed:
        raise DataValidationError(
            source,
            [
                f"only {observed} periods of history; expected at least {needed} "
                f"({needed // spec.periods_per_day} days at {spec.frequency})"
            ],
        )
    last = series.index[observed - 1]
    future_index = pd.date_range(last, periods=horizon + 1, freq=spec.frequency)[1:]
    extended = series.iloc[:observed].reindex(series.index[:observed].append(future_index))
    future_rows = series.iloc[observed:]
    for column in spec.exogenous_columns:
        known = future_rows[column].reindex(future_index)
        if known.isna().any():
            raise DataValidationError(
                source,
                [
                    f"column {column!r}: no value for {known[known.isna()].index[0]}; "
                    f"expected future values for all {horizon} forecast periods"
                ],
            )
        extended.loc[future_index, column] = known
    features = build_features(extended, spec).loc[future_index]
    return pd.DataFrame({spec.timestamp_column: future_index, "forecast": forecaster.predict(features)})
