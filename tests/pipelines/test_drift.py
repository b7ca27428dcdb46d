"""Drift on the seasonal reference series: its own recent weeks are not drift, a 10 % level shift
of the same weeks is (issue 11 point 5). Both series are made from the reference."""

from __future__ import annotations

from pipelines.logic.data import DataSpec
from pipelines.logic.drift import MIN_TOLERANCE, detect_drift

SPEC = DataSpec()
DAY = 48


def test_the_references_own_last_two_weeks_are_not_drift(series):
    training = series.iloc[: -7 * DAY]  # what a champion trained on (the last 7 days held out)
    result = detect_drift(training, series.iloc[-14 * DAY :], SPEC)
    assert result.share == 0.0 and result.drifted == [] and not result.exceeds(0.5)
    assert 0 < result.changes["demand"] < result.tolerances["demand"]


def test_the_same_weeks_with_the_level_shifted_by_ten_percent_are_drift(series):
    training, recent = series.iloc[: -7 * DAY], series.iloc[-14 * DAY :]
    result = detect_drift(training, recent.assign(demand=recent["demand"] * 1.10), SPEC)
    assert result.share == 1.0 and result.drifted == ["demand"] and result.exceeds(0.5)
    assert result.changes["demand"] > 0.10
    lowered = detect_drift(training, recent.assign(demand=recent["demand"] * 0.90), SPEC)
    assert lowered.drifted == ["demand"] and lowered.changes["demand"] < -0.05


def test_a_reference_shorter_than_the_baseline_still_has_a_tolerance(series):
    short = series.iloc[: 14 * DAY]
    result = detect_drift(short, short.iloc[-7 * DAY :], SPEC)
    assert result.tolerances["demand"] == MIN_TOLERANCE and result.drifted == []


def test_an_exogenous_column_is_monitored_beside_the_target(series):
    spec = DataSpec(exogenous_columns=("temperature",))
    days = series.index.dayofyear.to_numpy()
    with_temperature = series.assign(temperature=15.0 + (days % 7))
    training, recent = with_temperature.iloc[: -7 * DAY], with_temperature.iloc[-14 * DAY :]
    result = detect_drift(training, recent.assign(temperature=recent["temperature"] + 9.0), spec)
    assert result.columns == ["demand", "temperature"] and result.drifted == ["temperature"] and result.share == 0.5
    assert "<table>" in result.html and "temperature" in result.html


def test_the_target_drifting_beside_steady_inputs_asks_for_retraining(series):
    """One drifted column of three is a share of 0.33, below the default 0.5; when it is the target,
    whose level every forecast carries, drift still asks for retraining, and says why."""
    spec = DataSpec(exogenous_columns=("temperature", "promo"))
    days = series.index.dayofyear.to_numpy()
    inputs = series.assign(temperature=15.0 + (days % 7), promo=1.0 + (days % 3))
    training, recent = inputs.iloc[: -7 * DAY], inputs.iloc[-14 * DAY :]
    shifted = detect_drift(training, recent.assign(demand=recent["demand"] * 1.3), spec)
    assert shifted.drifted == ["demand"] and round(shifted.share, 2) == 0.33 and shifted.exceeds(0.5)
    assert shifted.reason(0.5).startswith("the target drifted (demand's level +")
    assert shifted.reason(0.5).endswith("; drift share 0.33, threshold 0.5)")
    assert not shifted.exceeds(1.0), "a threshold of 1 turns drift retraining off"
    promo = detect_drift(training, recent.assign(promo=recent["promo"] + 5.0), spec)
    assert promo.drifted == ["promo"] and not promo.exceeds(0.5), "one input alone stays below the threshold"


def test_the_references_early_august_dip_is_drift_and_says_how_far_the_level_moved(series):
    """Weekly mean demand fell from about 29,500 MW over July to 28,200 MW in the week to 6 August
    2000 (summer holidays): further than the reference ever moved in a week. `make simulate` shows
    this dip as drift before its own level shift starts."""
    training = series.loc[:"2000-07-30 23:30"]
    result = detect_drift(training, series.loc["2000-07-29":"2000-08-04 23:30"], SPEC)
    assert result.drifted == ["demand"] and -0.06 < result.changes["demand"] < -0.04
    assert result.moves() == "demand's level -5.1%, tolerance 4.7%"
