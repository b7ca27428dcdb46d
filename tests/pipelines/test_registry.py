"""The local registry: every version kept, the champion alias moves only on promotion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.registry import LocalRegistry, VertexRegistry, open_registry


@pytest.fixture
def artifacts(tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "model.json").write_text("{}")
    return folder


def test_versions_are_kept_and_the_champion_moves_only_on_promotion(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    assert registry.champion() is None and registry.versions() == []
    first = registry.register(artifacts, {"mae": 10}, promote=True)
    second = registry.register(artifacts, {"mae": 12}, promote=False)
    assert [v.version for v in registry.versions()] == ["1", "2"]
    assert registry.champion() == first and second.metrics == {"mae": 12}
    third = registry.register(artifacts, {"mae": 8}, promote=True)
    assert registry.champion() == third
    assert (registry.fetch(third) / "model.json").read_text() == "{}"


def test_concurrent_registrations_get_distinct_versions(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda i: registry.register(artifacts, {"i": i}, promote=False).version, range(16)))
    assert sorted(map(int, versions)) == list(range(1, 17))


def test_registry_uris():
    assert isinstance(open_registry("/tmp/registry"), LocalRegistry)
    vertex = open_registry("vertex://acme-mlops-dev/europe-west1/forecaster")
    assert isinstance(vertex, VertexRegistry) and vertex.bucket == "acme-mlops-dev-models"
    with pytest.raises(ValueError, match="expected vertex://<project>/<region>/<model>"):
        open_registry("vertex://acme-mlops-dev/forecaster")
