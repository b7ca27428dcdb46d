"""Vertex AI Experiments: the run's parameters and metrics, as google-cloud-aiplatform sends them
(captured at a local server standing in for the Vertex ML Metadata API)."""

from __future__ import annotations

from urllib.parse import unquote

from pipelines.ops.experiments import log_training_run, run_name
from tests.http_capture import vertex_ai

STORE = "projects/acme-mlops-dev/locations/europe-west1/metadataStores/default"


class FakeMetadata:
    """Contexts by name: GET finds, POST ?contextId= creates, PATCH updates, other POSTs succeed."""

    def __init__(self):
        self.contexts = {STORE: {"name": STORE}}

    def respond(self, request):
        path = unquote(request.path).removeprefix("/v1/")
        if request.method == "GET":
            found = self.contexts.get(path)
            return (200, found) if found else (404, {"error": {"code": 404, "message": "no", "status": "NOT_FOUND"}})
        if request.method == "POST" and "contextId" in request.query:
            name = f"{path}/{request.query['contextId'][0]}"
            self.contexts[name] = request.json() | {"name": name}
            return 200, self.contexts[name]
        if request.method == "PATCH":
            self.contexts[path] = self.contexts.get(path, {}) | request.json()
            return 200, self.contexts[path]
        return (200, {}) if request.method == "POST" else None


def test_a_training_run_is_logged_to_its_experiment_without_a_tensorboard(monkeypatch):
    metadata = FakeMetadata()
    with vertex_ai(metadata.respond, monkeypatch) as server:
        log_training_run(
            project="acme-mlops-dev",
            region="europe-west1",
            experiment="forecaster",
            run=run_name("forecaster", "3"),
            params={"n_estimators": 400, "max_depth": 4},
            metrics={"challenger_mae": 355.9, "baseline_mae": 370.1},
        )

    experiment = metadata.contexts[f"{STORE}/contexts/forecaster"]
    run = metadata.contexts[f"{STORE}/contexts/forecaster-forecaster-v3"]
    assert experiment["schemaTitle"] == "system.Experiment"
    assert run["schemaTitle"] == "system.ExperimentRun" and run["displayName"] == "forecaster-v3"
    assert run["metadata"]["_params"] == {"n_estimators": 400, "max_depth": 4}
    assert run["metadata"]["_metrics"] == {"challenger_mae": 355.9, "baseline_mae": 370.1}
    children = [r.json() for r in server.requests if r.path.endswith(":addContextChildren")]
    assert children == [{"childContexts": [f"{STORE}/contexts/forecaster-forecaster-v3"]}]
    assert not [r for r in server.requests if "/tensorboards" in r.path], "no TensorBoard is created or looked up"


def test_run_names_are_valid_resource_ids():
    assert run_name("Forecaster", "12") == "forecaster-v12"
    assert run_name("my_model", "abc.1") == "my-model-vabc-1"
