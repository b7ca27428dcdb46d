"""The plain modules the components wrap: features, model, evaluation, gate, forecast, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.logic.data import DataSpec, DataValidationError, validate
from pipelines.logic.drift import detect_drift
from pipelines.logic.evaluation import evaluate_on_holdout, metrics, seasonal_naive, split_holdout
from pipelines.logic.features import build_features, feature_names, history_periods, max_horizon, training_rows
from pipelines.logic.forecast import forecast
from pipelines.logic.gate import decide
from pipelines.logic.model import Forecaster

SPEC = DataSpec()
DAY = 48


def test_features_use_only_targets_at_least_a_day_old(series):
    """Changing the last day's targets must not change any feature of that day or the next one:
    that is what makes direct forecasting up to a day ahead possible without leakage."""
    features = build_features(series, SPEC)
    changed = series.copy()
    changed.iloc[-DAY:, 0] *= 3
    after = build_features(changed, SPEC)
    pd.testing.assert_frame_equal(features.iloc[-DAY:], after.iloc[-DAY:])
    assert not features.iloc[:-DAY].equals(build_features(changed.shift(DAY), SPEC).iloc[:-DAY])


def test_feature_columns_history_and_horizon():
    spec = DataSpec(exogenous_columns=("temperature",))
    assert feature_names(spec)[-1] == "temperature" and "lag_7d" in feature_names(spec)
    assert history_periods(SPEC) == 9 * DAY - 1 and max_horizon(SPEC) == DAY
    assert DataSpec(frequency="1h").periods_per_day == 24


def test_training_rows_have_complete_features(series):
    features, target = training_rows(series, SPEC)
    assert len(features) == len(series) - history_periods(SPEC)
    assert features.notna().all().all() and target.index.equals(features.index)


def test_metrics_on_known_values():
    result = metrics(np.array([100.0, 200.0, 0.0]), np.array([110.0, 180.0, 5.0]))
    assert result["mae"] == pytest.approx(35 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt((100 + 400 + 25) / 3))
    assert result["mape"] == pytest.approx((10 + 10) / 2)  # the zero actual is left out


def test_holdout_is_the_last_days_and_naive_is_last_week(series):
    training, holdout = split_holdout(series, SPEC, holdout_days=7)
    assert holdout[0] == training.index[-1] + pd.Timedelta("30min") and len(holdout) == 7 * DAY
    naive = seasonal_naive(series, SPEC, holdout[:1])
    assert naive[0] == series["demand"].loc[holdout[0] - pd.Timedelta("7D")]


@pytest.fixture(scope="module")
def trained(series):
    training, holdout = split_holdout(series, SPEC, holdout_days=7)
    return Forecaster.train(training, SPEC), holdout


def test_model_beats_the_seasonal_naive_baseline_on_the_reference_holdout(series, trained):
    forecaster, holdout = trained
    model = evaluate_on_holdout(forecaster, series, holdout)
    baseline = metrics(series.loc[holdout, "demand"].to_numpy(), seasonal_naive(series, SPEC, holdout))
    assert model["mae"] < baseline["mae"] and model["rmse"] < baseline["rmse"]


def test_saved_forecaster_predicts_the_same(series, trained, tmp_path):
    forecaster, holdout = trained
    forecaster.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    features = build_features(series, SPEC).loc[holdout]
    np.testing.assert_allclose(loaded.predict(features), forecaster.predict(features))
    assert loaded.spec == SPEC and loaded.params == forecaster.params


def test_forecast_is_the_next_day_from_history_alone(series, trained):
    forecaster, _ = trained
    result = forecast(forecaster, series, horizon=DAY)
    assert result["timestamp"].iloc[0] == series.index[-1] + pd.Timedelta("30min") and len(result) == DAY
    assert result["forecast"].between(15_000, 45_000).all()


def test_forecast_limits(series, trained):
    forecaster, _ = trained
    with pytest.raises(DataValidationError, match="horizon 49 is out of range; expected 1 to 48 periods"):
        forecast(forecaster, series, horizon=49)
    with pytest.raises(DataValidationError, match="only 100 periods of history; expected at least 431"):
        forecast(forecaster, series.iloc[:100], horizon=1)


def test_exogenous_model_needs_future_values(with_temperature):
    spec = DataSpec(exogenous_columns=("temperature",))
    series = validate(with_temperature, spec, "with_temperature")
    forecaster = Forecaster.train(series, spec, {"n_estimators": 20})
    with pytest.raises(DataValidationError, match="column 'temperature': no value for 2000-08-28 00:00:00"):
        forecast(forecaster, series, horizon=4)
    future = pd.DataFrame(
        {"demand": np.nan, "temperature": [10.0, 11.0, 12.0, 13.0]},
        index=pd.date_range("2000-08-28", periods=4, freq="30min", name="timestamp"),
    )
    result = forecast(forecaster, pd.concat([series, future]), horizon=4)
    assert len(result) == 4 and result["forecast"].notna().all()


CHAMPION = {"mae": 100.0}
BASELINE = {"mae": 120.0}


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "reason"),
    [
        (90.0, None, True, "no champion yet; challenger mae 90.00 beats the baseline 120.00"),
        (125.0, None, False, "challenger mae 125.00 does not beat the seasonal-naive baseline 120.00"),
        (98.0, CHAMPION, True, "challenger mae 98.00 beats champion 100.00 by more than 1%"),
        (99.5, CHAMPION, False, "challenger mae 99.50 is not 1% better than champion 100.00 (needs <= 99.00)"),
        (110.0, CHAMPION, False, "challenger mae 110.00 is not 1% better than champion 100.00 (needs <= 99.00)"),
    ],
)
def test_gate(challenger, champion, promote, reason):
    decision = decide({"mae": challenger}, champion, BASELINE, metric="mae", margin=0.01)
    assert (decision.promote, decision.reason) == (promote, reason)
    assert decision.to_dict()["champion"] == (champion["mae"] if champion else None)


def test_no_drift_against_itself_and_drift_when_demand_shifts(series):
    same = detect_drift(series.iloc[:2000], series.iloc[:2000], SPEC)
    assert same.share == 0 and same.drifted == [] and not same.exceeds(0.5)
    shifted = series.iloc[-1000:].copy()
    shifted["demand"] *= 1.4
    drifted = detect_drift(series.iloc[:2000], shifted, SPEC)
    assert drifted.exceeds(0.5) and "demand" in drifted.drifted
    assert "<html" in drifted.html.lower() and '"changes"' in drifted.json


def test_integral_float_params_from_kfp_are_accepted(series):
    forecaster = Forecaster.train(series.iloc[: 20 * DAY], SPEC, {"n_estimators": 3.0, "max_depth": 2.0})
    assert forecaster.model.get_params()["n_estimators"] == 3 and forecaster.params["max_depth"] == 2
