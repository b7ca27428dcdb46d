"""The direct C-API predictor gives exactly what xgboost's own inplace_predict gives."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from pipelines.logic.trees import TreePredictor


@pytest.fixture(scope="module")
def booster():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(3000, 6))
    features[rng.random(features.shape) < 0.1] = np.nan  # missing values take each node's default branch
    target = np.nan_to_num(features[:, 0]) * 3 + np.sin(np.nan_to_num(features[:, 1])) + rng.normal(size=3000)
    return xgb.train({"max_depth": 4, "nthread": 1}, xgb.DMatrix(features, label=target), num_boost_round=40)


@pytest.mark.parametrize("rows", [1, 48, 500])
def test_predictions_equal_inplace_predict(booster, rows):
    rng = np.random.default_rng(rows)
    matrix = rng.normal(scale=2.0, size=(rows, 6))
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    assert np.array_equal(TreePredictor(booster)(matrix), booster.inplace_predict(matrix))


def test_a_matrix_of_the_wrong_width_is_refused_with_xgboost_s_reason(booster):
    with pytest.raises(RuntimeError, match=r"xgboost prediction failed: .*feature"):
        TreePredictor(booster)(np.zeros((3, 5)))
