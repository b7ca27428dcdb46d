"""Forecasts from a trained forecaster: the periods after the last observation, up to one day,
with 80 % and 95 % intervals.

Batch prediction calls `forecast` on a validated DataFrame; the online path (online.py) builds
the same arrays from a request without pandas. Both end in `Forecaster.predict`, so a request and
the same rows in a file get the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.logic.features import history_periods, max_horizon
from pipelines.logic.model import INTERVAL_KEYS, Forecaster
from pipelines.logic.spec import DataSpec, DataValidationError, counted

OUTPUT_COLUMNS = ("forecast", *INTERVAL_KEYS)


def short_history(observed: int, spec: DataSpec) -> str | None:
    """The problem with `observed` periods of history, if too few (the batch and the online message)."""
    needed = history_periods(spec)
    if observed >= needed:
        return None
    days = needed // spec.periods_per_day
    return (
        f"only {counted(observed, 'period', 'periods')} of history; expected at least {needed} "
        f"({days} days at {spec.frequency})"
    )


def forecast(forecaster: Forecaster, series: pd.DataFrame, horizon: int, source: str = "input") -> pd.DataFrame:
    """Forecast `horizon` periods (0: one whole day) after the last observed target of a validated series.

    Rows after the last observation carry the future values of the known-in-advance columns; the
    series must hold at least `history_periods` observations before them.
    """
    spec = forecaster.spec
    limit = max_horizon(spec)
    horizon = horizon or limit
    if not 1 <= horizon <= limit:
        raise DataValidationError(
            source, [f"horizon {horizon} is out of range; expected 1 to {limit} periods (one day at {spec.frequency})"]
        )
    target = series[spec.target_column]
    observed = int(target.notna().to_numpy().nonzero()[0].max()) + 1 if target.notna().any() else 0
    if problem := short_history(observed, spec):
        raise DataValidationError(source, [problem])
    last = series.index[observed - 1]
    future_index = pd.date_range(last, periods=horizon + 1, freq=spec.frequency)[1:]
    future_rows = series.iloc[observed:]
    known = {}
    for column in spec.exogenous_columns:
        future = future_rows[column].reindex(future_index)
        if future.isna().any():
            raise DataValidationError(
                source,
                [
                    f"column {column!r}: no value for {future[future.isna()].index[0]}; "
                    f"expected future values for all {horizon} forecast periods"
                ],
            )
        known[column] = np.concatenate([series[column].to_numpy(np.float64)[:observed], future.to_numpy(np.float64)])
    result = forecaster.predict(last.as_unit("ns").value, target.to_numpy(np.float64)[:observed], horizon, known)
    return pd.DataFrame({spec.timestamp_column: future_index, **result})
