"""Fixtures for the functions: a real champion in a local registry, compiled templates, and
functions-framework apps (test client) and servers (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.logic.data import DataSpec, load_reference, validate
from pipelines.logic.evaluation import split_holdout
from pipelines.logic.model import Forecaster
from pipelines.logic.registry import LocalRegistry


@pytest.fixture(scope="session")
def champion_artifacts(tmp_path_factory) -> Path:
    spec = DataSpec()
    series = validate(load_reference(), spec, "reference")
    training, _ = split_holdout(series, spec, 7)
    folder = tmp_path_factory.mktemp("champion")
    Forecaster.train(training, spec, {"n_estimators": 60}).save(folder)
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
