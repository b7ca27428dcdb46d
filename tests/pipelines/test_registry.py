"""The local registry: every version kept, the champion alias moves only on promotion."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from environments.loading import REPO_ROOT
from pipelines.logic.registry import LocalRegistry, VertexRegistry, open_registry


@pytest.fixture
def artifacts(tmp_path):
    """The files a version holds, plus one that is not an artifact and must not be copied."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    for name in ("forecaster.json", "training_data.parquet", "model.json"):  # model.json: the old layout
        (folder / name).write_text(f"{name} contents")
    (folder / "notes.txt").write_text("not an artifact")
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
    assert (registry.fetch(third) / "forecaster.json").read_text() == "forecaster.json contents"
    assert sorted(p.name for p in registry.fetch(third).iterdir()) == [
        "forecaster.json",
        "training_data.parquet",
        "version.json",
    ]


def test_identical_artifacts_are_not_registered_twice(tmp_path, artifacts):
    registry = open_registry(str(tmp_path / "registry"))  # as the pipelines open it
    first = registry.register(artifacts, {"mae": 10}, promote=True)
    again = registry.register(artifacts, {"mae": 10}, promote=False)
    assert again == first and [v.version for v in registry.versions()] == ["1"] and registry.champion() == first
    (artifacts / "training_data.parquet").write_text("other training data")
    other = registry.register(artifacts, {"mae": 9}, promote=False)
    assert other.version == "2" and [v.version for v in registry.versions()] == ["1", "2"]
    assert registry.champion() == first


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


@pytest.mark.parametrize(
    "name", ["../forecaster.json", "/etc/passwd", "sub/forecaster.json", "model.json", "notes.txt", "..", ""]
)
def test_only_the_expected_artifact_names_inside_the_folder(tmp_path, name):
    from pipelines.logic.registry import RegistryError, artifact_path

    with pytest.raises(RegistryError, match=r"is not one of forecaster\.json, training_data\.parquet"):
        artifact_path(tmp_path, name)
    assert artifact_path(tmp_path, "forecaster.json") == (tmp_path / "forecaster.json").resolve()


def test_a_failed_registration_leaves_no_version_and_no_staging(tmp_path, artifacts, monkeypatch):
    registry = LocalRegistry(tmp_path / "registry")
    first = registry.register(artifacts, {"mae": 10}, promote=True)

    def out_of_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pipelines.logic.registry.os.rename", out_of_space)
    with pytest.raises(OSError, match="No space left"):
        registry.register(artifacts, {"mae": 5}, promote=True)
    assert registry.versions() == [first] and registry.champion() == first
    assert sorted(p.name for p in registry.root.iterdir()) == [".lock", "champion", "versions"]
    assert sorted(p.name for p in (registry.root / "versions").iterdir()) == ["1"]


def kill_during(registry_root, artifacts, patched: str, promote: bool) -> None:
    """Register in a child process that is killed (SIGKILL) when it calls `patched`."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "import pipelines.logic.registry as registry\n"
        f"registry.os.{patched} = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"registry.LocalRegistry(Path({str(registry_root)!r})).register(Path({str(artifacts)!r}), {{}}, "
        f"promote={promote})\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, check=False)
    assert killed.returncode == -signal.SIGKILL


def test_a_registration_killed_before_its_rename_leaves_nothing_readers_trust(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    first = registry.register(artifacts, {"mae": 10}, promote=True)
    kill_during(registry.root, artifacts, "rename", promote=True)
    leftovers = [p.name for p in registry.root.iterdir() if p.name.startswith(".staging-")]
    assert len(leftovers) == 1
    assert registry.versions() == [first] and registry.champion() == first

    second = registry.register(artifacts, {"mae": 9}, promote=False)
    assert second.version == "2"
    assert sorted(p.name for p in registry.root.iterdir()) == [".lock", "champion", "versions"]


def test_a_promotion_killed_before_the_pointer_moves_keeps_the_old_champion(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    first = registry.register(artifacts, {"mae": 10}, promote=True)
    kill_during(registry.root, artifacts, "replace", promote=True)
    assert registry.champion() == first, "the version is registered; the pointer did not move"
    assert [v.version for v in registry.versions()] == ["1", "2"]
    assert len([p for p in registry.root.iterdir() if p.name.endswith(".tmp")]) == 1

    third = registry.register(artifacts, {"mae": 8}, promote=True)
    assert registry.champion() == third
    assert sorted(p.name for p in registry.root.iterdir()) == [".lock", "champion", "versions"]


def test_an_incomplete_version_folder_is_ignored_then_removed(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    registry.register(artifacts, {"mae": 10}, promote=True)
    partial = registry.root / "versions" / "2"
    partial.mkdir()
    (partial / "forecaster.json").write_text("half")
    assert [v.version for v in registry.versions()] == ["1"]
    second = registry.register(artifacts, {}, promote=False)
    assert second.version == "2" and (partial / "forecaster.json").read_text() == "forecaster.json contents"
    assert [v.version for v in registry.versions()] == ["1", "2"]


@pytest.mark.parametrize("pointer", ["7", "", "1\x00", "../../etc"])
def test_a_dangling_or_partial_pointer_is_reported_and_healed_by_the_next_registration(
    tmp_path, artifacts, pointer, caplog
):
    from pipelines.logic.registry import BrokenChampion

    registry = LocalRegistry(tmp_path / "registry")
    registry.register(artifacts, {"mae": 10}, promote=False)
    (registry.root / "champion").write_text(pointer)
    with pytest.raises(BrokenChampion, match=r"the champion pointer names .* which is not a complete version"):
        registry.champion()

    registry.register(artifacts, {"mae": 9}, promote=False)
    assert registry.champion() is None, "no promotion: the broken pointer is removed"
    assert "removed the champion pointer" in caplog.text

    (registry.root / "champion").write_text(pointer)
    promoted = registry.register(artifacts, {"mae": 8}, promote=True)
    assert registry.champion() == promoted and promoted.version == "3"


def test_decide_sees_the_champion_at_the_moment_the_pointer_moves(tmp_path, artifacts):
    registry = LocalRegistry(tmp_path / "registry")
    first = registry.register(artifacts, {"mae": 10}, promote=True)
    seen = []

    def decide(current):
        seen.append(current)
        return False, {"promoted": False, "reason": "not better"}

    second = registry.register(artifacts, {"mae": 11}, decide=decide)
    assert seen == [first]
    assert second.metrics == {"mae": 11, "promoted": False, "reason": "not better"}
    assert registry.champion() == first


def test_training_twice_on_the_same_data_registers_one_version(tmp_path, series):
    """Repeated runs on unchanged data (a second `make demo`) add nothing to the local registry:
    the saved model is byte-identical, its fit times being kept beside it and not registered."""
    from pathlib import Path

    from pipelines.logic.backtest import train_challenger
    from pipelines.logic.data import DataSpec
    from pipelines.logic.model import ARTIFACT_FILES, Forecaster

    registry = LocalRegistry(tmp_path / "registry", reuse_identical=True)
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        train_challenger(series.iloc[: 30 * 48], DataSpec(), 2).save(folder)
    for name in ARTIFACT_FILES:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    first, second = (registry.register(folder, {}, promote=True) for folder in folders)
    assert [v.version for v in registry.versions()] == ["1"] and second.version == first.version

    saved = Forecaster.load(folders[0]).backtest["scores"]
    registered = Forecaster.load(Path(first.artifacts)).backtest["scores"]
    assert all(scores["fit_seconds"] > 0 for name, scores in saved.items() if name in ("seasonal", "trees"))
    assert {scores["fit_seconds"] for scores in registered.values()} == {0.0}, "a registered version holds no timing"
