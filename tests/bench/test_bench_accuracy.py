"""The accuracy benchmark's paired comparison, on folds whose numbers are worked out by hand."""

from __future__ import annotations

import numpy as np

from pipelines.logic.backtest import FoldForecasts
from tests.bench.bench_accuracy import paired_difference


def test_paired_difference_counts_the_days_and_gives_the_t_interval_of_the_mean():
    actual = np.zeros((4, 2))
    other = FoldForecasts(np.full((4, 2), 2.0), actual, np.ones(4))
    # Per-fold MAE 1, 2, 3, 0 against 2 everywhere: differences -1, 0, +1, -2. Mean -0.5, standard
    # deviation sqrt(5/3) = 1.291, t(0.975, 3 degrees) = 3.182: half-width 3.182 x 1.291 / 2 = 2.054.
    champion = FoldForecasts(np.array([[1.0, -1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 0.0]]), actual, np.ones(4))
    assert paired_difference(champion, other) == (
        "per fold: lower on 2, equal on 1, higher on 1 of 4 days; MAE difference -0.50 (95 % interval -2.55 to +1.55)"
    )
