"""Fixtures for the functions: a real champion in a local registry, compiled templates, and
functions-framework apps (test client) and servers (real HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import strategies as st

from functions.serve import local_environment, serving
from pipelines.data import DataSpec, load_reference, validate
from pipelines.evaluation import split_holdout
from pipelines.model import Forecaster
from pipelines.registry import LocalRegistry
from tests.conftest import REPO_ROOT


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
    from pipelines.cli import compile_pipelines

    folder = tmp_path_factory.mktemp("templates")
    compile_pipelines(None, folder)
    return folder


def make_app(function: str, variables: dict[str, str], monkeypatch):
    import functions_framework

    for key, value in local_environment(function, "dev").items():
        monkeypatch.setenv(key, value)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    source = REPO_ROOT / "functions" / function / "main.py"
    target = {"pipeline_trigger": "trigger", "predict": "predict"}[function]
    return functions_framework.create_app(target=target, source=str(source)).test_client()


def serve(function: str, variables: dict[str, str]):
    """`make serve` for real: a functions-framework process on a free loopback port; yields its URL."""
    return serving(["functions.serve", "--function", function], variables)


# Any JSON value, nested a little: the raw material of the bad-request properties.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
