"""Small, real series for the pipeline tests: slices of the reference dataset, optionally with a
temperature-like exogenous column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.logic.data import DataSpec, load_reference, validate


@pytest.fixture(scope="session")
def reference() -> pd.DataFrame:
    return load_reference()


@pytest.fixture(scope="session")
def series(reference) -> pd.DataFrame:
    """The validated reference series."""
    return validate(reference, DataSpec(), "reference")


@pytest.fixture
def with_temperature(reference) -> pd.DataFrame:
    """Reference demand with a deterministic daily temperature cycle, as a raw frame."""
    hours = reference["timestamp"].dt.hour + reference["timestamp"].dt.minute / 60
    return reference.assign(temperature=15 + 5 * np.sin((hours - 9) / 24 * 2 * np.pi))
