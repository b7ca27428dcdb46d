"""Structural assertions on the synthesized dev and prod stacks (synthesized once per session)."""

from __future__ import annotations

import pytest

from environments.loading import load_environment
from tests.support.stacks import account_of, all_resources, by_path, resources

ENVIRONMENTS = ["dev", "prod"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_stack_per_environment_with_its_provider_and_backend(stacks, env):
    environment = load_environment(env)
    stack = stacks[env]
    assert stack["provider"]["google"] == [{"project": environment.project_id, "region": environment.region}]
    assert stack["provider"]["google-beta"] == [{"project": environment.project_id, "region": environment.region}]
    assert stack["terraform"]["backend"] == {"gcs": {"bucket": environment.state_bucket, "prefix": f"platform/{env}"}}
    versions = {p["version"] for p in stack["terraform"]["required_providers"].values()}
    assert len(versions) == 1, "google and google-beta must be pinned to the same version"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apis_are_enabled_and_never_disabled_on_destroy(stacks, env):
    services = resources(stacks[env], "google_project_service").values()
    enabled = {s["service"] for s in services}
    assert {
        "aiplatform.googleapis.com",
        "artifactregistry.googleapis.com",
        "cloudfunctions.googleapis.com",
        "cloudscheduler.googleapis.com",
        "cloudbuild.googleapis.com",
        "run.googleapis.com",
    } <= enabled
    assert all(s["disable_on_destroy"] is False for s in services)
    assert ("cloudkms.googleapis.com" in enabled) == (env == "prod")
    assert ("composer.googleapis.com" in enabled) == (env == "prod")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_buckets_are_private_uniform_versioned_logged_and_labelled(stacks, env):
    environment = load_environment(env)
    buckets = {b["name"]: b for b in resources(stacks[env], "google_storage_bucket").values()}
    purposes = ["access-logs", "data", "pipeline-root", "models", "function-sources"]
    assert sorted(buckets) == sorted(environment.names.bucket(p) for p in purposes)
    logs = environment.names.bucket("access-logs")
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["versioning"] == {"enabled": True}
        assert bucket["force_destroy"] is False
        assert bucket["labels"]["env"] == env and bucket["labels"]["managed-by"] == "mlops-platform"
        if name != logs:
            assert bucket["logging"]["log_bucket"].startswith("${google_storage_bucket.access-logs_bucket")
        noncurrent = [r for r in bucket["lifecycle_rule"] if "days_since_noncurrent_time" in r["condition"]]
        assert noncurrent and noncurrent[0]["action"] == {"type": "Delete"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pipeline_root_objects_expire_after_the_configured_days(stacks, env):
    environment = load_environment(env)
    bucket = by_path(stacks[env], "google_storage_bucket")["pipeline-root/bucket"]
    ages = [r["condition"]["age"] for r in bucket["lifecycle_rule"] if "age" in r["condition"]]
    assert ages == [environment.storage.pipeline_root_retention_days]
    data = by_path(stacks[env], "google_storage_bucket")["data/bucket"]
    assert not [r for r in data["lifecycle_rule"] if "age" in r["condition"]], "data must never expire"


def test_prod_protects_data_and_models_from_destroy_and_dev_does_not(stacks):
    for env, expected in (("prod", True), ("dev", False)):
        buckets = by_path(stacks[env], "google_storage_bucket")
        for path in ("data/bucket", "models/bucket"):
            assert buckets[path].get("lifecycle", {}).get("prevent_destroy", False) is expected, (env, path)
        assert "lifecycle" not in buckets["pipeline-root/bucket"]


def test_prod_encrypts_everything_with_a_rotated_protected_key(stacks):
    prod = stacks["prod"]
    (key,) = resources(prod, "google_kms_crypto_key").values()
    assert key["rotation_period"] == "7776000s"  # 90 days
    assert key["lifecycle"] == {"prevent_destroy": True}
    key_ref = "${google_kms_crypto_key.cmek_key_"
    assert all(
        b["encryption"]["default_kms_key_name"].startswith(key_ref)
        for b in resources(prod, "google_storage_bucket").values()
    )
    repositories = {r["repository_id"]: r for r in resources(prod, "google_artifact_registry_repository").values()}
    assert repositories["containers"]["kms_key_name"].startswith(key_ref)
    assert repositories["pipelines"]["kms_key_name"].startswith(key_ref)
    assert "kms_key_name" not in repositories["functions"]  # build images: see checkov_skips.yaml
    (composer,) = resources(prod, "google_composer_environment").values()
    assert composer["config"]["encryption_config"]["kms_key_name"].startswith(key_ref)
    (store,) = resources(prod, "google_vertex_ai_metadata_store").values()
    assert store["encryption_spec"]["kms_key_name"].startswith(key_ref)
    assert all(
        g["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        for g in resources(prod, "google_kms_crypto_key_iam_member").values()
    )
    identities = {i["service"] for i in resources(prod, "google_project_service_identity").values()}
    assert identities == {"artifactregistry.googleapis.com", "aiplatform.googleapis.com", "composer.googleapis.com"}
    # those agents, Cloud Storage's and BigQuery's (the daily cycle's dataset)
    assert len(resources(prod, "google_kms_crypto_key_iam_member")) == 5


def test_dev_has_no_key_and_no_encryption_settings(stacks):
    dev = stacks["dev"]
    assert not resources(dev, "google_kms_crypto_key")
    assert all("encryption" not in b for b in resources(dev, "google_storage_bucket").values())
    assert all("kms_key_name" not in r for r in resources(dev, "google_artifact_registry_repository").values())


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_service_account_per_workload_and_no_keys(stacks, env):
    accounts = {a["account_id"] for a in resources(stacks[env], "google_service_account").values()}
    workloads = {
        "pipelines-runner",
        "pipeline-trigger",
        "scheduler-invoker",
        "model-serving",
        "function-builder",
        "cloudbuild-checks",
        "cloudbuild-publisher",
        "cloudbuild-deployer",
    }
    assert accounts == (workloads | {"composer-worker"} if env == "prod" else workloads)
    assert not resources(stacks[env], "google_service_account_key")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_iam_has_no_primitive_roles_no_public_members_and_only_additive_grants(stacks, env):
    for resource_type, body in all_resources(stacks[env]):
        assert not resource_type.endswith(("_iam_policy", "_iam_binding")), resource_type
        if resource_type.endswith("_iam_member"):
            assert body["role"] not in {"roles/owner", "roles/editor", "roles/viewer"}
            assert body["member"] not in {"allUsers", "allAuthenticatedUsers"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_project_level_roles_are_only_those_without_a_narrower_resource(stacks, env):
    grants = {  # the deployer's are asserted with the GitOps tests
        (g["role"], account_of(g["member"]))
        for g in resources(stacks[env], "google_project_iam_member").values()
        if account_of(g["member"]) != "cloudbuild-deployer"
    }
    expected = {
        ("roles/aiplatform.user", "pipelines-runner"),
        ("roles/logging.logWriter", "pipelines-runner"),
        ("roles/aiplatform.user", "pipeline-trigger"),
        ("roles/aiplatform.viewer", "model-serving"),
        ("roles/logging.logWriter", "function-builder"),
        ("roles/logging.logWriter", "cloudbuild-checks"),
        ("roles/logging.logWriter", "cloudbuild-publisher"),
    }
    if env == "prod":
        expected.add(("roles/composer.worker", "composer_worker"))
    assert grants == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workloads_get_resource_level_grants(stacks, env):
    bucket_grants = {
        (path.split("/")[0], g["role"], account_of(g["member"]))
        for path, g in by_path(stacks[env], "google_storage_bucket_iam_member").items()
    }
    assert bucket_grants == {
        ("data", "roles/storage.objectViewer", "pipelines-runner"),
        ("pipeline-root", "roles/storage.objectUser", "pipelines-runner"),
        ("pipeline-root", "roles/storage.legacyBucketReader", "pipeline-trigger"),
        ("models", "roles/storage.objectUser", "pipelines-runner"),
        ("models", "roles/storage.objectViewer", "model-serving"),
        ("function-sources", "roles/storage.objectViewer", "function-builder"),
        ("function-sources", "roles/storage.objectAdmin", "cloudbuild-deployer"),
        ("state-bucket", "roles/storage.objectUser", "cloudbuild-deployer"),
        ("access-logs", "roles/storage.objectCreator", "group:cloud-storage-analytics@google.com"),
    }
    repository_grants = {
        (path.split("/")[0], g["role"], account_of(g["member"]))
        for path, g in by_path(stacks[env], "google_artifact_registry_repository_iam_member").items()
    }
    assert repository_grants == {
        ("containers", "roles/artifactregistry.reader", "pipelines-runner"),
        ("containers", "roles/artifactregistry.writer", "cloudbuild-publisher"),
        ("pipelines", "roles/artifactregistry.reader", "pipeline-trigger"),
        ("pipelines", "roles/artifactregistry.writer", "cloudbuild-publisher"),
        ("functions", "roles/artifactregistry.writer", "function-builder"),
    }
    (act_as,) = [
        g
        for p, g in by_path(stacks[env], "google_service_account_iam_member").items()
        if p.startswith("pipelines-runner/")
    ]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["member"].startswith("${google_service_account.pipeline-trigger_account")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_registries_hold_images_and_templates_with_cleanup_policies(stacks, env):
    repositories = {
        r["repository_id"]: r for r in resources(stacks[env], "google_artifact_registry_repository").values()
    }
    assert repositories["containers"]["format"] == "DOCKER"
    assert repositories["containers"]["docker_config"] == {"immutable_tags": True}
    assert repositories["pipelines"]["format"] == "KFP"
    for repository in repositories.values():
        policies = {p["id"]: p for p in repository["cleanup_policies"]}
        assert policies["delete-untagged"]["condition"]["tag_state"] == "UNTAGGED"
        assert policies["keep-recent"]["most_recent_versions"]["keep_count"] > 0
        assert repository["cleanup_policy_dry_run"] is False


def test_composer_is_off_in_dev_and_small_private_in_prod_with_its_own_worker(stacks):
    assert not resources(stacks["dev"], "google_composer_environment")
    (composer,) = resources(stacks["prod"], "google_composer_environment").values()
    config = composer["config"]
    assert config["environment_size"] == "ENVIRONMENT_SIZE_SMALL"
    assert config["enable_private_environment"] is True
    assert config["software_config"]["image_version"].startswith("composer-3-")
    assert config["node_config"]["service_account"].startswith("${google_service_account.composer_worker_account")
    worker_roles = [
        g["role"]
        for g in resources(stacks["prod"], "google_project_iam_member").values()
        if "composer_worker" in g["member"]
    ]
    assert worker_roles == ["roles/composer.worker"]


def test_prod_creates_its_metadata_store_with_the_key_and_dev_leaves_it_to_vertex(stacks):
    (store,) = resources(stacks["prod"], "google_vertex_ai_metadata_store").values()
    assert store["name"] == "default" and store["provider"] == "google-beta"
    assert store["region"] == "europe-west1"
    assert not resources(stacks["dev"], "google_vertex_ai_metadata_store")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_functions_are_private_gen2_scaled_to_zero_with_their_own_accounts(stacks, env):
    environment = load_environment(env)
    functions = {f["name"]: f for f in resources(stacks[env], "google_cloudfunctions2_function").values()}
    assert sorted(functions) == ["pipeline-trigger", "predict"]
    accounts = {"pipeline-trigger": "pipeline-trigger", "predict": "model-serving"}
    settings = {"pipeline-trigger": environment.functions.pipeline_trigger, "predict": environment.functions.predict}
    # The scheduler (same project) reaches an internal trigger; predict's callers come from outside.
    ingress = {"pipeline-trigger": "ALLOW_INTERNAL_ONLY", "predict": "ALLOW_ALL"}
    for name, function in functions.items():
        service = function["service_config"]
        assert function["build_config"]["runtime"] == "python311"
        assert service["min_instance_count"] == 0
        assert service["max_instance_count"] == settings[name].max_instances
        assert service["ingress_settings"] == ingress[name]
        assert account_of(service["service_account_email"]) == accounts[name]
    trigger_env = functions["pipeline-trigger"]["service_config"]["environment_variables"]
    assert trigger_env["TEMPLATE_REPOSITORY"] == environment.names.kfp_repository_url
    assert trigger_env["RUNNER_SERVICE_ACCOUNT"] == environment.names.service_account_email("pipelines-runner")
    assert trigger_env["DRY_RUN"] == "false"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_function_sources_are_named_by_content_hash(stacks, env):
    objects = resources(stacks[env], "google_storage_bucket_object").values()
    names = sorted(o["name"] for o in objects)
    assert [n.split("-")[0] for n in names] == ["functions/pipeline_trigger", "functions/predict"]
    assert all(len(n.rsplit("-", 1)[1]) == len("0123456789abcdef.zip") for n in names)
    assert all(o["source"].startswith("assets/") for o in objects)


@pytest.mark.parametrize(
    ("env", "predict_invoker"),
    [("dev", "group:ml-platform@example.com"), ("prod", "group:forecast-consumers@example.com")],
)
def test_the_scheduler_invoker_is_the_triggers_only_invoker_and_predict_has_its_listed_callers(
    stacks, env, predict_invoker
):
    grants = list(resources(stacks[env], "google_cloud_run_v2_service_iam_member").values())
    assert sorted((g["role"], account_of(g["member"]), g["name"].split(".")[1].rsplit("_", 2)[0]) for g in grants) == [
        ("roles/run.invoker", predict_invoker, "function-predict"),
        ("roles/run.invoker", "scheduler-invoker", "function-pipeline-trigger"),
    ]
    assert not resources(stacks[env], "google_cloudfunctions2_function_iam_member")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_schedules_call_the_trigger_with_an_oidc_token_and_retries(stacks, env):
    import base64
    import json

    environment = load_environment(env)
    jobs = {j["name"]: j for j in resources(stacks[env], "google_cloud_scheduler_job").values()}
    assert sorted(jobs) == sorted(f"{env}-{s.name}" for s in environment.schedules)
    assert {s.pipeline for s in environment.schedules} == {"training", "monitoring"}
    for schedule in environment.schedules:
        job = jobs[f"{env}-{schedule.name}"]
        target = job["http_target"]
        assert (job["schedule"], job["time_zone"]) == (schedule.cron, schedule.time_zone)
        assert target["http_method"] == "POST"
        assert target["uri"] == target["oidc_token"]["audience"]
        assert target["uri"].startswith("${google_cloudfunctions2_function.function-pipeline-trigger_function")
        assert account_of(target["oidc_token"]["service_account_email"]) == "scheduler-invoker"
        assert json.loads(base64.b64decode(target["body"])) == {
            "pipeline": schedule.pipeline,
            "version": schedule.version,
            "parameters": schedule.parameters,
        }
        assert job["retry_config"]["retry_count"] > 0
