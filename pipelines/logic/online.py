"""Online forecasts from a request body: the one implementation behind the predict function and
the serving container that registered models declare (pipelines/serving.py).

A body is `{"history": [...], "future": [...], "horizon": n}` with the column names of the data
spec. Every check is bounded by the body's size, and each problem names its field.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from pipelines.logic.data import DataSpec, DataValidationError, validate
from pipelines.logic.features import history_periods, max_horizon
from pipelines.logic.forecast import forecast
from pipelines.logic.model import Forecaster

BODY_KEYS = ("history", "future", "horizon")
# Rows may cover at most this many times their number of periods before the gap check refuses
# them outright: half the periods missing still get the detailed message, and its cost stays
# proportional to the request.
SPAN_FACTOR = 2


class InvalidRequest(ValueError):
    """A request the forecaster cannot answer: `field` names where, `error` what and what was expected."""

    def __init__(self, field: str | None, error: str) -> None:
        self.field, self.error = field, error
        super().__init__(f"{field}: {error}")


def parse(body: dict, spec: DataSpec) -> tuple[pd.DataFrame, int]:
    """The validated series (history then future rows) and horizon of a request body (a JSON
    object holding only BODY_KEYS), or InvalidRequest naming the field."""
    history = _rows(body, "history", [spec.timestamp_column, spec.target_column, *spec.exogenous_columns], spec)
    future = _rows(body, "future", [spec.timestamp_column, *spec.exogenous_columns], spec, required=False)
    horizon = body.get("horizon", len(future) or max_horizon(spec))
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= max_horizon(spec):
        raise InvalidRequest(
            "horizon",
            f"{json.dumps(horizon)[:40]} is not a horizon; expected an integer from 1 to "
            f"{max_horizon(spec)} (one day at {spec.frequency})",
        )
    if spec.exogenous_columns and len(future) < horizon:
        raise InvalidRequest(
            "future",
            f"{len(future)} future rows; expected {horizon}, one per forecast period, with "
            f"{', '.join(spec.exogenous_columns)}",
        )
    if len(history) < history_periods(spec):
        raise InvalidRequest(
            "history",
            f"{len(history)} rows; expected at least {history_periods(spec)} "
            f"({history_periods(spec) / spec.periods_per_day:.1f} days at {spec.frequency})",
        )
    rows = history + [row | {spec.target_column: None} for row in future]
    frame = pd.DataFrame(rows)
    timestamps = pd.to_datetime(frame[spec.timestamp_column], errors="coerce")
    if timestamps.notna().all():
        _check_span(timestamps, horizon, spec)
        frame[spec.timestamp_column] = timestamps  # parsed once: validate finds them parsed
    try:
        series = validate(frame, spec, "request", allow_future_rows=True)
    except DataValidationError as error:
        raise InvalidRequest("history", "; ".join(error.problems)) from None
    return series, horizon


def _rows(body: dict, key: str, columns: list[str], spec: DataSpec, required: bool = True) -> list[dict]:
    rows = body.get(key, [] if not required else None)
    if not isinstance(rows, list):
        raise InvalidRequest(key, f"expected a list of objects with {', '.join(columns)}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(columns):
            raise InvalidRequest(f"{key}[{index}]", f"expected an object with exactly {', '.join(columns)}")
        if not isinstance(row[spec.timestamp_column], str):
            raise InvalidRequest(f"{key}[{index}].{spec.timestamp_column}", "expected an ISO 8601 timestamp string")
        for column in columns[1:]:
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRequest(f"{key}[{index}].{column}", f"{json.dumps(value)[:40]} is not a finite number")
    return rows


def _check_span(timestamps: pd.Series, horizon: int, spec: DataSpec) -> None:
    """Refuse timestamps spread over far more periods than there are rows, before the gap check
    builds one entry per period from the first to the last (cost bounded by the request's size),
    and forecast periods past the last date pandas can represent."""
    period = pd.Timedelta(spec.frequency).value
    first, last = timestamps.min(), timestamps.max()
    periods = (last.value - first.value) // period + 1  # Python ints: 1677 to 2262 overflows a Timedelta
    if periods > SPAN_FACTOR * len(timestamps):
        raise InvalidRequest(
            "history",
            f"{len(timestamps)} rows from {first} to {last} span {periods} periods of {spec.frequency}; "
            f"expected one row every {spec.frequency}",
        )
    if last.value > pd.Timestamp.max.value - (horizon + 1) * period:
        raise InvalidRequest("history", f"the last timestamp {last} leaves no room for {horizon} forecast periods")


def answer(forecaster: Forecaster, version: str, series: pd.DataFrame, horizon: int) -> dict:
    """`{"model_version", "forecasts": [{"timestamp", "forecast"}, ...]}` for a parsed request."""
    spec = forecaster.spec
    try:
        result = forecast(forecaster, series, horizon, source="request")
    except DataValidationError as error:
        raise InvalidRequest("history", "; ".join(error.problems)) from None
    forecasts = [
        {"timestamp": stamp.isoformat(), "forecast": round(float(value), 3)}
        for stamp, value in zip(result[spec.timestamp_column], result["forecast"], strict=True)
    ]
    return {"model_version": version, "forecasts": forecasts}
