"""Composer running the daily cycle, in the synthesized stack: the environment on a bucket of the
platform's, the cycle's PyPI packages through a PyPI proxy its private builds can reach, and what
its worker and the deploy build may do."""

from __future__ import annotations

import re

import pytest

from infra.google_rules import check_synthesized
from tests.support.stacks import account_of, all_resources, resources, synthesized

COMPOSER_CYCLE = """
project_id: fixture-airflow
region: europe-west4
state_bucket: fixture-airflow-tfstate
encryption: {cmek: true}
composer: {enabled: true}
functions:
  predict: {invokers: [user:ana@example.com]}
cycle:
  enabled: true
  source: {kind: drop, prefix: incoming/demand/}
"""
COMPOSER_ONLY = """
project_id: fixture-quiet
region: europe-west4
state_bucket: fixture-quiet-tfstate
composer: {enabled: true}
functions:
  predict: {invokers: [user:ana@example.com]}
"""
REFERENCE = re.compile(r"\$\{([\w-]+)\.([\w-]+)\.(\w+)\}")


@pytest.fixture(scope="module")
def stacks(tmp_path_factory) -> dict[str, dict]:
    from environments.loading import load_environments

    directory = tmp_path_factory.mktemp("composer-cycle") / "environments"
    (directory / "teams").mkdir(parents=True)
    (directory / "airflow.yaml").write_text(COMPOSER_CYCLE)
    (directory / "quiet.yaml").write_text(COMPOSER_ONLY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_ENVIRONMENTS_DIR", str(directory))
        return synthesized(load_environments(), tmp_path_factory.mktemp("composer-cycle-out"))


def resolved(stack: dict, value: str) -> str:
    """A reference to a bucket's or repository's name or id, as the name it has."""
    match = REFERENCE.fullmatch(value)
    if not match:
        return value
    resource_type, logical_id, _ = match.groups()
    body = stack["resource"][resource_type][logical_id]
    return body.get("repository_id") or body.get("account_id") or body["name"]


def grants_to(stack: dict, account: str) -> set[tuple[str, str, str]]:
    """(resource type, what it is granted on, role) of every grant to the stack's `account`."""
    found = set()
    for resource_type, body in all_resources(stack):
        if resource_type.endswith("_iam_member") and account_of(body["member"]) == account:
            target = body.get("bucket") or body.get("repository") or body.get("service_account_id") or body["project"]
            found.add((resource_type, resolved(stack, target), body["role"]))
    return found


def test_composer_keeps_its_files_in_a_platform_bucket_encrypted_with_the_key(stacks):
    stack = stacks["airflow"]
    (environment,) = resources(stack, "google_composer_environment").values()
    assert resolved(stack, environment["storage_config"]["bucket"]) == "fixture-airflow-composer"
    (bucket,) = [b for b in resources(stack, "google_storage_bucket").values() if b["name"].endswith("-composer")]
    assert bucket["encryption"]["default_kms_key_name"].startswith("${google_kms_crypto_key.")
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["logging"]["log_object_prefix"] == "fixture-airflow-composer"


def test_the_cycles_packages_are_pinned_at_their_locked_versions(stacks):
    (environment,) = resources(stacks["airflow"], "google_composer_environment").values()
    assert environment["config"]["software_config"]["pypi_packages"] == {
        "google-cloud-aiplatform": "==2.7.0",
        "google-cloud-storage": "==3.17.1",
        "numpy": "==2.4.6",
        "pandas": "==2.3.3",
        "pmdarima": "==2.1.1",
        "pyarrow": "==26.0.1",
        "pydantic": "==2.14.3",
        "pyyaml": "==6.0.3",
        "requests": "==2.34.2",
        "statsforecast": "==2.1.1",
        "xgboost-cpu": "==3.2.0",
    }
    (quiet,) = resources(stacks["quiet"], "google_composer_environment").values()
    assert quiet["config"]["software_config"]["pypi_packages"] == {}


def test_private_builds_install_through_a_pypi_proxy_named_in_the_buckets_pip_conf(stacks):
    stack = stacks["airflow"]
    (environment,) = resources(stack, "google_composer_environment").values()
    assert environment["config"]["enable_private_builds_only"] is True
    (proxy,) = [r for r in resources(stack, "google_artifact_registry_repository").values() if r["format"] == "PYTHON"]
    assert proxy["repository_id"] == "pypi-remote"
    assert proxy["mode"] == "REMOTE_REPOSITORY"
    assert proxy["location"] == "europe-west4"
    assert proxy["remote_repository_config"]["python_repository"] == {"public_repository": "PYPI"}
    assert proxy["kms_key_name"].startswith("${google_kms_crypto_key.")
    (pip_conf,) = [
        o for o in resources(stack, "google_storage_bucket_object").values() if o["name"].startswith("config/")
    ]
    assert pip_conf["name"] == "config/pip/pip.conf"
    assert resolved(stack, pip_conf["bucket"]) == "fixture-airflow-composer"
    assert pip_conf["content"] == (
        "[global]\nindex-url = https://europe-west4-python.pkg.dev/fixture-airflow/pypi-remote/simple/\n"
    )
    # The environment is built only once the proxy and pip's settings exist.
    depends = environment["depends_on"]
    assert any(d.startswith("google_storage_bucket_object.composer_pip-conf") for d in depends)
    assert any(d.startswith("google_artifact_registry_repository.composer_pypi") for d in depends)


def test_the_worker_holds_what_the_cycles_tasks_need_and_nothing_more(stacks):
    assert grants_to(stacks["airflow"], "composer_worker") == {
        ("google_project_iam_member", "fixture-airflow", "roles/composer.worker"),
        ("google_project_iam_member", "fixture-airflow", "roles/aiplatform.user"),
        ("google_storage_bucket_iam_member", "fixture-airflow-data", "roles/storage.objectUser"),
        ("google_storage_bucket_iam_member", "fixture-airflow-models", "roles/storage.objectUser"),
        ("google_storage_bucket_iam_member", "fixture-airflow-composer", "roles/storage.objectAdmin"),
        ("google_artifact_registry_repository_iam_member", "pypi-remote", "roles/artifactregistry.reader"),
    }
    # Without the cycle, the worker runs nothing of the platform's: no data, models or Vertex AI.
    assert grants_to(stacks["quiet"], "composer_worker") == {
        ("google_project_iam_member", "fixture-quiet", "roles/composer.worker"),
        ("google_storage_bucket_iam_member", "fixture-quiet-composer", "roles/storage.objectAdmin"),
        ("google_artifact_registry_repository_iam_member", "pypi-remote", "roles/artifactregistry.reader"),
    }


def test_the_deployer_writes_objects_in_composers_bucket_only_and_never_through_a_composer_storage_role(stacks):
    stack = stacks["airflow"]
    buckets = {
        (target, role)
        for kind, target, role in grants_to(stack, "cloudbuild-deployer")
        if kind == "google_storage_bucket_iam_member"
    }
    assert buckets == {
        ("fixture-airflow-composer", "roles/storage.objectAdmin"),
        ("fixture-airflow-function-sources", "roles/storage.objectAdmin"),
        ("fixture-airflow-tfstate", "roles/storage.objectUser"),
    }
    roles = {role for _, _, role in grants_to(stack, "cloudbuild-deployer")}
    assert "roles/composer.environmentAndStorageObjectAdmin" not in roles


def test_googles_create_time_rules_hold(stacks):
    for name, stack in stacks.items():
        assert {rule: problems for rule, problems in check_synthesized(stack).items() if problems} == {}, name
