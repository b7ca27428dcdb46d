"""Online forecasts from a request body: the one implementation behind the predict function and
the serving container that registered models declare (functions/vertex_serving.py).

A body is `{"history": [...], "future": [...], "horizon": n}` with the column names of the data
spec. Every check is bounded by the body's size, and each problem names its field.

Two routes, one answer. A request in the usual shape (canonical ISO timestamps without a zone,
one every period, in order, values within the spec's bounds) is read straight into numpy arrays:
no DataFrame, no pandas parsing. Anything else takes the batch path's own validation
(data.validate on a DataFrame), so a refusal carries exactly the batch path's message. Both routes
end in `Forecaster.predict`; a test compares them on generated requests.

The predict function reads a usual body straight from its bytes: msgspec decodes it into typed
rows (`usual_body`, checked as it parses) and `parse_usual` makes the arrays. Any body that does
not fit takes `parse` after the checked JSON parse, for its messages; a test checks that both read
every body alike.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter, itemgetter

import msgspec
import numpy as np
import pandas as pd

from environments.messages import kind_of
from pipelines.logic.data import DataSpec, DataValidationError, parse_timestamps, validate
from pipelines.logic.features import NANOSECONDS, max_horizon
from pipelines.logic.forecast import OUTPUT_COLUMNS, forecast, short_history
from pipelines.logic.model import Forecaster, step_nanoseconds
from pipelines.logic.spec import VALUE_LIMIT

BODY_KEYS = ("history", "future", "horizon")
ANSWER_DECIMALS = 3  # forecasts and bounds are answered to a thousandth
# Rows may cover at most this many times their number of periods before the gap check refuses
# them outright: half the periods missing still get the detailed message, and its cost stays
# proportional to the request.
SPAN_FACTOR = 2
# The timestamps the array route reads: years 1700 to 2199 (inside what pandas and numpy's
# nanoseconds represent), no zone, whole seconds, written as _CANONICAL_FORM (a digit for each 0).
_CANONICAL_FORM = b"0000-00-00T00:00:00"
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_CANONICAL_FORM_AND_COMMA = _CANONICAL_FORM + b","
_STAMP_AND_COMMA = np.dtype([("stamp", f"S{len(_CANONICAL_FORM)}"), ("comma", "S1")])
# Structs that refuse unknown keys, and that the garbage collector need not track (no cycles).
_STRICT = {"forbid_unknown_fields": True, "gc": False}
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
    history, past = _rows(body, "history", spec.columns, spec)
    future, ahead = _rows(body, "future", _future_columns(spec), spec, required=False)
    asked = body["horizon"] if "horizon" in body else _default_horizon(len(future), spec)
    horizon = _checked_horizon(asked, len(future), spec)
    arrays = history and past is not None and ahead is not None and _as_arrays(past, ahead, horizon, spec)
    request = arrays or Request(horizon, series=_as_series(history, future, horizon, spec) if history else None)
    # Once the rows are valid, as in the batch path (validation, then the forecast's history check).
    if problem := short_history(len(history), spec):
        raise InvalidRequest("history", problem)
    return request


@functools.cache
def usual_body(spec: DataSpec) -> msgspec.json.Decoder | None:
    """A decoder of bodies in the usual shape, for `functions.http_json.typed_json`: rows with exactly
    the spec's columns, a string timestamp and numbers (integers read as floats) under history and
    future, and an integer horizon. msgspec checks all of it while it parses. None for a spec that
    names one column twice (data_spec_problems refuses those): `parse` alone reads its bodies."""
    if len(set(spec.columns)) < len(spec.columns):
        return None

    def row(name: str, columns: list[str]) -> type:
        fields = [_column_field(index) for index in range(len(columns))]
        types = [str] + [float] * (len(columns) - 1)
        return msgspec.defstruct(
            name, list(zip(fields, types, strict=True)), rename=dict(zip(fields, columns, strict=True)), **_STRICT
        )

    body = msgspec.defstruct(
        "UsualBody",
        [
            ("history", list[row("HistoryRow", spec.columns)]),
            ("future", list[row("FutureRow", _future_columns(spec))], msgspec.field(default_factory=list)),
            ("horizon", int | msgspec.UnsetType, msgspec.UNSET),
        ],
        **_STRICT,
    )
    return msgspec.json.Decoder(body)


def parse_usual(body, spec: DataSpec) -> Request | None:
    """What `parse` makes of a body that `usual_body` decoded, when that is an arrays Request; else
    None, and `parse` decides (with its messages). The same checks on the same arrays: msgspec has
    checked the types, and it refuses a number that overflows a float, so every number is finite."""
    try:
        horizon = _default_horizon(len(body.future), spec) if body.horizon is msgspec.UNSET else body.horizon
        horizon = _checked_horizon(horizon, len(body.future), spec)
    except InvalidRequest:
        return None
    if short_history(len(body.history), spec):
        return None
    past = _struct_columns(body.history, spec.columns)
    ahead = _struct_columns(body.future, _future_columns(spec))
    return _as_arrays(past, ahead, horizon, spec)


def _struct_columns(rows: list, columns: list[str]) -> dict[str, list | np.ndarray]:
    """The values by column of `usual_body`'s rows: timestamps as a list, numbers as float arrays.
    The first two columns (the timestamp, then the target or the first exogenous column) are read
    in comprehensions, whose attribute loads Python specialises: a third of attrgetter's time."""
    values = [[row.column_0 for row in rows]]
    if len(columns) > 1:
        values.append([row.column_1 for row in rows])
    values += [list(map(attrgetter(_column_field(index)), rows)) for index in range(2, len(columns))]
    return dict(zip(columns, [values[0], *(np.array(numbers, np.float64) for numbers in values[1:])], strict=True))


def _column_field(index: int) -> str:
    """The field of `usual_body`'s rows that holds a row's `index`-th column (`_struct_columns`
    reads column_0 and column_1 by name)."""
    return f"column_{index}"


def _future_columns(spec: DataSpec) -> list[str]:
    return [spec.timestamp_column, *spec.exogenous_columns]


def _default_horizon(future_rows: int, spec: DataSpec) -> int:
    """Without `horizon`: one period per future row, or a day without any. More rows than a day can
    forecast are the future's problem: the caller never gave a horizon."""
    if future_rows > max_horizon(spec):
        raise InvalidRequest(
            "future",
            f"{future_rows} future rows; expected at most {max_horizon(spec)} (one day at {spec.frequency}), one "
            "per forecast period",
        )
    return future_rows or max_horizon(spec)


def _checked_horizon(horizon: object, future_rows: int, spec: DataSpec) -> int:
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= max_horizon(spec):
        raise InvalidRequest(
            "horizon",
            f"{json.dumps(horizon)[:40]} is not a horizon; expected an integer from 1 to "
            f"{max_horizon(spec)} (one day at {spec.frequency})",
        )
    if spec.exogenous_columns and future_rows < horizon:
        raise InvalidRequest(
            "future",
            f"{future_rows} future rows; expected {horizon}, one per forecast period, with "
            f"{', '.join(spec.exogenous_columns)}",
        )
    return horizon


def _as_arrays(past: dict, ahead: dict, horizon: int, spec: DataSpec) -> Request | None:
    """The request as arrays when it is in the usual shape, else None (the DataFrame route decides).
    `past` and `ahead` hold the history's and the future's values by column (`_plain_columns` or
    `_struct_columns`)."""
    nanoseconds = _regular_nanoseconds(past[spec.timestamp_column] + ahead[spec.timestamp_column], spec)
    if nanoseconds is None:
        return None
    y = past[spec.target_column]
    low, high = y.min(), y.max()
    if (
        (spec.target_min is not None and low < spec.target_min)
        or (spec.target_max is not None and high > spec.target_max)
        or max(-low, high) > VALUE_LIMIT
    ):
        return None
    # Every row as validate checks it, the future rows past the horizon too.
    whole = {column: np.concatenate((past[column], ahead[column])) for column in spec.exogenous_columns}
    if any(np.abs(values).max() > VALUE_LIMIT for values in whole.values()):
        return None
    known = {column: values[: len(y) + horizon] for column, values in whole.items()}
    return Request(horizon, last_ns=int(nanoseconds[len(y) - 1]), y=y, known=known)


def _regular_nanoseconds(stamps: list[str], spec: DataSpec) -> np.ndarray | None:
    """Nanoseconds since the epoch of timestamps all written as _CANONICAL_FORM (a digit for each 0),
    one every period of the spec, within _YEARS; or None when any is written otherwise, names a day
    or time that does not exist, or breaks the rhythm."""
    # Each followed by a comma: the text is the form and a comma, again and again, only when every
    # timestamp is the form (a comma inside one would make a comma too many).
    try:
        text = (",".join(stamps) + ",").encode("ascii")
    except UnicodeEncodeError:
        return None
    if not stamps or text.translate(_DIGITS_AS_ZERO) != _CANONICAL_FORM_AND_COMMA * len(stamps):
        return None
    try:
        seconds = np.frombuffer(text, dtype=_STAMP_AND_COMMA)["stamp"].astype("datetime64[s]").view(np.int64)
    except ValueError:  # a day or time that does not exist
        return None
    if seconds[0] < _YEARS_SECONDS[0] or seconds[-1] >= _YEARS_SECONDS[1]:
        return None
    nanoseconds = seconds * NANOSECONDS
    return None if (nanoseconds[1:] - nanoseconds[:-1] != step_nanoseconds(spec)).any() else nanoseconds


def _as_series(history: list[dict], future: list[dict], horizon: int, spec: DataSpec) -> pd.DataFrame:
    """The batch path's validation of the rows as a DataFrame (its messages, its parsing). A
    problem is the future rows' when the history alone has none (they overlap it, leave a gap
    after it, lack a value), else the history's."""
    rows = history + [row | {spec.target_column: None} for row in future]
    frame = pd.DataFrame(rows)
    timestamps = parse_timestamps(frame[spec.timestamp_column])
    if timestamps.notna().all():
        try:
            _check_span(timestamps, horizon, spec)
        except InvalidRequest as invalid:
            # The history's own span decides whose problem it is (never a validate: it would cost the span).
            try:
                _check_span(timestamps.iloc[: len(history)], horizon, spec)
            except InvalidRequest:
                raise invalid from None
            raise InvalidRequest("future" if future else "history", invalid.error) from None
        frame[spec.timestamp_column] = timestamps  # parsed once: validate finds them parsed
    try:
        return validate(frame, spec, "request", allow_future_rows=True)
    except DataValidationError as error:
        raise InvalidRequest(_whose(frame, len(history), future, spec), "; ".join(error.problems)) from None


def _whose(frame: pd.DataFrame, history_rows: int, future: list[dict], spec: DataSpec) -> str:
    """The field a problem of the rows is reported in: `future` when the history alone has none
    (its span is checked already: validating it costs what its size says)."""
    if not future:
        return "history"
    try:
        validate(frame.iloc[:history_rows], spec, "request")
    except DataValidationError:
        return "history"
    return "future"


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
            raise InvalidRequest(f"{key}[{index}]", _row_shape_problem(row, columns))
        if not isinstance(row[spec.timestamp_column], str):
            raise InvalidRequest(f"{key}[{index}].{spec.timestamp_column}", "expected an ISO 8601 timestamp string")
        for column in columns[1:]:
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise InvalidRequest(f"{key}[{index}].{column}", f"{json.dumps(value)[:40]} is not a finite number")
    return rows, None


def _row_shape_problem(row: object, columns: list[str]) -> str:
    """Why a row is not an object with exactly `columns`: the first missing or unknown key (quoted
    as column names are; a request's own key cut to 40 characters), or what it is instead of an object."""
    expected = f"expected an object with exactly {', '.join(columns)}"
    if not isinstance(row, dict):
        return f"{kind_of(row)}; {expected}"
    if missing := [column for column in columns if column not in row]:
        return f"no {missing[0]!r}; {expected}"
    unknown = next(name for name in row if name not in columns)
    return f"unknown key {repr(unknown)[:40]}; {expected}"


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
    if request.series is None:
        stamps, keys, values = _arrays_answer(forecaster, request)
        stamps, columns = stamps.astype(str).tolist(), values.tolist()
    else:
        try:
            result = forecast(forecaster, request.series, request.horizon, source="request")
        except DataValidationError as error:
            raise InvalidRequest("history", "; ".join(error.problems)) from None
        keys = [key for key in OUTPUT_COLUMNS if key in result]
        stamps = [stamp.isoformat() for stamp in result[forecaster.spec.timestamp_column]]
        columns = np.round(np.stack([result[key].to_numpy() for key in keys]), ANSWER_DECIMALS).tolist()
    fields = ["timestamp", *keys]
    forecasts = list(map(dict, map(zip, repeat(fields), zip(stamps, *columns, strict=True))))
    return {"model_version": version, "forecasts": forecasts}


def answer_json(forecaster: Forecaster, version: str, request: Request) -> bytes:
    """`answer` as the JSON bytes orjson writes for it, without a dict per period on the array
    route: the numbers are written by orjson straight from the array, then every period is filled
    into a template of the answer in one formatting pass. A test compares the bytes."""
    import orjson  # the predict function's; the Vertex AI container answers with `answer`

    if request.series is not None:
        return orjson.dumps(answer(forecaster, version, request))
    stamps, keys, values = _arrays_answer(forecaster, request)
    horizon, width = request.horizon, len(keys) + 1
    cells: list[bytes] = [b""] * (width * horizon)
    cells[::width] = stamps.astype(f"S{len(_CANONICAL_FORM)}").tolist()
    numbers = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)  # [[key 1's], [key 2's], ...]
    numbers_by_key = numbers.replace(b"[", b"").replace(b"]", b"").split(b",")
    for index in range(len(keys)):
        cells[index + 1 :: width] = numbers_by_key[index * horizon : (index + 1) * horizon]
    return _answer_template(tuple(keys), horizon) % (orjson.dumps(version), *cells)


def _arrays_answer(forecaster: Forecaster, request: Request) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The array route's forecast: its timestamps (datetime64 in seconds), the keys of its values
    (OUTPUT_COLUMNS that the model gives) and the values rounded, one row per key."""
    values = forecaster.predict(request.last_ns, request.y, request.horizon, request.known)
    keys = [key for key in OUTPUT_COLUMNS if key in values]
    step = step_nanoseconds(forecaster.spec)
    first, stop = request.last_ns + step, request.last_ns + step * (request.horizon + 1)
    stamps = np.arange(first, stop, step).astype("datetime64[ns]").astype("datetime64[s]")  # whole seconds
    return stamps, keys, np.array([values[key] for key in keys]).round(ANSWER_DECIMALS)


@functools.cache
def _answer_template(keys: tuple[str, ...], horizon: int) -> bytes:
    """The answer's JSON with a %s for the version (written as JSON) and for each period's cells."""
    period = "{" + ",".join(['"timestamp":"%s"', *(f'"{key}":%s' for key in keys)]) + "}"
    return ('{"model_version":%s,"forecasts":[' + ",".join([period] * horizon) + "]}").encode()
