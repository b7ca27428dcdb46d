"""A trained forecaster, shared by the dashboard's tests (training takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.evaluation import split_holdout
from pipelines.logic.model import Forecaster


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    spec = DataSpec()
    training, _ = split_holdout(validate(load_reference(), spec, "reference"), spec, 7)
    folder = tmp_path_factory.mktemp("model")
    Forecaster.train(training, spec, {"n_estimators": 60}).save(folder)
    return folder
