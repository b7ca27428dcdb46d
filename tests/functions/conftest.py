"""Fixtures for the functions: a real champion in a local registry, compiled templates, and
functions-framework apps (test client) and servers (real HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import strategies as st

from functions.serve import local_environment
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`make serve` for real: a functions-framework process on a free loopback port."""

    def __init__(self, function: str, variables: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions.serve", "--function", function, "--port", str(self.port)],
            cwd=REPO_ROOT,
            env=os.environ | variables,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(self.url, timeout=1)
                return
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stdout.read().decode()) from None
                time.sleep(0.2)
        raise TimeoutError(f"{function} did not start on {self.url}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# Any JSON value, nested a little: the raw material of the bad-request properties.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
