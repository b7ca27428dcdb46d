"""Shared fixtures. The stacks are synthesized once per test session: the first synth in a process
loads the whole google provider bundle, so every infra test reads the same output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infra  # noqa: F401 - points jsii at the virtualenv's node before any test imports cdktn
from tests.support.environments import write_environments
from tests.support.stacks import synthesized

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from infra.synth import synthesize

    outdir = tmp_path_factory.mktemp("cdktf.out")
    synthesize(None, outdir=outdir)
    return outdir


@pytest.fixture(scope="session")
def fixture_environments(tmp_path_factory: pytest.TempPathFactory):
    """The fixture environments (tests/support/environments.py), loaded with their team, by name."""
    from environments.loading import load_environments

    directory = write_environments(tmp_path_factory.mktemp("fixture") / "environments")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_ENVIRONMENTS_DIR", str(directory))
        return {environment.name: environment for environment in load_environments()}


@pytest.fixture(scope="session")
def fixture_stacks(fixture_environments, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The fixture environments' synthesized stacks, parsed."""
    return synthesized(list(fixture_environments.values()), tmp_path_factory.mktemp("fixture-out"))


@pytest.fixture(scope="session")
def stacks(synth_outdir: Path) -> dict[str, dict]:
    """Every committed environment's synthesized cdk.tf.json, parsed."""
    return {
        path.name: json.loads((path / "cdk.tf.json").read_text())
        for path in sorted((synth_outdir / "stacks").iterdir())
    }


@pytest.fixture
def environments_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty `environments/` folder that the config model reads instead of the committed one."""
    directory = tmp_path / "environments"
    directory.mkdir()
    monkeypatch.setenv("PLATFORM_ENVIRONMENTS_DIR", str(directory))
    return directory


@pytest.fixture
def gcs_emulator(monkeypatch: pytest.MonkeyPatch):
    """A local, in-memory GCS emulator that google-cloud-storage talks to via STORAGE_EMULATOR_HOST."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)  # port 0: the OS picks a free port
    server.start()
    host, port = server._api._httpd.server_address
    url = f"http://{host}:{port}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    yield url
    server.stop()
