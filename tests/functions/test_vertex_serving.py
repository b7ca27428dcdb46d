"""The serving container registered models declare, run as Vertex AI runs it (its AIP_* variables,
a real HTTP server): the health route answers once the model is loaded, and a predict request gets
exactly the predict function's forecasts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from environments.loading import REPO_ROOT
from functions.serve import free_port
from pipelines.logic.data import load_reference
from tests.support.functions import make_app

SHORT_HISTORY = "only 0 periods of history; expected at least 384 (8 days at 30min)"


def body(horizon: int) -> dict:
    frame = load_reference().tail(9 * 48)
    rows = [
        {"timestamp": t.isoformat(), "demand": float(d)}
        for t, d in zip(frame["timestamp"], frame["demand"], strict=True)
    ]
    return {"history": rows, "horizon": horizon}


@pytest.fixture
def container(champion_artifacts):
    """`python -m functions.vertex_serving` with the variables Vertex AI sets (other routes than the
    defaults, to show they are read)."""
    port = free_port()
    variables = {
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": "/v1/endpoints/7/deployedModels/42:health",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/7/deployedModels/42:predict",
        "AIP_STORAGE_URI": str(champion_artifacts),
        "AIP_DEPLOYED_MODEL_ID": "42",
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.vertex_serving"],
        cwd=REPO_ROOT,
        env=os.environ | variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "the container did not start"
                time.sleep(0.2)
        yield url, variables
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_health_route_answers_once_the_model_is_loaded(container):
    url, variables = container
    response = requests.get(url + variables["AIP_HEALTH_ROUTE"], timeout=30)
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
    assert requests.get(url + "/health", timeout=30).status_code == 404  # only the route Vertex names


def test_predictions_are_the_predict_functions_forecasts(container, registry, monkeypatch):
    url, variables = container
    instances = [body(4), body(48)]
    response = requests.post(url + variables["AIP_PREDICT_ROUTE"], json={"instances": instances}, timeout=60)
    assert response.status_code == 200
    predictions = response.json()["predictions"]

    function = make_app("predict", {"REGISTRY_URI": str(registry.root), "CHAMPION_CHECK_SECONDS": "0"}, monkeypatch)
    expected = [function.post("/", json=instance).get_json() for instance in instances]
    assert [p["forecasts"] for p in predictions] == [e["forecasts"] for e in expected]
    assert [len(p["forecasts"]) for p in predictions] == [4, 48]
    assert {p["model_version"] for p in predictions} == {"42"}


def test_a_bad_instance_is_a_400_naming_it(container):
    url, variables = container
    route = url + variables["AIP_PREDICT_ROUTE"]
    bad = requests.post(route, json={"instances": [body(2), {"history": [], "horizon": 2}]}, timeout=30)
    assert (bad.status_code, bad.json()) == (
        400,
        {"error": SHORT_HISTORY, "field": "instances[1].history"},
    )
    empty = requests.post(route, json={"instances": []}, timeout=30)
    assert empty.json() == {"error": "expected a non-empty list of predict bodies", "field": "instances"}
