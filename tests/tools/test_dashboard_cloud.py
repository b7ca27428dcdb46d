"""The dashboard on an environment's storage: the registry in Vertex AI Model Registry (requests
captured at a local server) with artifacts in the models bucket, and runs in the pipeline-root
bucket (both buckets in the local GCS emulator), read with the real client libraries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import unquote

import pytest
import requests

from functions.serve import serving
from pipelines.logic.registry import VertexRegistry
from tests.http_capture import vertex_ai
from tests.support.dashboard import V1, V2
from tests.support.vertex import PARENT, FakeModelRegistry
from tools.dashboard import data
from tools.dashboard.server import main

PROJECT, REGION = "acme-mlops-dev", "europe-west1"
REGISTRY = f"vertex://{PROJECT}/{REGION}/forecaster"
RUNS = "gs://acme-mlops-dev-pipeline-root/123456789012"
IMAGE = "europe-west1-docker.pkg.dev/acme-mlops-dev/containers/python-components:abc123def456"
DRIFT = {"artifacts": {"metrics": {"artifacts": [{"metadata": {"drift_share": 0.67, "threshold": 0.5}}]}}}


class ListingModelRegistry(FakeModelRegistry):
    """Also answers `models/<id>:listVersions`, as Vertex AI does, one page."""

    def respond(self, request):
        if request.method == "GET" and unquote(request.path) == f"/v1/{PARENT}:listVersions":
            return 200, {"models": [self.model(version) for version in reversed(self.versions)]}
        return super().respond(request)


def storage_client():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


def upload_runs(client) -> None:
    """Run folders as Vertex AI leaves them under `<pipeline root>/<project number>/`, and objects
    outside the dashboard's prefix (a team's runs) that it must not show."""
    bucket = client.create_bucket("acme-mlops-dev-pipeline-root")
    objects = {
        "123456789012/training-20260101/ingest-1/executor_output.json": "{}",
        "123456789012/training-20260101/train-2/model/model.json": "{}",  # no output: failed
        "123456789012/monitoring-20260102/drift-3/executor_output.json": json.dumps(DRIFT),
        "123456789012/monitoring-20260102/drift-3/metrics": "{}",
        "teams/ana/123456789012/training-20260103/train-1/executor_output.json": "{}",
    }
    for name, text in objects.items():
        bucket.blob(name).upload_from_string(text)


@pytest.fixture
def cloud(monkeypatch, gcs_emulator, trained):
    client = storage_client()
    client.create_bucket("acme-mlops-dev-models")
    upload_runs(client)
    registry = ListingModelRegistry()
    with vertex_ai(registry.respond, monkeypatch, project=PROJECT, location=REGION) as server:
        vertex = VertexRegistry(PROJECT, REGION, "forecaster", serving_image=IMAGE)
        vertex.register(trained, V1, promote=True)
        vertex.register(trained, V2, promote=False)
        server.requests.clear()
        yield server


def test_gathers_from_vertex_ai_and_the_buckets(cloud):
    data._champions.clear()  # the loaded forecasters are kept per process
    found = data.gather(data.Sources(registry=REGISTRY, runs=RUNS))
    assert [(r["version"], r["holdout"]["mae"], r["promoted"], r["created"]) for r in found["accuracy"]] == [
        ("1", 355.9, True, "2026-11-22T03:00:00+00:00"),
        ("2", 356.2, False, "2026-11-22T03:00:00+00:00"),
    ]
    assert [(c["version"], c["until"]) for c in found["champions"]] == [("1", None)]
    assert found["backtest"]["version"] == "1" and len(found["backtest"]["forecast"]) == 336
    assert found["drift"] == {"run": "monitoring-20260102", "drift_share": 0.67, "threshold": 0.5}
    assert sorted((r["run"], r["status"], r["finished"], r["tasks"]) for r in found["runs"]) == [
        ("monitoring-20260102", "succeeded", 1, 1),
        ("training-20260101", "failed or stopped", 1, 2),
    ]
    # Only reads: the registry's model, its versions and its champion.
    assert {(r.method, unquote(r.path)) for r in cloud.requests} == {
        ("GET", f"/v1/{PARENT}"),
        ("GET", f"/v1/{PARENT}:listVersions"),
        ("GET", f"/v1/{PARENT}@champion"),
    }


def test_the_champion_is_downloaded_once_per_version(cloud):
    data._champions.clear()
    sources = data.Sources(registry=REGISTRY, runs=RUNS)
    with mock.patch.object(VertexRegistry, "fetch", autospec=True, side_effect=VertexRegistry.fetch) as fetch:
        data.gather(sources)
        data.gather(sources)
    assert fetch.call_count == 1


def test_the_newest_runs_come_first(gcs_emulator):
    bucket = storage_client().create_bucket("runs")
    for run in ("b-older", "a-newer"):
        bucket.blob(f"root/{run}/task/executor_output.json").upload_from_string("{}")
    assert [r["run"] for r in data.runs(data.tasks("gs://runs/root"))] == ["a-newer", "b-older"]


def test_a_bucket_without_runs_shows_none(gcs_emulator):
    storage_client().create_bucket("empty-root")
    assert data.tasks("gs://empty-root") == []
    assert data.runs([]) == [] and data.drift([], "vertex://p/r/forecaster") is None


def test_a_vertex_registry_without_a_model_has_no_versions(monkeypatch):
    with vertex_ai(lambda request: None, monkeypatch, project=PROJECT, location=REGION) as server:
        assert VertexRegistry(PROJECT, REGION, "forecaster").versions() == []
    assert [unquote(r.path) for r in server.requests] == [f"/v1/{PARENT}"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--runs", "gs://Bad_Bucket!/x"],
            "--runs 'gs://Bad_Bucket!/x': expected gs://<bucket>[/<prefix>] or a folder\n",
        ),
        (
            ["--registry", "vertex://p/r"],
            "registry: 'vertex://p/r' is not vertex://<project>/<region>/<model>; expected a registry folder or "
            "vertex://<project>/<region>/<model>\n",
        ),
    ],
)
def test_bad_sources_exit_2_before_serving(arguments, message, capsys):
    assert main([*arguments, "--port", "8080"]) == 2
    assert capsys.readouterr().err == message


def test_the_served_page_lists_the_buckets_runs(gcs_emulator, tmp_path):
    upload_runs(storage_client())
    arguments = ["tools.dashboard.server", "--registry", str(tmp_path / "registry"), "--runs", RUNS]
    with serving(arguments, env={"STORAGE_EMULATOR_HOST": gcs_emulator}) as url:
        page = requests.get(url, timeout=30).text
    assert "<td>monitoring-20260102</td><td>succeeded</td>" in page
    assert "<td>training-20260101</td><td>failed or stopped</td>" in page
    assert "training-20260103" not in page  # a team's run, outside the prefix


def test_a_run_is_as_new_as_its_newest_task():
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    found = [
        data.Task("r", "a", start, None),
        data.Task("s", "a", start + 60, None),
        data.Task("r", "b", start + 120, None),
    ]
    assert [r["run"] for r in data.runs(found)] == ["r", "s"]
