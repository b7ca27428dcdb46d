"""The plain modules the components wrap: features, model, backtest, evaluation, gate, forecast, drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.logic.backtest import conformal_quantiles, fold_origins, naive_forecasts, train_challenger
from pipelines.logic.data import DataSpec, DataValidationError, validate
from pipelines.logic.drift import detect_drift
from pipelines.logic.evaluation import Evaluation, Scores, point_scores
from pipelines.logic.features import feature_names, history_periods, max_horizon, origin_features, required_history
from pipelines.logic.forecast import forecast
from pipelines.logic.gate import decide
from pipelines.logic.model import Forecaster, Series

SPEC = DataSpec()
DAY = 48


def test_origin_features_read_nothing_at_or_after_the_origin(series):
    arrays = Series.of(series, SPEC)
    origins = np.array([20 * DAY, 30 * DAY + 7])
    before = origin_features(arrays.y, origins, DAY, arrays.first_period(SPEC), SPEC, {})
    changed = arrays.y.copy()
    changed[20 * DAY :] *= 3  # everything from the first origin on
    after = origin_features(changed, origins[:1], DAY, arrays.first_period(SPEC), SPEC, {})
    np.testing.assert_array_equal(before[0][:DAY], after[0])
    assert before[0].shape == (2 * DAY, len(feature_names(SPEC)))


def test_feature_columns_history_and_horizon():
    spec = DataSpec(exogenous_columns=("temperature",))
    assert feature_names(spec)[-3:] == ["temperature", "temperature_1d", "temperature_7d"]
    assert history_periods(SPEC) == 8 * DAY and max_horizon(SPEC) == DAY
    assert required_history(SPEC, "training", 7) == 28 * DAY
    assert DataSpec(frequency="1h").periods_per_day == 24


def test_point_scores_on_known_values():
    result = point_scores(np.array([100.0, 200.0, 0.0]), np.array([110.0, 180.0, 5.0]))
    assert result["mae"] == pytest.approx(35 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt((100 + 400 + 25) / 3))
    assert result["mape"] == pytest.approx((10 + 10) / 2)  # the zero actual is left out


def test_folds_are_the_last_whole_days_and_naive_rules_read_the_day_and_week_before(series):
    arrays = Series.of(series.iloc[5:], SPEC)  # starts at 02:30: days still start at midnight
    origins = fold_origins(arrays, SPEC, 3)
    assert [str(pd.Timestamp(arrays.timestamps[o])) for o in origins] == [
        "2000-08-25 00:00:00",
        "2000-08-26 00:00:00",
        "2000-08-27 00:00:00",
    ]
    naive = naive_forecasts(arrays, SPEC, origins)
    np.testing.assert_array_equal(naive["naive_daily"].forecast[2], arrays.y[origins[2] - DAY : origins[2]])
    np.testing.assert_array_equal(
        naive["naive_weekly"].forecast[0], arrays.y[origins[0] - 7 * DAY : origins[0] - 6 * DAY]
    )


def test_conformal_quantiles_on_known_residuals():
    residuals = np.arange(1.0, 21.0).reshape(20, 1)  # one step, 20 folds: 1..20
    quantiles = conformal_quantiles(residuals)
    # n = 20: the 80 % interval's tails at floor(21 * 0.1) / 20 and ceil(21 * 0.9) / 20
    assert quantiles["lo_80"][0] == pytest.approx(np.quantile(residuals, 0.1))
    assert quantiles["hi_80"][0] == pytest.approx(np.quantile(residuals, 0.95))
    assert quantiles["lo_95"][0] == pytest.approx(1.0) and quantiles["hi_95"][0] == pytest.approx(20.0)


@pytest.fixture(scope="module")
def trained(series):
    return train_challenger(series.iloc[: -2 * DAY], SPEC, 3, {"n_estimators": 40})


def test_the_challenger_is_the_best_candidate_refit_on_all_data(series, trained):
    backtest = Evaluation.from_dict(trained.backtest)
    candidates = {name: backtest.scores[name].mae for name in ("seasonal", "trees", "ensemble")}
    assert trained.family == backtest.challenger == min(candidates, key=candidates.get)
    assert backtest.folds == ["2000-08-23", "2000-08-24", "2000-08-25"]
    assert set(backtest.scores) == {"seasonal", "trees", "ensemble", "naive_daily", "naive_weekly"}
    assert backtest.challenger_scores().mae < backtest.baseline("mae")[1].mae
    assert trained.training_data.index[-1] == series.index[-2 * DAY - 1]  # refit on every day given
    assert all(0 <= s.coverage_80 <= s.coverage_95 <= 100 for s in backtest.scores.values())


def test_saved_forecaster_predicts_the_same_and_keeps_its_training_data(series, trained, tmp_path):
    trained.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model", training_data=True)
    pd.testing.assert_frame_equal(forecast(loaded, series, DAY), forecast(trained, series, DAY))
    pd.testing.assert_frame_equal(loaded.training_data, trained.training_data)
    assert loaded.spec == SPEC and loaded.params == trained.params and loaded.backtest == trained.backtest
    assert Forecaster.load(tmp_path / "model").training_data is None


def test_a_forecaster_saved_before_the_trend_forecasts_as_it_did(series, trained, tmp_path):
    """Saved form 2 had no trend in the seasonal family: it reads as a level alone (beta 0, phi 1),
    so a registered champion keeps its forecasts until the next training replaces it."""
    import dataclasses

    from pipelines.logic.model import DESCRIPTION_FILE, Seasonal

    profile = np.sin(np.arange(7 * DAY) * 2 * np.pi / DAY) * 1_000
    level_only = dataclasses.replace(trained, family="seasonal", seasonal=Seasonal(profile, alpha=0.3))
    level_only.save(tmp_path / "model")
    description = json.loads((tmp_path / "model" / DESCRIPTION_FILE).read_text())
    description["format"] = 2
    del description["seasonal"]["beta"], description["seasonal"]["phi"]
    (tmp_path / "model" / DESCRIPTION_FILE).write_text(json.dumps(description))
    loaded = Forecaster.load(tmp_path / "model")
    pd.testing.assert_frame_equal(forecast(loaded, series, DAY), forecast(level_only, series, DAY))


def test_forecast_is_the_next_day_with_nested_intervals(series, trained):
    """Nested, not centred: conformal bounds carry the backtest's bias (on three folds the
    residuals may all have one sign)."""
    result = forecast(trained, series, horizon=DAY)
    assert result["timestamp"].iloc[0] == series.index[-1] + pd.Timedelta("30min") and len(result) == DAY
    assert result["forecast"].between(15_000, 45_000).all()
    assert (result["lo_95"] <= result["lo_80"]).all() and (result["lo_80"] < result["hi_80"]).all()
    assert (result["hi_80"] <= result["hi_95"]).all()


def test_forecasts_and_intervals_stay_within_the_specs_target_bounds():
    """A shop closed at night sells 0: no forecast or interval bound below target_min (0 by
    default), or above target_max where one is set; without bounds the same model reaches past both."""
    hours = pd.date_range("2025-01-06", periods=35 * 24, freq="1h")
    open_hours = (hours.hour >= 7) & (hours.hour < 20)
    noise = np.random.default_rng(3).normal(0, 6, len(hours))
    sales = np.where(open_hours, np.clip(30 + 20 * np.sin(np.pi * (hours.hour - 7) / 13) + noise, 0, 50), 0.0)
    frame = pd.DataFrame({"timestamp": hours, "sales": sales})
    ceiling = 50.0  # the ovens' capacity: the busiest hours sell out
    bounded = DataSpec(target_column="sales", frequency="1h", target_max=ceiling)
    unbounded = DataSpec(target_column="sales", frequency="1h", target_min=None)
    results = {}
    for name, spec in (("bounded", bounded), ("unbounded", unbounded)):
        series = validate(frame, spec, "sales.csv")
        model = train_challenger(series, spec, 7, {"n_estimators": 20})
        results[name] = forecast(model, series, horizon=24)
    keys = ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    unclipped, clipped = results["unbounded"][keys].to_numpy(), results["bounded"][keys].to_numpy()
    assert unclipped.min() < 0 and unclipped.max() > ceiling, "the case needs bounds past both limits"
    assert clipped.min() == 0 and clipped.max() == ceiling


def test_intervals_stay_in_proportion_to_a_series_with_closed_days():
    """Offices use ~0 on Sundays: a backtest fold whose day before was Sunday divided Monday's errors
    by ~0, and every later forecast's intervals reached tens of times the series' largest value;
    scaled by the week's mean, they stay within a few times of it."""
    hours = pd.date_range("2025-01-06", periods=45 * 24, freq="1h")  # Monday, 6 weeks, to a Wednesday
    working = (hours.dayofweek < 5) & (hours.hour >= 8) & (hours.hour < 18)
    noise = np.random.default_rng(5).normal(0, 10, len(hours))
    kwh = np.where(working, 200 + noise, np.where(hours.dayofweek < 5, 20.0, 0.2))
    spec = DataSpec(target_column="kwh", frequency="1h")
    series = validate(pd.DataFrame({"timestamp": hours, "kwh": kwh}), spec, "offices.csv")
    model = train_challenger(series, spec, 7, {"n_estimators": 20})
    thursday = forecast(model, series, horizon=24)  # the backtest's 7 folds include a Monday
    assert thursday["timestamp"].iloc[0].dayofweek == 3
    assert thursday["hi_95"].max() < 3 * kwh.max(), thursday["hi_95"].max()


def test_a_horizon_of_0_is_one_whole_day(series, trained):
    assert len(forecast(trained, series, horizon=0)) == 48  # the reference is half-hourly


def test_forecast_limits(series, trained):
    with pytest.raises(DataValidationError, match="horizon 49 is out of range; expected 1 to 48 periods"):
        forecast(trained, series, horizon=49)
    with pytest.raises(DataValidationError, match="only 100 periods of history; expected at least 384"):
        forecast(trained, series.iloc[:100], horizon=1)


def test_known_in_advance_columns_need_future_values(with_temperature):
    spec = DataSpec(exogenous_columns=("temperature",))
    series = validate(with_temperature, spec, "with_temperature")
    forecaster = Forecaster.train(series, spec, "trees", {"n_estimators": 20})
    with pytest.raises(DataValidationError, match="column 'temperature': no value for 2000-08-28 00:00:00"):
        forecast(forecaster, series, horizon=4)
    future = pd.DataFrame(
        {"demand": np.nan, "temperature": [10.0, 11.0, 12.0, 13.0]},
        index=pd.date_range("2000-08-28", periods=4, freq="30min", name="timestamp"),
    )
    result = forecast(forecaster, pd.concat([series, future]), horizon=4)
    assert len(result) == 4 and result["forecast"].notna().all()


def scores(mae: float) -> Scores:
    return Scores(mae=mae, rmse=mae, mape=1.0, coverage_80=80.0, coverage_95=95.0, fit_seconds=0.0)


def evaluation(challenger: float, champion: float | None, daily: float = 130.0, weekly: float = 120.0) -> Evaluation:
    methods = {"trees": scores(challenger), "naive_daily": scores(daily), "naive_weekly": scores(weekly)}
    result = Evaluation(["2000-08-27"], methods, "trees")
    return result.with_champion("3", scores(champion)) if champion is not None else result


NO_CHAMPION_WINS = "no champion yet; challenger (trees) mae 90.00 beats the naive_weekly rule 120.00 by more than 1%"


@pytest.mark.parametrize(
    ("challenger", "champion", "daily", "promote", "reason"),
    [
        (90.0, None, 130.0, True, NO_CHAMPION_WINS),
        (110.0, None, 100.0, False, "challenger (trees) mae 110.00 is not 1% better than the naive_daily rule 100.00"),
        (119.5, None, 130.0, False, "challenger (trees) mae 119.50 is not 1% better than the naive_weekly rule 120.00"),
        (98.0, 100.0, 130.0, True, "challenger (trees) mae 98.00 beats champion 100.00 by more than 1%"),
        (
            99.5,
            100.0,
            130.0,
            False,
            "challenger (trees) mae 99.50 is not 1% better than champion 100.00 (needs <= 99.00)",
        ),
    ],
)
def test_gate_against_the_better_naive_rule_and_the_champion(challenger, champion, daily, promote, reason):
    decision = decide(evaluation(challenger, champion, daily), metric="mae", margin=0.01)
    assert (decision.promote, decision.reason) == (promote, reason)
    assert decision.to_dict()["champion"] == champion


def test_an_evaluation_round_trips_through_its_file(tmp_path):
    original = evaluation(90.0, 100.0)
    original.save(tmp_path / "evaluation.json")
    assert Evaluation.load(tmp_path / "evaluation.json") == original
    assert original.champion_version == "3" and original.baseline("mae")[0] == "naive_weekly"


def test_no_drift_against_itself_and_drift_when_demand_shifts(series):
    same = detect_drift(series.iloc[:2000], series.iloc[:2000], SPEC)
    assert same.share == 0 and same.drifted == [] and not same.exceeds(0.5)
    shifted = series.iloc[-1000:].copy()
    shifted["demand"] *= 1.4
    drifted = detect_drift(series.iloc[:2000], shifted, SPEC)
    assert drifted.exceeds(0.5) and "demand" in drifted.drifted
    assert "<html" in drifted.html.lower() and '"changes"' in drifted.json


def test_integral_float_params_from_kfp_are_accepted(series):
    forecaster = Forecaster.train(series.iloc[: 20 * DAY], SPEC, "trees", {"n_estimators": 3.0, "max_depth": 2.0})
    assert forecaster.params["n_estimators"] == 3 and forecaster.params["max_depth"] == 2
    assert forecaster.booster.num_boosted_rounds() == 3


@pytest.mark.parametrize("metric", ["rmse", "mape"])
def test_the_challenger_is_the_candidate_best_on_the_runs_metric(series, metric):
    from pipelines.logic.model import FAMILIES

    forecaster = train_challenger(series.iloc[: 30 * DAY], SPEC, 2, {"n_estimators": 20}, metric=metric)
    scores = forecaster.backtest["scores"]
    # Intervals from the 7 days before the backtest with three weeks of data before them, and its 2.
    assert forecaster.backtest["extra"] == {"chosen_on": metric, "interval_days": 9}
    assert forecaster.family == min(FAMILIES, key=lambda family: scores[family][metric])


def test_the_intervals_come_from_the_chosen_familys_residuals_on_the_last_28_days(series):
    """The registered intervals are the conformal quantiles of the chosen family's relative
    residuals on the last 28 days, leaving out days without three weeks of data before them: the
    backtest's days forecast by the family refit on the data before each, the days before them by
    the family refit on the data before their week's Monday."""
    params = {"n_estimators": 5}
    frame = series.iloc[: 40 * DAY]  # days 0-39: the backtest is 37-39, the 28 days are 12-39
    forecaster = train_challenger(frame, SPEC, 3, params, families=("trees",))
    arrays = Series.of(frame, SPEC)
    residuals = []
    for day in range(21, 40):  # the series starts at midnight
        origin = day * DAY
        monday = origin - frame.index[origin].dayofweek * DAY
        fitted = Forecaster.fit(arrays.upto(origin if day >= 37 else monday), SPEC, "trees", params)
        mean = fitted.predict_origins(arrays.y, np.array([origin]), DAY, arrays.first_period(SPEC), {})[0]
        residuals.append((arrays.y[origin : origin + DAY] - mean) / arrays.y[origin - 7 * DAY : origin].mean())
    expected = conformal_quantiles(np.array(residuals))
    assert forecaster.backtest["extra"]["interval_days"] == 19
    for key, quantiles in expected.items():
        np.testing.assert_allclose(forecaster.intervals[key], quantiles, rtol=1e-12)
    short = train_challenger(series.iloc[: 24 * DAY], SPEC, 3, params, families=("trees",))
    assert short.backtest["extra"]["interval_days"] == 3  # no day before the backtest has three weeks


def test_weekly_refits_are_fitted_before_each_weeks_monday(series):
    """On a series that starts on a Wednesday at noon: each day's forecast comes from the family
    fitted on the data before its week's Monday (UTC), or, where that Monday has less than three
    weeks of data before it, before the first midnight that has."""
    from pipelines.logic.backtest import candidate_forecasts, weekly_fits

    frame = series.iloc[: 36 * DAY].copy()
    frame.index = pd.date_range("2000-06-07 12:00", periods=len(frame), freq="30min", name=frame.index.name)
    arrays, params = Series.of(frame, SPEC), {"n_estimators": 5}
    enough = (frame.index[0] + pd.Timedelta(days=21)).ceil("D")  # Thursday 29 June
    midnights = np.flatnonzero(frame.index.normalize() == frame.index)
    origins = midnights[(frame.index[midnights] >= enough) & (midnights + DAY <= len(frame))]
    fitted_at = weekly_fits(arrays, SPEC, origins)
    forecasts = candidate_forecasts(arrays, SPEC, origins, params, ("trees",), fitted_at)["trees"].forecast
    fitted_until = set()
    for weekly, origin in zip(forecasts, origins, strict=True):
        day = frame.index[origin]
        until = max(day - pd.Timedelta(days=day.dayofweek), enough)
        fitted_until.add(until)
        fitted = Forecaster.fit(arrays.upto(int(frame.index.searchsorted(until))), SPEC, "trees", params)
        expected = fitted.predict_origins(arrays.y, np.array([origin]), DAY, arrays.first_period(SPEC), {})[0]
        np.testing.assert_allclose(weekly, expected, rtol=1e-12)
    # Three fits: Thursday 29 June (its Monday has too little data), Mondays 3 and 10 July.
    assert sorted(fitted_until) == [enough, pd.Timestamp("2000-07-03"), pd.Timestamp("2000-07-10")]


@pytest.mark.parametrize("level", ["random walk", "constant", "trend"])
def test_the_seasonal_family_keeps_the_trend_model_mstl_chose(level):
    """The seasonal family keeps the model MSTL's trend forecaster (AutoETS) fitted on the
    deseasonalised window, with its parameters: a level that wanders is followed step by step, a
    constant level under noise is averaged over a long stretch, a level that keeps rising gets a
    trend, and its day ahead then rises too."""
    from statsforecast.models import MSTL

    from pipelines.logic.model import Seasonal, Series

    rng = np.random.default_rng(3)
    periods = 35 * DAY
    steps = np.arange(periods + DAY)
    shape = 1000 * np.sin(steps * 2 * np.pi / DAY) + 300 * (steps // DAY % 7 >= 5)
    moves = rng.normal(scale=50.0, size=periods)
    drift = {"random walk": np.cumsum(moves), "constant": moves, "trend": 5.0 * steps[:periods] + moves}[level]
    series = shape[:periods] + 20_000 + drift
    seasonal = Seasonal.fit(Series(np.arange(periods, dtype=np.int64) * (1800 * 10**9), series, {}), SPEC)

    ets = MSTL(season_length=[DAY, 7 * DAY]).fit(series).trend_forecaster.model_
    _, trend, _, damping = ets["components"]
    alpha, beta, _, phi = ets["par"][:4]
    if trend == "N":
        assert (seasonal.alpha, seasonal.beta, seasonal.phi) == (alpha, 0.0, 1.0)
    else:
        assert (seasonal.alpha, seasonal.beta, seasonal.phi) == (alpha, beta, phi if damping == "D" else 1.0)
    if level == "random walk":
        assert seasonal.alpha > 0.9
    if level == "constant":
        assert seasonal.alpha < 0.1 and seasonal.beta == 0.0
    if level == "trend":
        truth = shape[periods:] + 20_000 + 5.0 * steps[periods:]
        with_trend = seasonal.forecast(series, np.array([periods]), DAY, 0, SPEC)[0]
        level_alone = Seasonal(seasonal.profile, seasonal.alpha).forecast(series, np.array([periods]), DAY, 0, SPEC)[0]
        assert trend == "A" and np.abs(with_trend - truth).mean() < 100 < 500 < np.abs(level_alone - truth).mean()


@pytest.mark.parametrize(
    ("alpha", "beta", "phi"), [(0.002, 0.0, 1.0), (0.5, 0.0, 1.0), (1.0, 0.2, 0.8), (0.3, 0.1, 0.95)]
)
def test_the_smoothing_weights_give_the_level_and_trend_step_by_step(alpha, beta, phi):
    """The sums with smoothing_weights are the level and trend that ETS's recursion reaches, started
    at the first day's mean with no trend, then for each value: forecast = level + phi * trend,
    error = value - forecast, level = forecast + alpha * error, trend = phi * trend + beta * error
    (written out here)."""
    from pipelines.logic.model import smoothing_weights

    values = np.random.default_rng(5).normal(20_000, 3_000, size=8 * DAY)
    level, trend = values[:DAY].mean(), 0.0
    for value in values:
        forecast = level + phi * trend
        level, trend = forecast + alpha * (value - forecast), phi * trend + beta * (value - forecast)
    level_weights, trend_weights = smoothing_weights(alpha, beta, phi, len(values), DAY)
    assert values @ level_weights == pytest.approx(level, rel=1e-12)
    assert values @ trend_weights == pytest.approx(trend, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("alpha", "beta", "phi"), [(0.3, 0.0, 1.0), (1.0, 0.2, 0.8)])
def test_a_seasonal_forecast_is_the_same_alone_or_among_a_backtests_origins(alpha, beta, phi):
    """Each origin's forecast has the same bits whether it is computed alone (predict, batch
    prediction) or with many others (the backtest): the fold scores are those of the served model."""
    from pipelines.logic.model import Seasonal

    rng = np.random.default_rng(11)
    y = 20_000 + rng.normal(scale=500.0, size=40 * DAY)
    seasonal = Seasonal(profile=rng.normal(scale=1_000.0, size=7 * DAY), alpha=alpha, beta=beta, phi=phi)
    origins = np.arange(9 * DAY, 40 * DAY, 7)
    together = seasonal.forecast(y, origins, DAY, 5, SPEC)
    alone = np.concatenate([seasonal.forecast(y, origins[i : i + 1], DAY, 5, SPEC) for i in range(len(origins))])
    assert together.tobytes() == alone.tobytes()


def test_parquet_files_are_read_as_pandas_reads_them_without_starting_arrow_threads(series, tmp_path):
    """Arrow's thread pools can abort a process as it exits (apache/arrow#34314), so the platform
    reads its small parquet files in the calling thread: the same frame, and no thread started."""
    import subprocess
    import sys

    from environments.loading import REPO_ROOT
    from pipelines.logic.data import read_parquet

    path = tmp_path / "series.parquet"
    series.to_parquet(path)
    pd.testing.assert_frame_equal(read_parquet(path), pd.read_parquet(path))
    pd.testing.assert_frame_equal(read_parquet(path.read_bytes()), pd.read_parquet(path))
    probe = (
        "import os, pandas\nfrom pipelines.logic.data import read_parquet\n"
        "threads = lambda: len(os.listdir('/proc/self/task'))\n"
        f"before = threads()\nread_parquet({str(path)!r})\nafter = threads()\n"
        f"pandas.read_parquet({str(path)!r})\nprint(before, after, threads(), flush=True)\n"
        "os._exit(0)"  # the pools pandas started could abort the probe as it exits: the bug itself
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    before, after, with_pandas = map(int, result.stdout.split())
    assert after == before < with_pandas  # pandas' own reader starts Arrow's pools: the probe can tell
