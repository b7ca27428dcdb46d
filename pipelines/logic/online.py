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
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

import numpy as np
import pandas as pd

from pipelines.logic.data import DataSpec, DataValidationError, validate
from pipelines.logic.features import NANOSECONDS, max_horizon
from pipelines.logic.forecast import OUTPUT_COLUMNS, forecast, short_history
from pipelines.logic.model import Forecaster, step_nanoseconds

BODY_KEYS = ("history", "future", "horizon")
# Rows may cover at most this many times their number of periods before the gap check refuses
# them outright: half the periods missing still get the detailed message, and its cost stays
# proportional to the request.
SPAN_FACTOR = 2
# The timestamps the array route reads: years 1700 to 2199 (inside what pandas and numpy's
# nanoseconds represent), no zone, whole seconds, written as _CANONICAL_FORM (a digit for each 0).
_CANONICAL_FORM = b"0000-00-00T00:00:00"
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_YEARS_SECONDS = tuple(np.datetime64(f"{year}-01-01", "s").astype(np.int64) for year in (1700, 2200))


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
    history, past = _rows(body, "history", [spec.timestamp_column, spec.target_column, *spec.exogenous_columns], spec)
    future, ahead = _rows(body, "future", [spec.timestamp_column, *spec.exogenous_columns], spec, required=False)
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
    arrays = history and past is not None and ahead is not None and _as_arrays(past, ahead, horizon, spec)
    request = arrays or Request(horizon, series=_as_series(history, future, horizon, spec) if history else None)
    # Once the rows are valid, as in the batch path (validation, then the forecast's history check).
    if problem := short_history(len(history), spec):
        raise InvalidRequest("history", problem)
    return request


def _as_arrays(past: dict, ahead: dict, horizon: int, spec: DataSpec) -> Request | None:
    """The request as arrays when it is in the usual shape, else None (the DataFrame route decides).
    `past` and `ahead` hold the history's and the future's values by column (`_plain_columns`)."""
    stamps = past[spec.timestamp_column] + ahead[spec.timestamp_column]
    nanoseconds = _canonical_nanoseconds(stamps)
    if nanoseconds is None or (np.diff(nanoseconds) != step_nanoseconds(spec)).any():
        return None
    y = past[spec.target_column]
    if (spec.target_min is not None and (y < spec.target_min).any()) or (
        spec.target_max is not None and (y > spec.target_max).any()
    ):
        return None
    known = {column: np.concatenate((past[column], ahead[column][:horizon])) for column in spec.exogenous_columns}
    return Request(horizon, last_ns=int(nanoseconds[len(y) - 1]), y=y, known=known)


def _canonical_nanoseconds(stamps: list[str]) -> np.ndarray | None:
    """Nanoseconds since the epoch of timestamps all written as _CANONICAL_FORM (a digit for each 0)
    within _YEARS, or None when any is written otherwise or names a day or time that does not exist."""
    if set(map(len, stamps)) != {len(_CANONICAL_FORM)}:
        return None
    try:
        text = "".join(stamps).encode("ascii")
    except UnicodeEncodeError:
        return None
    if text.translate(_DIGITS_AS_ZERO) != _CANONICAL_FORM * len(stamps):
        return None
    try:
        seconds = np.array(stamps, dtype="datetime64[s]").astype(np.int64)
    except ValueError:  # a day or time that does not exist
        return None
    if seconds.min() < _YEARS_SECONDS[0] or seconds.max() >= _YEARS_SECONDS[1]:
        return None
    return seconds * NANOSECONDS


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


def _rows(
    body: dict, key: str, columns: list[str], spec: DataSpec, required: bool = True
) -> tuple[list[dict], dict | None]:
    """The rows under `key`, and their values by column when every row is in the usual shape; a
    row that is not gets InvalidRequest naming it."""
    rows = body.get(key, [] if not required else None)
    if not isinstance(rows, list):
        raise InvalidRequest(key, f"expected a list of objects with {', '.join(columns)}")
    if (values := _plain_columns(rows, columns)) is not None:
        return rows, values
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(columns):
            raise InvalidRequest(f"{key}[{index}]", f"expected an object with exactly {', '.join(columns)}")
        if not isinstance(row[spec.timestamp_column], str):
            raise InvalidRequest(f"{key}[{index}].{spec.timestamp_column}", "expected an ISO 8601 timestamp string")
        for column in columns[1:]:
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRequest(f"{key}[{index}].{column}", f"{json.dumps(value)[:40]} is not a finite number")
    return rows, None


def _plain_columns(rows: list, columns: list[str]) -> dict[str, list | np.ndarray] | None:
    """The values by column when every row is an object with exactly `columns`, a string timestamp
    and finite numbers (the usual request), else None: checked column by column at C speed, so the
    per-row loop only explains a refusal. Timestamps come as a list, numbers as float arrays."""
    if not rows:
        return {columns[0]: [], **{column: np.empty(0) for column in columns[1:]}}
    try:  # every row sized like `columns` and holding each of them: exactly `columns`
        if set(map(len, rows)) != {len(columns)}:
            return None
        values = [list(map(itemgetter(column), rows)) for column in columns]
    except (KeyError, TypeError):  # a row without one of them, or not an object
        return None
    if set(map(type, values[0])) != {str}:
        return None
    numbers = []
    for column_values in values[1:]:
        if set(map(type, column_values)) - {int, float}:
            return None
        array = np.array(column_values, dtype=np.float64)
        if not np.isfinite(array).all():
            return None
        numbers.append(array)
    return dict(zip(columns, [values[0], *numbers], strict=True))


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
    keys = ["timestamp", *(key for key in OUTPUT_COLUMNS if key in values)]
    columns = np.round(np.stack([values[key] for key in keys[1:]]), 3).tolist()
    forecasts = list(map(dict, map(zip, repeat(keys), zip(stamps, *columns, strict=True))))
    return {"model_version": version, "forecasts": forecasts}
