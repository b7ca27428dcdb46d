"""Online forecasts from a request body: the one implementation behind the predict function and
the serving container that registered models declare (functions/vertex_serving.py).

A body is `{"history": [...], "future": [...], "horizon": n}` with the column names of the data
spec. Every check is bounded by the body's size, and each problem names its field.

Two routes, one answer. A request in the usual shape (canonical ISO timestamps without a zone,
one every period, in order, values within the spec's bounds) is read straight into numpy arrays:
no DataFrame, no pandas parsing. Anything else takes the batch path's own validation
(data.validate on a DataFrame), so a refusal carries exactly the batch path's message. Both routes
end in `Forecaster.predict`; a test compares them on generated requests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.logic.data import DataSpec, DataValidationError, validate
from pipelines.logic.features import max_horizon
from pipelines.logic.forecast import OUTPUT_COLUMNS, forecast, short_history
from pipelines.logic.model import Forecaster, step_nanoseconds

BODY_KEYS = ("history", "future", "horizon")
# Rows may cover at most this many times their number of periods before the gap check refuses
# them outright: half the periods missing still get the detailed message, and its cost stays
# proportional to the request.
SPAN_FACTOR = 2
# The timestamps the array route reads: years 1700 to 2199 (inside what pandas and numpy's
# nanoseconds represent), no zone, whole seconds. One regular expression over all of them.
_CANONICAL = r"(?:1[7-9]\d\d|2[01]\d\d)-\d\d-\d\dT\d\d:\d\d:\d\d"
_CANONICAL_LINES = re.compile(rf"(?:{_CANONICAL}\n)*{_CANONICAL}")


class InvalidRequest(ValueError):
    """A request the forecaster cannot answer: `field` names where, `error` what and what was expected."""

    def __init__(self, field: str | None, error: str) -> None:
        self.field, self.error = field, error
        super().__init__(f"{field}: {error}")


@dataclass(frozen=True)
class Request:
    """A validated request: arrays (`last_ns`, `y`, `known`) or, off the array route, the series."""

    horizon: int
    last_ns: int = 0
    y: np.ndarray | None = None
    known: dict[str, np.ndarray] = field(default_factory=dict)
    series: pd.DataFrame | None = None


def parse(body: dict, spec: DataSpec) -> Request:
    """The validated request of a body (a JSON object holding only BODY_KEYS), or InvalidRequest
    naming the field."""
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
    request = (history and _as_arrays(history, future, horizon, spec)) or Request(
        horizon, series=_as_series(history, future, horizon, spec) if history else None
    )
    # Once the rows are valid, as in the batch path (validation, then the forecast's history check).
    if problem := short_history(len(history), spec):
        raise InvalidRequest("history", problem)
    return request


def _as_arrays(history: list[dict], future: list[dict], horizon: int, spec: DataSpec) -> Request | None:
    """The request as arrays when it is in the usual shape, else None (the DataFrame route decides)."""
    stamps = [row[spec.timestamp_column] for row in history]
    stamps += [row[spec.timestamp_column] for row in future]
    if not _CANONICAL_LINES.fullmatch("\n".join(stamps)):
        return None
    try:
        nanoseconds = np.array(stamps, dtype="datetime64[ns]").astype(np.int64)
    except ValueError:  # a day or time that does not exist
        return None
    if (np.diff(nanoseconds) != step_nanoseconds(spec)).any():
        return None
    y = np.array([row[spec.target_column] for row in history], dtype=np.float64)
    if (spec.target_min is not None and (y < spec.target_min).any()) or (
        spec.target_max is not None and (y > spec.target_max).any()
    ):
        return None
    known = {
        column: np.array([row[column] for row in (*history, *future[:horizon])], dtype=np.float64)
        for column in spec.exogenous_columns
    }
    return Request(horizon, last_ns=int(nanoseconds[len(history) - 1]), y=y, known=known)


def _as_series(history: list[dict], future: list[dict], horizon: int, spec: DataSpec) -> pd.DataFrame:
    """The batch path's validation of the rows as a DataFrame (its messages, its parsing)."""
    rows = history + [row | {spec.target_column: None} for row in future]
    frame = pd.DataFrame(rows)
    timestamps = pd.to_datetime(frame[spec.timestamp_column], errors="coerce")
    if timestamps.notna().all():
        _check_span(timestamps, horizon, spec)
        frame[spec.timestamp_column] = timestamps  # parsed once: validate finds them parsed
    try:
        return validate(frame, spec, "request", allow_future_rows=True)
    except DataValidationError as error:
        raise InvalidRequest("history", "; ".join(error.problems)) from None


def _rows(body: dict, key: str, columns: list[str], spec: DataSpec, required: bool = True) -> list[dict]:
    rows = body.get(key, [] if not required else None)
    if not isinstance(rows, list):
        raise InvalidRequest(key, f"expected a list of objects with {', '.join(columns)}")
    if _plain(rows, columns):
        return rows
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


def _plain(rows: list, columns: list[str]) -> bool:
    """Every row an object with exactly `columns`, a string timestamp and finite numbers: the usual
    request, checked column by column (the per-row loop then only explains a refusal)."""
    names = set(columns)
    if not all(type(row) is dict and row.keys() == names for row in rows):
        return False
    if {type(row[columns[0]]) for row in rows} - {str}:
        return False
    for column in columns[1:]:
        values = [row[column] for row in rows]
        if {type(value) for value in values} - {int, float} or not all(map(math.isfinite, values)):
            return False
    return True


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


def answer(forecaster: Forecaster, version: str, request: Request) -> dict:
    """`{"model_version", "forecasts": [{"timestamp", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"}, ...]}`."""
    spec = forecaster.spec
    if request.series is None:
        values = forecaster.predict(request.last_ns, request.y, request.horizon, request.known)
        steps = request.last_ns + step_nanoseconds(spec) * np.arange(1, request.horizon + 1)
        stamps = np.datetime_as_string(steps.astype("datetime64[ns]"), unit="s").tolist()
    else:
        try:
            result = forecast(forecaster, request.series, request.horizon, source="request")
        except DataValidationError as error:
            raise InvalidRequest("history", "; ".join(error.problems)) from None
        values = {key: result[key].to_numpy() for key in OUTPUT_COLUMNS if key in result}
        stamps = [stamp.isoformat() for stamp in result[spec.timestamp_column]]
    columns = {key: np.round(values[key], 3).tolist() for key in OUTPUT_COLUMNS if key in values}
    forecasts = [
        {"timestamp": stamp, **{key: column[i] for key, column in columns.items()}} for i, stamp in enumerate(stamps)
    ]
    return {"model_version": version, "forecasts": forecasts}
