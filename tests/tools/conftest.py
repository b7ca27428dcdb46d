"""A trained forecaster, shared by the dashboard's tests (training takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.logic.backtest import train_challenger
from pipelines.logic.data import DataSpec, load_reference, validate


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    spec = DataSpec()
    training = validate(load_reference(), spec, "reference").iloc[: -7 * spec.periods_per_day]
    folder = tmp_path_factory.mktemp("model")
    train_challenger(training, spec, 3, {"n_estimators": 40}).save(folder)
    return folder
