"""The accuracy benchmark's paired comparison, on folds whose numbers are worked out by hand, and
its held-out series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.logic.backtest import FoldForecasts, fold_origins
from pipelines.logic.data import validate
from pipelines.logic.model import Series
from tests.bench.bench_accuracy import (
    DEFAULT_FOLDS,
    HELD_OUT_SERIES,
    SERIES,
    days_setting,
    paired_difference,
    scored_series,
)


def test_paired_difference_counts_the_days_and_gives_the_t_interval_of_the_mean():
    actual = np.zeros((4, 2))
    other = FoldForecasts(np.full((4, 2), 2.0), actual, np.ones(4))
    # Per-fold MAE 1, 2, 3, 0 against 2 everywhere: differences -1, 0, +1, -2. Mean -0.5, standard
    # deviation sqrt(5/3) = 1.291, t(0.975, 3 degrees) = 3.182: half-width 3.182 x 1.291 / 2 = 2.054.
    champion = FoldForecasts(np.array([[1.0, -1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 0.0]]), actual, np.ones(4))
    assert paired_difference(champion, other) == (
        "per fold: lower on 2, equal on 1, higher on 1 of 4 days; MAE difference -0.50 (95 % interval -2.55 to +1.55)"
    )


def test_the_held_out_series_end_where_the_first_tables_scored_days_begin():
    for (name, load), (held_out_name, load_held_out) in zip(SERIES[1:], HELD_OUT_SERIES, strict=True):
        frame, spec = load()
        series = Series.of(validate(frame, spec, name), spec)
        first_scored = pd.Timestamp(series.timestamps[fold_origins(series, spec, DEFAULT_FOLDS)[0]])
        held_out, _ = load_held_out()
        assert held_out["timestamp"].iloc[-1] + pd.Timedelta(spec.frequency) == first_scored, held_out_name
    # and each has the days the default folds need (it refuses otherwise)
    assert [name for name, *_ in scored_series(HELD_OUT_SERIES)] == [name for name, _ in HELD_OUT_SERIES]


def test_a_days_setting_is_a_whole_number_at_or_above_its_minimum(monkeypatch):
    monkeypatch.delenv("BENCH_X", raising=False)
    assert days_setting("BENCH_X", 56, 1) == 56
    monkeypatch.setenv("BENCH_X", "14")
    assert days_setting("BENCH_X", 56, 1) == 14
    for text in ("0", "-3", "abc", "1.5", ""):
        monkeypatch.setenv("BENCH_X", text)
        with pytest.raises(SystemExit) as refusal:
            days_setting("BENCH_X", 56, 1)
        assert str(refusal.value) == f"BENCH_X={text!r}: expected a whole number of days, 1 or more (default 56)"
