"""The forecaster: one class for every model family the backtest may choose, and its saved form.

Families (`FAMILIES`), all forecasting up to one day after the end of the history they are given:
- `seasonal`: statsforecast's MSTL (daily and weekly seasons) fitted at training time on the last
  SEASONAL_WINDOW_DAYS; its seasonal components over the last week are stored as a profile by
  period of the week, with the smoothing parameters of the model MSTL's own trend forecaster
  (AutoETS) chose for the rest: a level alone, or a level with a (damped) trend. A forecast removes
  the profile from the history, runs that model's smoothing over it and adds the profile back to
  the model's forecast: a few microseconds, no refit per request, and statsforecast is needed only
  to train.
- `trees`: XGBoost on the origin-relative features of features.py, learning the level-normalised
  target minus the same period yesterday; one model for every step of the day ahead.
- `ensemble`: ENSEMBLE_TREES_WEIGHT x trees + the rest x seasonal.

Prediction intervals (80 % and 95 %) are conformal: quantiles of relative residuals per step
((actual - forecast) / level, level = the mean of the INTERVAL_LEVEL_DAYS before the origin,
`interval_level`), set by the training run from the chosen family's residuals on its last
CALIBRATION_DAYS (backtest.py); a forecast adds level x quantile to the mean.

`save`/`load` own the file layout: `forecaster.json` (description, profile, intervals, the trees
in XGBoost's UBJSON, base64) and `training_data.parquet` (the series it was fitted on: the drift
reference), which a registry version holds (ARTIFACT_FILES), and beside them `fit_seconds.json`
(the backtest's fit times, which are the run's and not the model's: never registered). Serving
reads only SERVING_FILES and needs numpy and xgboost.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.logic.features import (
    HISTORY_DAYS,
    NANOSECONDS,
    feature_names,
    history_periods,
    origin_features,
    period_number,
)
from pipelines.logic.parameters import MODEL_PARAMS
from pipelines.logic.spec import SECONDS_PER_DAY, DataSpec
from pipelines.logic.trees import TreePredictor

FAMILIES = ("seasonal", "trees", "ensemble")
ENSEMBLE_PARTS = ("seasonal", "trees")  # the families the ensemble weighs (ensemble_of's arguments, in order)
LEVELS = (80, 95)
INTERVAL_KEYS = tuple(f"{side}_{level}" for level in LEVELS for side in ("lo", "hi"))
DESCRIPTION_FILE = "forecaster.json"
TRAINING_DATA_FILE = "training_data.parquet"  # the drift reference
# The backtest's fit times: a measurement of the training run, not of the model, so they are kept
# beside the model (evaluation reads them, the run's metrics record them) and never registered:
# training on the same data twice gives byte-identical artifacts, which the registry recognises.
FIT_TIMES_FILE = "fit_seconds.json"
SERVING_FILES = (DESCRIPTION_FILE,)  # what serving reads
ARTIFACT_FILES = (DESCRIPTION_FILE, TRAINING_DATA_FILE)  # what a saved forecaster is
# The saved form's version: 1 was a plain XGBoost model on day-old lags; 2 had no trend in the
# seasonal family, and is read as beta 0 and phi 1 (the forecasts it gave).
FORMAT = 3
READABLE_FORMATS = (2, FORMAT)

# The trees' share of the ensemble, chosen on the reference's days 57-70 (the 14 before its last 14,
# inside the accuracy benchmark's scored days since it scores 56): with the trees learning absolute
# error, 0.4 gives 242.4 MAE there, 0.3 and 0.5 give 246.1 and 243.6 (with squared error, 0.3-0.5
# were within 0.5 %).
ENSEMBLE_TREES_WEIGHT = 0.4
# The residuals' scale: the mean of the week before the origin. A day's mean was near 0 after a day
# a building or shop is closed, and the intervals then reached 30 times the series' largest value.
# A saved form without `interval_level_days` scaled by the day before (1).
INTERVAL_LEVEL_DAYS = 7
SEASONAL_WINDOW_DAYS = 56  # MSTL's fitting window: eight weekly seasons
TREE_WINDOW_DAYS = 365
ORIGINS_PER_DAY = 4  # training origins every six hours: requests may end at any time of day
# The trees learn absolute error, the gate's default metric: on the 14 and 28 days before the last
# 14 of the accuracy benchmark's series (its second and third scored fortnights from the end, when
# it scored only the last one), their champions beat the best of MSTL and the naive rules on all 6
# series and windows, against 4 of 6 learning squared error; the ensemble's weight, chosen again
# on the reference's days 57-70, stayed 0.4.
DEFAULT_PARAMS = {
    "n_estimators": 150,
    "max_depth": 5,
    "learning_rate": 0.1,
    "subsample": 0.9,
    "objective": "reg:absoluteerror",
}
# KFP passes dict parameters as protobuf Structs, where every number is a double.
INTEGER_PARAMS = frozenset(name for name, rule in MODEL_PARAMS.items() if rule.integer)


@dataclass(frozen=True)
class Series:
    """A validated series as arrays: timestamps (ns since the epoch), target, exogenous columns."""

    timestamps: np.ndarray
    y: np.ndarray
    known: dict[str, np.ndarray]

    @classmethod
    def of(cls, frame: pd.DataFrame, spec: DataSpec) -> Series:
        return cls(
            timestamps=pd.DatetimeIndex(frame.index).as_unit("ns").asi8,
            y=frame[spec.target_column].to_numpy(dtype=np.float64),
            known={c: frame[c].to_numpy(dtype=np.float64) for c in spec.exogenous_columns},
        )

    def first_period(self, spec: DataSpec) -> int:
        return int(period_number(self.timestamps[0], spec.periods_per_day))

    def upto(self, end: int) -> Series:
        return Series(self.timestamps[:end], self.y[:end], {k: v[:end] for k, v in self.known.items()})


@dataclass(frozen=True)
class Seasonal:
    """MSTL's seasonal profile by period of the week, and the smoothing of its trend model: the
    level moves by `alpha` of each one-step error, the trend by `beta` (0: no trend), and the trend
    is damped by `phi` per step (1: not damped)."""

    profile: np.ndarray  # (7 * periods_per_day,), indexed by period number modulo a week
    alpha: float
    beta: float = 0.0
    phi: float = 1.0

    @classmethod
    def fit(cls, series: Series, spec: DataSpec) -> Seasonal:
        from statsforecast.models import MSTL  # training only

        per_day, week = spec.periods_per_day, 7 * spec.periods_per_day
        start = max(0, len(series.y) - SEASONAL_WINDOW_DAYS * per_day)
        model = MSTL(season_length=[per_day, week]).fit(series.y[start:])
        fitted = model.model_
        # As MSTL forecasts: the daily component of the last day plus the weekly one of the last week.
        periods = series.first_period(spec) + np.arange(len(series.y) - week, len(series.y))
        daily = fitted[f"seasonal{per_day}"].to_numpy()[-per_day:]
        profile = np.zeros(week)
        profile[periods % week] = (
            fitted[f"seasonal{week}"].to_numpy()[-week:] + daily[periods % per_day - periods[0] % per_day]
        )
        return cls(profile, *trend_smoothing(model.trend_forecaster.model_))

    def forecast(self, y: np.ndarray, origins: np.ndarray, horizon: int, first_period: int, spec: DataSpec):
        """(n_origins, horizon) forecasts from the HISTORY_DAYS before each origin."""
        length = history_periods(spec)
        # The profile over each origin's history and forecast periods, in a row.
        seasons = _windows(
            self._profile_repeated, (first_period + origins - length) % len(self.profile), length + horizon
        )
        deseasonalised = _windows(y, origins - length, length) - seasons[:, :length]
        level_weights, trend_weights = smoothing_weights(self.alpha, self.beta, self.phi, length, spec.periods_per_day)
        # Not `@`: BLAS picks its kernel by the number of rows, so one origin alone and the same
        # origin among a backtest's would differ in the last bits; numpy's own sum is per row.
        outlook = (deseasonalised * level_weights).sum(axis=1)[:, None]
        if self.beta:
            outlook = outlook + (deseasonalised * trend_weights).sum(axis=1)[:, None] * damped_steps(self.phi, horizon)
        return outlook + seasons[:, length:]

    @functools.cached_property
    def _profile_repeated(self) -> np.ndarray:
        """The profile repeated over a week more than a history and a day ahead: every window
        `forecast` reads is a slice of it, from a start within the first week."""
        week = len(self.profile)
        return np.resize(self.profile, week + week // 7 * (HISTORY_DAYS + 1))


def _windows(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """values[start : start + length] for each start, one row each (a view for a single start)."""
    if len(starts) == 1:
        return values[starts[0] : starts[0] + length][None]
    return values[starts[:, None] + np.arange(length)]


@functools.cache
def damped_steps(phi: float, horizon: int) -> np.ndarray:
    """How many trends each step ahead adds to the level: phi + phi^2 + ... + phi^step (the damped
    trend method, Hyndman & Athanasopoulos, FPP3 8.2). statsforecast's ETS forecast, ported from R
    forecast's etsforecast.c, sums phi + phi + phi^2 + ... + phi^(step-1) instead, so MSTL's own
    forecast of a damped trend runs further from the second step on. Measured on Victoria's folds,
    where AutoETS picks a damped trend: the same level, trend and seasons as MSTL's (to 1e-8), and
    forecasts that part from the second step; where it picks none, they are equal."""
    steps = np.cumsum(phi ** np.arange(1, horizon + 1))
    steps.flags.writeable = False  # shared by every caller
    return steps


def trend_smoothing(ets: dict) -> tuple[float, float, float]:
    """(alpha, beta, phi) of a fitted statsforecast ETS model without seasons, as Seasonal keeps
    them: its components read error, trend (N or A: AutoETS allows no multiplicative trend unless
    asked), season, damping (D or N); `par` holds alpha, beta, gamma, phi. The error's type changes
    the likelihood the parameters were chosen by, not the forecasts they give."""
    _, trend, _, damping = ets["components"]
    alpha, beta, _, phi = (float(value) for value in ets["par"][:4])
    if trend == "N":
        return alpha, 0.0, 1.0
    return alpha, beta, phi if damping == "D" else 1.0


@functools.cache
def smoothing_weights(alpha: float, beta: float, phi: float, length: int, start_periods: int):
    """The level and the trend after smoothing `length` values, as weights of those values.

    The level starts at the mean of the first `start_periods` values and the trend at 0; for each
    value, the one-step forecast is level + phi * trend, and with its error e the level becomes
    level + phi * trend + alpha * e and the trend phi * trend + beta * e (ETS's error-correction
    form). That is linear in the values, so it unrolls into one weighted sum each per forecast
    instead of a recursion over the history."""
    # The state (level, trend) moves by `transition` and takes `gain` of each value.
    transition = np.array([[1.0 - alpha, phi * (1.0 - alpha)], [-beta, phi * (1.0 - beta)]])
    gain = np.array([alpha, beta])
    weights = np.empty((length, 2))
    carried = gain
    for position in range(length - 1, -1, -1):
        weights[position] = carried
        carried = transition @ carried
    # The start state (the mean of the first values, no trend) reaches the end as the first column
    # of transition^length, shared by the values it is the mean of.
    start = np.linalg.matrix_power(transition, length)[:, 0]
    weights[:start_periods] += start / start_periods
    level, trend = np.ascontiguousarray(weights[:, 0]), np.ascontiguousarray(weights[:, 1])
    level.flags.writeable = trend.flags.writeable = False  # shared by every caller
    return level, trend


@dataclass
class Forecaster:
    spec: DataSpec
    family: str
    params: dict = field(default_factory=dict)
    seasonal: Seasonal | None = None
    booster: object | None = None  # xgboost.Booster
    intervals: dict[str, np.ndarray] | None = None  # relative residual quantiles per step
    training_data: pd.DataFrame | None = None  # the drift reference, saved with the model
    backtest: dict | None = None  # the training run's backtest scores (Evaluation.to_dict)
    # Each candidate's forecasts of the backtest folds, (folds, periods_per_day): what a later run
    # reuses to score this model's recipe on days it was trained on.
    fold_forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    trained_until: str | None = None  # the last period of the training data (ISO)
    interval_level_days: int = INTERVAL_LEVEL_DAYS  # the days `interval_level` averages for this model

    @classmethod
    def fit(cls, series: Series, spec: DataSpec, family: str = "ensemble", params: dict | None = None) -> Forecaster:
        """Fit `family` on a whole series (arrays of a validated series)."""
        if family not in FAMILIES:
            raise ValueError(f"family {family!r}: expected one of {', '.join(FAMILIES)}")
        params = DEFAULT_PARAMS | {k: int(v) if k in INTEGER_PARAMS else v for k, v in (params or {}).items()}
        seasonal = Seasonal.fit(series, spec) if family in ("seasonal", "ensemble") else None
        booster = _fit_trees(series, spec, params) if family in ("trees", "ensemble") else None
        return cls(spec=spec, family=family, params=params, seasonal=seasonal, booster=booster)

    @classmethod
    def train(cls, frame: pd.DataFrame, spec: DataSpec, family: str = "ensemble", params: dict | None = None):
        """Fit on a validated series (a DataFrame indexed by timestamp); it is kept as the drift reference."""
        forecaster = cls.fit(Series.of(frame, spec), spec, family, params)
        forecaster.training_data = frame
        forecaster.trained_until = frame.index[-1].isoformat()
        return forecaster

    @functools.cached_property
    def _trees(self) -> TreePredictor:
        return TreePredictor(self.booster)

    def components(self, y: np.ndarray, origins: np.ndarray, horizon: int, first_period: int, known: dict) -> dict:
        """Each fitted part's (n_origins, horizon) forecasts from y[:origin]; values at or after an
        origin are never read (known-in-advance columns excepted)."""
        parts = {}
        if self.seasonal is not None:
            parts["seasonal"] = self.seasonal.forecast(y, origins, horizon, first_period, self.spec)
        if self.booster is not None:
            matrix, level, base = origin_features(y, origins, horizon, first_period, self.spec, known)
            ratio = self._trees(matrix) + base
            parts["trees"] = (ratio * level).reshape(len(origins), horizon)
        # Within the spec's bounds (sales never below 0): each part, so that the ensemble, their
        # weighted mean, is too, and the backtest's ensemble of parts is the one served.
        return {name: within_target(part, self.spec) for name, part in parts.items()}

    def predict_origins(self, y: np.ndarray, origins: np.ndarray, horizon: int, first_period: int, known: dict):
        """(n_origins, horizon) point forecasts of this forecaster's family."""
        parts = self.components(y, origins, horizon, first_period, known)
        return parts[self.family] if self.family in parts else ensemble_of(parts["seasonal"], parts["trees"])

    def predict(
        self, last_timestamp_ns: int, y: np.ndarray, horizon: int, known: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Forecast `horizon` periods after the last of `y` (its last HISTORY_DAYS are read).

        `known`: each exogenous column over those history periods then the `horizon` forecast periods.
        Returns `forecast` and the interval bounds INTERVAL_KEYS (when calibrated), one value per period.
        """
        per_day, length = self.spec.periods_per_day, history_periods(self.spec)
        y = y[-length:]
        known = {k: v[len(v) - horizon - length :] for k, v in known.items()}
        first = int(period_number(last_timestamp_ns, per_day)) - length + 1
        mean = self.predict_origins(y, np.array([length]), horizon, first, known)[0]
        result = {"forecast": mean}
        if self.intervals is not None:
            level = interval_level(y, np.array([len(y)]), per_day, self.interval_level_days)
            result |= interval_bounds(mean, level[0], self.intervals, self.spec)
        return result

    def save(self, directory: Path) -> None:
        """Write ARTIFACT_FILES into `directory` (the training data only when known)."""
        directory.mkdir(parents=True, exist_ok=True)
        description = {
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "family": self.family,
            "params": self.params,
            "features": feature_names(self.spec),
            "seasonal": None
            if self.seasonal is None
            else {
                "profile": self.seasonal.profile.tolist(),
                "alpha": self.seasonal.alpha,
                "beta": self.seasonal.beta,
                "phi": self.seasonal.phi,
            },
            "trees": None if self.booster is None else base64.b64encode(self.booster.save_raw("ubj")).decode(),
            "intervals": None if self.intervals is None else {k: v.tolist() for k, v in self.intervals.items()},
            "backtest": _without_fit_times(self.backtest),
            "fold_forecasts": {k: v.tolist() for k, v in self.fold_forecasts.items()},
            "trained_until": self.trained_until,
            "interval_level_days": self.interval_level_days,
        }
        (directory / DESCRIPTION_FILE).write_text(json.dumps(description))
        if self.backtest is not None:
            fit_times = {name: scores["fit_seconds"] for name, scores in self.backtest["scores"].items()}
            (directory / FIT_TIMES_FILE).write_text(json.dumps(fit_times))
        if self.training_data is not None:
            self.training_data.to_parquet(directory / TRAINING_DATA_FILE)

    @classmethod
    def load(cls, directory: Path, *, training_data: bool = False) -> Forecaster:
        """The forecaster saved in `directory`; with `training_data`, its drift reference too."""
        description = json.loads((directory / DESCRIPTION_FILE).read_text())
        if description.get("format") not in READABLE_FORMATS:
            raise ValueError(
                f"{directory / DESCRIPTION_FILE}: saved form {description.get('format', 1)}; "
                f"expected one of {', '.join(map(str, READABLE_FORMATS))}"
            )
        booster = None
        if description["trees"] is not None:
            import xgboost as xgb

            booster = xgb.Booster(model_file=bytearray(base64.b64decode(description["trees"])))
            booster.set_param({"nthread": 1})  # 48 rows per request: threads cost more than they save
        seasonal = description["seasonal"]
        intervals = description["intervals"]
        from pipelines.logic.data import read_parquet  # the drift reference: training and monitoring only

        return cls(
            spec=DataSpec.from_dict(description["spec"]),
            family=description["family"],
            params=description["params"],
            seasonal=None
            if seasonal is None
            else Seasonal(
                np.asarray(seasonal["profile"]), seasonal["alpha"], seasonal.get("beta", 0.0), seasonal.get("phi", 1.0)
            ),
            booster=booster,
            intervals=None if intervals is None else {k: np.asarray(v) for k, v in intervals.items()},
            training_data=read_parquet(directory / TRAINING_DATA_FILE) if training_data else None,
            backtest=_with_fit_times(description["backtest"], directory / FIT_TIMES_FILE),
            fold_forecasts={k: np.asarray(v) for k, v in description["fold_forecasts"].items()},
            trained_until=description["trained_until"],
            interval_level_days=description.get("interval_level_days", 1),
        )


def interval_bounds(
    mean: np.ndarray, level, quantiles: dict[str, np.ndarray], spec: DataSpec | None = None
) -> dict[str, np.ndarray]:
    """The INTERVAL_KEYS bounds of forecasts `mean` (the steps of one origin, or one row per
    origin) whose origins' last day averaged `level` (one value, or one per row, as a column):
    mean + level x each step's relative residual quantile; with `spec`, within its target bounds
    as served (the backtest's coverage needs none: an actual is always within them)."""
    horizon = mean.shape[-1]
    bounds = {key: mean + level * quantiles[key][:horizon] for key in INTERVAL_KEYS}
    return bounds if spec is None else {key: within_target(values, spec) for key, values in bounds.items()}


def interval_level(y: np.ndarray, origins: np.ndarray, per_day: int, days: int = INTERVAL_LEVEL_DAYS) -> np.ndarray:
    """(n_origins,) the scale of the conformal residuals at each origin: the mean of the `days`
    before it (fewer where the series is shorter)."""
    window = days * per_day
    return np.array([_mean(y[max(0, int(origin) - window) : int(origin)]) for origin in origins])


def _mean(values: np.ndarray) -> float:
    """`values.mean()`, to the last bit (numpy's mean is this sum and division), without the
    microseconds its dispatch costs each of predict's requests."""
    return np.add.reduce(values) / len(values)


def within_target(values: np.ndarray, spec: DataSpec) -> np.ndarray:
    """`values` clipped to the spec's target_min and target_max, where set."""
    # The ufuncs np.clip calls, without its dispatch (a quarter of predict's own time on 5 arrays).
    if spec.target_min is not None:
        values = np.maximum(values, spec.target_min)
    if spec.target_max is not None:
        values = np.minimum(values, spec.target_max)
    return values


def ensemble_of(seasonal: np.ndarray, trees: np.ndarray) -> np.ndarray:
    return ENSEMBLE_TREES_WEIGHT * trees + (1 - ENSEMBLE_TREES_WEIGHT) * seasonal


def _without_fit_times(backtest: dict | None) -> dict | None:
    if backtest is None:
        return None
    return backtest | {"scores": {name: s | {"fit_seconds": 0.0} for name, s in backtest["scores"].items()}}


def _with_fit_times(backtest: dict | None, fit_times_file: Path) -> dict | None:
    """The saved backtest with the fit times kept beside it (0 where absent, e.g. a registered version)."""
    if backtest is None or not fit_times_file.is_file():
        return backtest
    fit_times = json.loads(fit_times_file.read_text())
    return backtest | {
        "scores": {name: s | {"fit_seconds": fit_times.get(name, 0.0)} for name, s in backtest["scores"].items()}
    }


def _fit_trees(series: Series, spec: DataSpec, params: dict):
    """XGBoost on every origin every 1/ORIGINS_PER_DAY day with HISTORY_DAYS of history in the last
    TREE_WINDOW_DAYS, one row per step of the day after it that has been observed."""
    import xgboost as xgb

    per_day = spec.periods_per_day
    first = series.first_period(spec)
    start = max(0, len(series.y) - TREE_WINDOW_DAYS * per_day)
    start += (-(first + start)) % per_day  # the first midnight: origins fall on the same times of day
    y = np.concatenate([series.y[start:], np.full(per_day, np.nan)])  # targets past the end: dropped
    known = {k: np.concatenate([v[start:], np.full(per_day, np.nan)]) for k, v in series.known.items()}
    origins = np.arange(HISTORY_DAYS * per_day, len(y) - per_day, max(1, per_day // ORIGINS_PER_DAY))
    if len(origins) < ORIGINS_PER_DAY:
        raise ValueError(f"{len(series.y)} periods; the trees need at least {HISTORY_DAYS + 1} days")
    matrix, level, base = origin_features(y, origins, per_day, first + start, spec, known)
    actual = y[(origins[:, None] + np.arange(per_day)[None, :]).reshape(-1)]
    observed = np.isfinite(actual)
    # One thread: a few thousand rows, and on a busy machine a second thread spins more than it works.
    model = xgb.XGBRegressor(**params, random_state=0, n_jobs=1, tree_method="hist")
    model.fit(matrix[observed], actual[observed] / level[observed] - base[observed])
    return model.get_booster()


def step_nanoseconds(spec: DataSpec) -> int:
    return SECONDS_PER_DAY * NANOSECONDS // spec.periods_per_day
