"""Fixtures for the functions: a real champion in a local registry, compiled templates, and
functions-framework apps (test client) and servers (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.logic.backtest import train_challenger
from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.registry import LocalRegistry


@pytest.fixture(scope="session")
def champion_artifacts(tmp_path_factory) -> Path:
    spec = DataSpec()
    series = validate(load_reference(), spec, "reference")
    training = series.iloc[: -7 * spec.periods_per_day]  # a week before the data ends
    folder = tmp_path_factory.mktemp("champion")
    train_challenger(training, spec, 3, {"n_estimators": 40}).save(folder)
    return folder


@pytest.fixture
def registry(tmp_path, champion_artifacts) -> LocalRegistry:
    """A local registry whose first version is the champion."""
    registry = LocalRegistry(tmp_path / "registry")
    registry.register(champion_artifacts, {"mae": 1.0}, promote=True)
    return registry


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Path:
    from pipelines.ops.cli import compile_pipelines

    folder = tmp_path_factory.mktemp("templates")
    compile_pipelines(None, folder)
    return folder
