"""The Vertex AI registry: artifacts go to the models bucket (the local GCS emulator), versions and
the champion alias to Vertex AI Model Registry (requests captured at a local server)."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from pipelines.logic.registry import VertexRegistry
from tests.http_capture import vertex_ai
from tests.support.vertex import PARENT, FakeModelRegistry

IMAGE = "europe-west1-docker.pkg.dev/acme-mlops-dev/containers/python-components:abc123def456"


@pytest.fixture
def vertex(monkeypatch, gcs_emulator, tmp_path_factory):
    import tempfile

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    # `fetch` downloads into a new temporary folder, which its callers delete (champion.load_champion);
    # these tests read what it downloaded, inside their own temporary folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("downloads")))

    storage.Client(project="acme-mlops-dev", credentials=AnonymousCredentials()).create_bucket("acme-mlops-dev-models")
    registry = FakeModelRegistry()
    with vertex_ai(registry.respond, monkeypatch, project="acme-mlops-dev", location="europe-west1") as server:
        yield registry, server


@pytest.fixture
def artifacts(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("forecaster.json", "training_data.parquet", "model.json"):  # model.json: the old layout
        (folder / name).write_text(f"{name} contents")
    (folder / "notes.txt").write_text("not an artifact")
    return folder


def test_versions_go_to_the_model_registry_and_the_alias_moves_only_on_promotion(vertex, artifacts):
    _, server = vertex
    registry = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster", serving_image=IMAGE)

    assert registry.champion() is None
    first = registry.register(artifacts, {"mae": 10.0}, promote=True)
    second = registry.register(artifacts, {"mae": 12.0}, promote=False)
    champion = registry.champion()

    assert (first.version, second.version, champion.version) == ("1", "2", "1")
    assert champion.metrics == {"mae": 10.0}
    assert champion.artifacts.startswith("gs://acme-mlops-dev-models/forecaster/")
    fetched = registry.fetch(champion)
    assert (fetched / "forecaster.json").read_text() == "forecaster.json contents"
    assert sorted(p.name for p in fetched.iterdir()) == ["forecaster.json"], "what serving needs"
    uploads = [r.json() for r in server.requests if r.path.endswith("/models:upload")]
    assert set(uploads[0]["model"]["versionAliases"]) == {"champion", "default"} and "parentModel" not in uploads[0]
    assert uploads[0]["modelId"] == "forecaster", "the model is created under its name as resource id"
    assert "modelId" not in uploads[1]
    lookups = {unquote(r.path) for r in server.requests if r.method == "GET"}
    # The parent and the alias by resource id (never a list by display name); the SDK reads each
    # uploaded version back.
    assert lookups == {f"/v1/{PARENT}", f"/v1/{PARENT}@champion", f"/v1/{PARENT}@1", f"/v1/{PARENT}@2"}
    assert uploads[1]["parentModel"] == PARENT and "champion" not in uploads[1]["model"].get("versionAliases", [])
    assert json.loads(uploads[1]["model"]["versionDescription"]) == {"mae": 12.0}
    # Deployable: the components image serving the predict code under the custom-container contract.
    assert uploads[0]["model"]["containerSpec"] == {
        "imageUri": IMAGE,
        "command": ["python", "-m", "functions.vertex_serving"],
        "ports": [{"containerPort": 8080}],
        "healthRoute": "/health",
        "predictRoute": "/predict",
    }


def test_fetch_downloads_only_the_expected_files_from_the_models_prefix(vertex, artifacts):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from pipelines.logic.registry import ARTIFACT_FILES, ModelVersion, RegistryError

    registry = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster", serving_image=IMAGE)
    version = registry.register(artifacts, {}, promote=True)
    bucket = storage.Client(project="acme-mlops-dev", credentials=AnonymousCredentials()).bucket(
        "acme-mlops-dev-models"
    )
    prefix = version.artifacts.removeprefix("gs://acme-mlops-dev-models/")
    # (The emulator itself refuses object names with '..'; artifact_path's test covers those.)
    for planted in ("sub/forecaster.json", "extra.bin", "forecaster.json.bak", "model.json"):
        bucket.blob(f"{prefix}/{planted}").upload_from_string("planted")
    fetched = registry.fetch(version, ARTIFACT_FILES)
    assert sorted(p.name for p in fetched.iterdir()) == ["forecaster.json", "training_data.parquet"]
    assert (fetched / "forecaster.json").read_text() == "forecaster.json contents"

    for elsewhere in (
        "gs://other-project-models/forecaster/20261122T030000-abcd1234",
        "gs://acme-mlops-dev-models/other-model/20261122T030000-abcd1234",
        "gs://acme-mlops-dev-models/forecaster/../other-model/x",
        "gs://acme-mlops-dev-models/forecaster",
    ):
        with pytest.raises(RegistryError, match="are not under gs://acme-mlops-dev-models/forecaster/"):
            registry.fetch(ModelVersion("9", elsewhere, {}, ""))
    with pytest.raises(RegistryError, match="missing artifact files"):
        registry.fetch(ModelVersion("9", "gs://acme-mlops-dev-models/forecaster/20261122T030000-abcd1234", {}, ""))


def test_a_team_registers_inside_its_folder_and_the_platform_never_loads_it(vertex, artifacts):
    """A team's account may write only `teams/<team>/` of the models bucket; the platform's registry
    (what predict serves) refuses any version whose files are not under the platform's model."""
    from pipelines.logic.registry import ModelVersion, RegistryError

    team = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster-team-pricing")
    assert team.prefix == "teams/pricing/forecaster-team-pricing"
    platform = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster")
    planted = "gs://acme-mlops-dev-models/teams/pricing/forecaster-team-pricing/20261122T030000-abcd1234"
    with pytest.raises(RegistryError, match="are not under gs://acme-mlops-dev-models/forecaster/"):
        platform.fetch(ModelVersion("7", planted, {}, ""))


def test_model_names_must_be_vertex_model_ids():
    for bad in ("Forecaster", "1model", "a/b", "forecaster\n", "x" * 64):
        with pytest.raises(ValueError, match="expected a Vertex AI model id"):
            VertexRegistry("acme-mlops-dev", "europe-west1", bad)


def test_the_alias_is_re_read_just_before_it_moves(vertex, artifacts):
    """Another run promoted version 2 after this run evaluated against version 1: `decide` sees
    version 2 and this upload carries no champion alias when it declines."""
    fake, server = vertex
    registry = VertexRegistry("acme-mlops-dev", "europe-west1", "forecaster", serving_image=IMAGE)
    registry.register(artifacts, {"mae": 10.0}, promote=True)
    registry.register(artifacts, {"mae": 9.0}, promote=True)
    seen = []

    def decide(current):
        seen.append(current.version if current else None)
        return False, {"promoted": False, "reason": "re-scored"}

    third = registry.register(artifacts, {"mae": 9.5}, decide=decide)
    assert seen == ["2"] and fake.champion == "2"
    upload = [r.json() for r in server.requests if r.path.endswith("/models:upload")][-1]
    assert "champion" not in upload["model"].get("versionAliases", [])
    assert json.loads(upload["model"]["versionDescription"]) == {"mae": 9.5, "promoted": False, "reason": "re-scored"}
    assert third.version == "3"
