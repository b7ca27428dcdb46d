"""Shared fixtures. The stacks are synthesized once per test session: the first synth in a process
loads the whole google provider bundle, so every infra test reads the same output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infra  # noqa: F401 - points jsii at the virtualenv's node before any test imports cdktn
from tests.support.stacks import synthesized

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from infra.synth import synthesize

    outdir = tmp_path_factory.mktemp("cdktf.out")
    synthesize(None, outdir=outdir)
    return outdir


# Environments made for the infra tests, one switch each on, so that editing dev.yaml or prod.yaml
# never breaks them: everything on (CMEK, Composer, budgets, a team, delivery with approval and a
# read-only planner), and nothing on.
FIXTURE_ENVIRONMENTS = {
    "everything": """
project_id: fixture-everything
region: us-central1
state_bucket: fixture-everything-tfstate
encryption: {cmek: true}
composer: {enabled: true}
billing_account: 0A0A0A-1B1B1B-2C2C2C
notifications: {emails: [alerts@example.com]}
team_owners_run_pipelines: true
functions:
  predict: {invokers: [group:callers@example.com]}
delivery:
  repository: projects/fixture-everything/locations/us-central1/connections/c/repositories/r
  deploy_on: tag
  pattern: ^v.*$
  approval_required: true
  pull_request_checks: true
  plan_service_account: planner@fixture-everything.iam.gserviceaccount.com
schedules:
  - {name: nightly, cron: "0 1 * * *", pipeline: training}
""",
    "nothing": """
project_id: fixture-nothing
region: europe-west4
state_bucket: fixture-nothing-tfstate
functions:
  predict: {invokers: [user:ana@example.com]}
""",
}
FIXTURE_TEAM = """
name: forecasting
owners: [group:forecasting@example.com]
environments: [everything]
schedules:
  - {name: weekly, cron: "0 4 * * 1", pipeline: training}
budget: {monthly_amount: 150}
"""


def write_fixture_environments(directory: Path) -> Path:
    (directory / "teams").mkdir(parents=True)
    for name, text in FIXTURE_ENVIRONMENTS.items():
        (directory / f"{name}.yaml").write_text(text)
    (directory / "teams" / "forecasting.yaml").write_text(FIXTURE_TEAM)
    return directory


@pytest.fixture(scope="session")
def fixture_environments(tmp_path_factory: pytest.TempPathFactory):
    """The fixture environments, loaded (with their team)."""
    from environments.loading import load_environments

    directory = write_fixture_environments(tmp_path_factory.mktemp("fixture") / "environments")
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
