"""The Vertex AI registry: artifacts go to the models bucket (the local GCS emulator), versions and
the champion alias to Vertex AI Model Registry (requests captured at a local server)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from pipelines.registry import VertexRegistry
from tests.http_capture import vertex_ai

PARENT = "projects/acme-mlops-dev/locations/europe-west1/models/4242"


class FakeModelRegistry:
    """Answers like Vertex AI Model Registry for one parent model."""

    def __init__(self):
        self.versions: list[dict] = []
        self.champion: str | None = None

    def model(self, version: dict) -> dict:
        aliases = ["default"] + (["champion"] if version["versionId"] == self.champion else [])
        return version | {"name": PARENT, "displayName": "forecaster", "versionAliases": aliases}

    def respond(self, request):
        path = unquote(request.path).removeprefix("/v1/")
        if request.method == "GET" and path.endswith("/models"):
            return 200, {"models": [self.model(self.versions[-1])] if self.versions else []}
        if request.method == "POST" and path.endswith("/models:upload"):
            body = request.json()
            version = {
                "versionId": str(len(self.versions) + 1),
                "artifactUri": body["model"]["artifactUri"],
                "versionDescription": body["model"].get("versionDescription", ""),
                "versionCreateTime": "2026-11-22T03:00:00Z",
            }
            self.versions.append(version)
            if "champion" in body["model"].get("versionAliases", []):
                self.champion = version["versionId"]
            return 200, {
                "name": f"{PARENT}/operations/{len(self.versions)}",
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse",
                    "model": PARENT,
                    "modelVersionId": version["versionId"],
                },
            }
        if request.method == "GET" and path.startswith(PARENT):
            wanted = path.removeprefix(PARENT)
            if wanted == "@champion":
                if self.champion is None:
                    return 404, {"error": {"code": 404, "message": "no such alias", "status": "NOT_FOUND"}}
                return 200, self.model(self.versions[int(self.champion) - 1])
            return 200, self.model(self.versions[int(wanted.removeprefix("@")) - 1] if wanted else self.versions[-1])
        return None


@pytest.fixture
def vertex(monkeypatch, gcs_emulator):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    storage.Client(project="acme-mlops-dev", credentials=AnonymousCredentials()).create_bucket("acme-mlops-dev-models")
    registry = FakeModelRegistry()
    with vertex_ai(registry.respond, monkeypatch, project="acme-mlops-dev", location="europe-west1") as server:
        yield registry, server


def test_versions_go_to_the_model_registry_and_the_alias_moves_only_on_promotion(vertex, tmp_path):
    _, server = vertex
    artifacts = tmp_path / "model"
    artifacts.mkdir()
    (artifacts / "model.json").write_text('{"trees": 1}')
    registry = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster")

    assert registry.champion() is None
    first = registry.register(artifacts, {"mae": 10.0}, promote=True)
    second = registry.register(artifacts, {"mae": 12.0}, promote=False)
    champion = registry.champion()

    assert (first.version, second.version, champion.version) == ("1", "2", "1")
    assert champion.metrics == {"mae": 10.0}
    assert champion.artifacts.startswith("gs://acme-mlops-dev-models/forecaster/")
    assert (registry.fetch(champion) / "model.json").read_text() == '{"trees": 1}'
    uploads = [r.json() for r in server.requests if r.path.endswith("/models:upload")]
    assert set(uploads[0]["model"]["versionAliases"]) == {"champion", "default"} and "parentModel" not in uploads[0]
    assert uploads[1]["parentModel"] == PARENT and "champion" not in uploads[1]["model"].get("versionAliases", [])
    assert json.loads(uploads[1]["model"]["versionDescription"]) == {"mae": 12.0}
    assert uploads[0]["model"]["containerSpec"]["imageUri"] == VertexRegistry.SERVING_IMAGE
