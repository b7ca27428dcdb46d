"""Online forecasts from the current champion, with the same feature module as training.

POST {"history": [{"<timestamp>": "...", "<target>": 123.4, "<exogenous>": ...}, ...],
      "future":  [{"<timestamp>": "...", "<exogenous>": ...}, ...],      (when the model has exogenous inputs)
      "horizon": 48}                                                       (optional; default len(future) or a day)
-> 200 {"model_version": "3", "forecasts": [{"timestamp": "...", "forecast": 123.4}, ...]}

Validation comes first, before any model is needed: malformed JSON, wrong types, too short a history
or too long a horizon get 400 with the field and a precise message. A valid request while no
champion exists gets 503. The champion is loaded once and reloaded when the registry's champion
alias moves (checked at most every CHAMPION_CHECK_SECONDS); a champion that cannot be loaded leaves
the loaded one serving (503 when there is none).

Configuration (environment variables, set by the stack; `make serve` sets local ones):
  REGISTRY_URI            the model registry (a folder, or vertex://project/region/model)
  DATA_SPEC               JSON of the column names and frequency requests use
  CHAMPION_CHECK_SECONDS  how long a champion lookup is trusted (default 60)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import functions_framework
import pandas as pd

from functions.http_json import BadRequest, json_object
from pipelines.data import DataSpec, DataValidationError, validate
from pipelines.features import history_periods, max_horizon
from pipelines.forecast import forecast
from pipelines.model import Forecaster
from pipelines.registry import Registry, open_registry

MAX_BODY_BYTES = 1024 * 1024
BODY_KEYS = ("history", "future", "horizon")
# Rows may cover at most this many times their number of periods before the gap check refuses
# them outright: half the periods missing still get the detailed message, and its cost stays
# proportional to the request.
SPAN_FACTOR = 2


class Champion:
    """The champion forecaster, reloaded when the registry's champion alias moves.

    A champion that cannot be loaded (a pointer naming a missing version, a partial version, an
    unreachable registry) never fails a request: the model already loaded keeps serving, and
    without one the answer is 503 with the reason (the details go to the log). Only the model is
    kept, in memory: a downloaded version folder (training data included) is deleted once loaded.
    """

    def __init__(self, registry: Registry, check_seconds: float) -> None:
        self.registry = registry
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._version = None
        self._forecaster: Forecaster | None = None
        self.problem: str | None = None  # why the current champion is not the one serving

    def get(self) -> tuple[str, Forecaster] | None:
        with self._lock:
            if time.monotonic() - self._checked >= self.check_seconds:
                self._checked = time.monotonic()
                try:
                    self._refresh()
                    self.problem = None
                except Exception as error:  # any registry or artifact failure: keep serving what is loaded
                    self.problem = f"the registry's champion cannot be loaded ({type(error).__name__}); see the logs"
                    _log("ERROR", f"champion not loaded: {type(error).__name__}: {error}", serving=self._version)
            return (self._version, self._forecaster) if self._forecaster else None

    def _refresh(self) -> None:
        current = self.registry.champion()
        if current is None:
            self._version, self._forecaster = None, None
        elif current.version != self._version:
            folder = self.registry.fetch(current)
            try:
                forecaster = Forecaster.load(folder)
            finally:
                if folder != Path(current.artifacts):  # a download, not the registry's own folder
                    shutil.rmtree(folder, ignore_errors=True)
            self._version, self._forecaster = current.version, forecaster


_champion: Champion | None = None


def champion() -> Champion:
    global _champion
    if _champion is None:
        _champion = Champion(
            open_registry(os.environ["REGISTRY_URI"]), float(os.environ.get("CHAMPION_CHECK_SECONDS", "60"))
        )
    return _champion


def _log(severity: str, message: str, **fields) -> None:
    """One structured line, as Cloud Logging reads them from stderr."""
    print(json.dumps({"severity": severity, "message": message, **fields}), file=sys.stderr, flush=True)


def request_spec() -> DataSpec:
    return DataSpec.from_dict(json.loads(os.environ.get("DATA_SPEC", "{}")))


def parse(request, spec: DataSpec) -> tuple[pd.DataFrame, int]:
    """The validated series (history then future rows) and horizon, or BadRequest."""
    body = json_object(request, BODY_KEYS, MAX_BODY_BYTES)

    history = _rows(body, "history", [spec.timestamp_column, spec.target_column, *spec.exogenous_columns], spec)
    future = _rows(body, "future", [spec.timestamp_column, *spec.exogenous_columns], spec, required=False)
    horizon = body.get("horizon", len(future) or max_horizon(spec))
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= max_horizon(spec):
        raise BadRequest(
            "horizon",
            f"{json.dumps(horizon)[:40]} is not a horizon; expected an integer from 1 to "
            f"{max_horizon(spec)} (one day at {spec.frequency})",
        )
    if spec.exogenous_columns and len(future) < horizon:
        raise BadRequest(
            "future",
            f"{len(future)} future rows; expected {horizon}, one per forecast period, with "
            f"{', '.join(spec.exogenous_columns)}",
        )
    if len(history) < history_periods(spec):
        raise BadRequest(
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
        raise BadRequest("history", "; ".join(error.problems)) from None
    return series, horizon


def _rows(body: dict, key: str, columns: list[str], spec: DataSpec, required: bool = True) -> list[dict]:
    rows = body.get(key, [] if not required else None)
    if not isinstance(rows, list):
        raise BadRequest(key, f"expected a list of objects with {', '.join(columns)}")
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(columns):
            raise BadRequest(f"{key}[{index}]", f"expected an object with exactly {', '.join(columns)}")
        if not isinstance(row[spec.timestamp_column], str):
            raise BadRequest(f"{key}[{index}].{spec.timestamp_column}", "expected an ISO 8601 timestamp string")
        for column in columns[1:]:
            value = row[column]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise BadRequest(f"{key}[{index}].{column}", f"{json.dumps(value)[:40]} is not a finite number")
    return rows


def _check_span(timestamps: pd.Series, horizon: int, spec: DataSpec) -> None:
    """Refuse timestamps spread over far more periods than there are rows, before the gap check
    builds one entry per period from the first to the last (cost bounded by the request's size),
    and forecast periods past the last date pandas can represent."""
    period = pd.Timedelta(spec.frequency).value
    first, last = timestamps.min(), timestamps.max()
    periods = (last.value - first.value) // period + 1  # Python ints: 1677 to 2262 overflows a Timedelta
    if periods > SPAN_FACTOR * len(timestamps):
        raise BadRequest(
            "history",
            f"{len(timestamps)} rows from {first} to {last} span {periods} periods of {spec.frequency}; "
            f"expected one row every {spec.frequency}",
        )
    if last.value > pd.Timestamp.max.value - (horizon + 1) * period:
        raise BadRequest("history", f"the last timestamp {last} leaves no room for {horizon} forecast periods")


@functions_framework.http
def predict(request):
    spec = request_spec()
    try:
        series, horizon = parse(request, spec)
    except BadRequest as bad:
        return bad.response()
    serving = champion()
    current = serving.get()
    if current is None:
        error = serving.problem or "no champion model yet; run the training pipeline first"
        return {"error": error, "field": None}, 503
    version, forecaster = current
    if forecaster.spec.to_dict() != spec.to_dict():
        return {
            "error": f"champion version {version} expects {forecaster.spec.to_dict()}; this function is "
            f"configured for {spec.to_dict()} (DATA_SPEC)",
            "field": None,
        }, 503
    try:
        result = forecast(forecaster, series, horizon, source="request")
    except DataValidationError as error:
        return {"error": "; ".join(error.problems), "field": "history"}, 400
    forecasts = [
        {"timestamp": stamp.isoformat(), "forecast": round(float(value), 3)}
        for stamp, value in zip(result[spec.timestamp_column], result["forecast"], strict=True)
    ]
    return {"model_version": version, "forecasts": forecasts}, 200
