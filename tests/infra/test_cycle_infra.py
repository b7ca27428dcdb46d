"""The daily cycle's resources in the synthesized stacks, and `make deploy-dags`."""

from __future__ import annotations

import base64
import json

import pytest

from environments.loading import load_environment
from infra.dags import dag_files, deploy
from tests.support.stacks import by_path, resources, synthesized

SCHEDULED_CYCLE = """
project_id: fixture-cycle
region: europe-west4
state_bucket: fixture-cycle-tfstate
functions:
  predict: {invokers: [user:ana@example.com]}
cycle:
  enabled: true
  cron: "0 7 * * *"
  time_zone: Europe/London
  source: {kind: http, url: "https://data.example.com/demand/{day}.csv"}
  degradation_days: 4
"""


@pytest.fixture(scope="module")
def scheduled_cycle_stack(tmp_path_factory) -> dict:
    """An environment with the cycle on and Composer off, synthesized."""
    from environments.loading import load_environment as load

    directory = tmp_path_factory.mktemp("cycle-env") / "environments"
    directory.mkdir()
    (directory / "cyc.yaml").write_text(SCHEDULED_CYCLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_ENVIRONMENTS_DIR", str(directory))
        environment = load("cyc")
        return synthesized([environment], tmp_path_factory.mktemp("cycle-out"))["cyc"]


def test_without_composer_the_scheduler_fires_the_daily_pipeline_through_the_trigger(scheduled_cycle_stack):
    job = by_path(scheduled_cycle_stack, "google_cloud_scheduler_job")["cycle/schedule/job"]
    assert (job["name"], job["schedule"], job["time_zone"]) == ("cyc-daily-cycle", "0 7 * * *", "Europe/London")
    assert json.loads(base64.b64decode(job["http_target"]["body"])) == {
        "pipeline": "daily",
        "version": "latest",
        "parameters": {
            "registry_uri": "vertex://fixture-cycle/europe-west4/forecaster",
            "source": "reference",
            "source_url": "https://data.example.com/demand/{day}.csv",
            "degradation_ratio": 1.0,
            "degradation_days": 4,
            "drift_threshold": 0.5,
            "drift_window_days": 7,
        },
    }
    assert job["retry_config"]["retry_count"] == 3
    assert resources(scheduled_cycle_stack, "google_bigquery_table") == {}


def test_dev_has_no_cycle_resources(stacks):
    assert not any(path.startswith("cycle/") for path in by_path(stacks["dev"], "google_cloud_scheduler_job"))
    assert resources(stacks["dev"], "google_bigquery_table") == {}


def test_prod_runs_the_cycle_in_composer_with_no_job_and_a_bigquery_table_over_the_forecasts(stacks):
    jobs = by_path(stacks["prod"], "google_cloud_scheduler_job")
    assert not any(path.startswith("cycle/") for path in jobs)
    table = by_path(stacks["prod"], "google_bigquery_table")["cycle/forecasts"]
    configuration = table["external_data_configuration"]
    assert configuration["source_format"] == "PARQUET"
    assert configuration["source_uris"] == ["gs://acme-mlops-prod-data/cycle/forecaster/forecasts/*"]
    assert configuration["hive_partitioning_options"] == {
        "mode": "AUTO",
        "source_uri_prefix": "gs://acme-mlops-prod-data/cycle/forecaster/forecasts/",
    }
    dataset = by_path(stacks["prod"], "google_bigquery_dataset")["cycle/dataset"]
    assert dataset["dataset_id"] == "cycle"
    assert "kms_key_name" in dataset["default_encryption_configuration"]
    services = {s["service"] for s in resources(stacks["prod"], "google_project_service").values()}
    assert "bigquery.googleapis.com" in services


def test_the_deployer_may_create_the_cycle_table_only_where_there_is_one(stacks):
    def roles(env):
        return {m["role"] for m in resources(stacks[env], "google_project_iam_member").values()}

    assert any(role.endswith("platformCycleTableAdmin") for role in roles("prod"))
    assert not any(role.endswith("platformCycleTableAdmin") for role in roles("dev"))


def test_the_dag_folder_gets_the_dag_its_settings_and_the_code_it_imports():
    files = dag_files(load_environment("prod"))
    settings = json.loads(files["daily_cycle.json"])
    assert settings["cron"] == "0 6 * * *" and settings["time_zone"] == "Europe/London"
    assert settings["config"]["store_root"] == "gs://acme-mlops-prod-data/cycle/forecaster"
    assert settings["config"]["source"] == {
        "kind": "drop",
        "bucket": "acme-mlops-prod-data",
        "prefix": "incoming/demand/",
    }
    assert {"daily_cycle.py", "pipelines/__init__.py", "pipelines/logic/cycle.py", "environments/naming.py"} <= set(
        files
    )
    assert not any(name.endswith(".yaml") for name in files)


class Answer:
    def __init__(self, status, body):
        self.status_code, self._body = status, body

    def json(self):
        return self._body


class ComposerApi:
    """Composer's environments.get, as a requests-like session that records what it was asked."""

    def __init__(self, status, body):
        self.asked, self.answer = [], Answer(status, body)

    def get(self, url, timeout):
        self.asked.append(url)
        return self.answer


def test_deploy_uploads_into_the_folder_composer_reports(gcs_emulator):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.create_bucket("europe-west1-mlops-prod-1234-bucket")
    composer = ComposerApi(200, {"config": {"dagGcsPrefix": "gs://europe-west1-mlops-prod-1234-bucket/dags"}})
    summary = deploy(load_environment("prod"), composer, client, api="https://composer.test/v1")
    assert composer.asked == [
        "https://composer.test/v1/projects/acme-mlops-prod/locations/europe-west1/environments/mlops-prod"
    ]
    names = {blob.name for blob in client.list_blobs("europe-west1-mlops-prod-1234-bucket")}
    assert {"dags/daily_cycle.py", "dags/daily_cycle.json", "dags/pipelines/logic/cycle.py"} <= names
    assert summary.startswith(f"prod: {len(names)} files in gs://europe-west1-mlops-prod-1234-bucket/dags/")


def test_deploy_names_an_environment_composer_does_not_know():
    from infra.dags import DeployFailed

    with pytest.raises(DeployFailed) as failed:
        deploy(load_environment("prod"), ComposerApi(404, {}), None, api="https://composer.test/v1")
    assert str(failed.value) == (
        "Composer environment projects/acme-mlops-prod/locations/europe-west1/environments/mlops-prod: HTTP 404; "
        "is the stack applied?"
    )


def test_dev_has_nothing_to_deploy():
    assert deploy(load_environment("dev"), None, None) == (
        "dev: Composer is off or the cycle is off; nothing to deploy "
        "(where the cycle is on, Cloud Scheduler runs it through the trigger)"
    )
