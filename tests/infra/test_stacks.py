"""Structural assertions on the synthesized stacks of the fixture environments
(tests/support/environments.py: every switch off, each one on by itself, all on), synthesized once
per session. Expected values are literals: a change to what the stack makes shows up here."""

from __future__ import annotations

import base64
import json
import re

import pytest

from tests.support.stacks import account_of, all_resources, by_path, resources

SWITCHES = ["nothing", "cmek", "composer", "budgets", "teams", "delivery", "everything"]
REGION = {name: "us-central1" if name == "everything" else "europe-west4" for name in SWITCHES}
BASE_APIS = {
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
}
WORKLOADS = {
    "pipelines-runner",
    "pipeline-trigger",
    "scheduler-invoker",
    "model-serving",
    "function-builder",
    "cloudbuild-deployer",
}


@pytest.mark.parametrize("env", SWITCHES)
def test_one_stack_per_environment_with_its_provider_and_backend(fixture_stacks, env):
    stack = fixture_stacks[env]
    provider = [{"project": f"fixture-{env}", "region": REGION[env]}]
    assert stack["provider"]["google"] == provider
    assert stack["provider"]["google-beta"] == provider
    assert stack["terraform"]["backend"] == {"gcs": {"bucket": f"fixture-{env}-tfstate", "prefix": f"platform/{env}"}}
    versions = {p["version"] for p in stack["terraform"]["required_providers"].values()}
    assert len(versions) == 1, "google and google-beta must be pinned to the same version"


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ("nothing", set()),
        ("cmek", {"cloudkms.googleapis.com"}),
        ("composer", {"composer.googleapis.com"}),
        ("budgets", {"billingbudgets.googleapis.com"}),
        ("teams", set()),
        ("delivery", set()),
        ("everything", {"cloudkms.googleapis.com", "composer.googleapis.com", "billingbudgets.googleapis.com"}),
    ],
)
def test_apis_are_enabled_and_never_disabled_on_destroy(fixture_stacks, env, extra):
    services = resources(fixture_stacks[env], "google_project_service").values()
    assert {s["service"] for s in services} == BASE_APIS | extra
    assert all(s["disable_on_destroy"] is False for s in services)


@pytest.mark.parametrize("env", SWITCHES)
def test_buckets_are_private_uniform_versioned_logged_and_labelled(fixture_stacks, env):
    buckets = {b["name"]: b for b in resources(fixture_stacks[env], "google_storage_bucket").values()}
    purposes = ["access-logs", "data", "function-sources", "models", "pipeline-root"]
    purposes += ["composer"] if env in ("composer", "everything") else []  # the environment's own bucket
    assert sorted(buckets) == sorted(f"fixture-{env}-{purpose}" for purpose in purposes)
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["versioning"] == {"enabled": True}
        assert bucket["force_destroy"] is False
        assert bucket["labels"] == {"env": env, "managed-by": "mlops-platform"}
        if name != f"fixture-{env}-access-logs":
            assert bucket["logging"]["log_bucket"].startswith("${google_storage_bucket.access-logs_bucket")
        noncurrent = [r for r in bucket["lifecycle_rule"] if "days_since_noncurrent_time" in r["condition"]]
        assert noncurrent == [
            {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 30, "with_state": "ARCHIVED"}}
        ]


@pytest.mark.parametrize(("env", "days"), [("nothing", 14), ("everything", 30)])
def test_pipeline_root_objects_expire_after_the_configured_days(fixture_stacks, env, days):
    buckets = by_path(fixture_stacks[env], "google_storage_bucket")
    ages = [r["condition"]["age"] for r in buckets["pipeline-root/bucket"]["lifecycle_rule"] if "age" in r["condition"]]
    assert ages == [days]
    data = buckets["data/bucket"]
    assert not [r for r in data["lifecycle_rule"] if "age" in r["condition"]], "data must never expire"


@pytest.mark.parametrize(("env", "protected"), [("cmek", True), ("everything", True), ("nothing", False)])
def test_with_cmek_data_and_models_are_protected_from_destroy(fixture_stacks, env, protected):
    buckets = by_path(fixture_stacks[env], "google_storage_bucket")
    for path in ("data/bucket", "models/bucket"):
        assert buckets[path].get("lifecycle", {}).get("prevent_destroy", False) is protected, path
    assert "lifecycle" not in buckets["pipeline-root/bucket"]


@pytest.mark.parametrize(
    ("env", "rotation", "agents"),
    [
        ("cmek", "2592000s", {"artifactregistry.googleapis.com", "aiplatform.googleapis.com"}),
        (
            "everything",
            "7776000s",
            {"artifactregistry.googleapis.com", "aiplatform.googleapis.com", "composer.googleapis.com"},
        ),
    ],
)
def test_cmek_encrypts_everything_with_a_rotated_protected_key(fixture_stacks, env, rotation, agents):
    stack = fixture_stacks[env]
    (key,) = resources(stack, "google_kms_crypto_key").values()
    assert key["rotation_period"] == rotation
    assert key["lifecycle"] == {"prevent_destroy": True}
    key_ref = "${google_kms_crypto_key.cmek_key_"
    assert all(
        b["encryption"]["default_kms_key_name"].startswith(key_ref)
        for b in resources(stack, "google_storage_bucket").values()
    )
    repositories = {r["repository_id"]: r for r in resources(stack, "google_artifact_registry_repository").values()}
    assert repositories["containers"]["kms_key_name"].startswith(key_ref)
    assert repositories["pipelines"]["kms_key_name"].startswith(key_ref)
    assert "kms_key_name" not in repositories["functions"]  # build images: see checkov_skips.yaml
    for composer in resources(stack, "google_composer_environment").values():
        assert composer["config"]["encryption_config"]["kms_key_name"].startswith(key_ref)
    (store,) = resources(stack, "google_vertex_ai_metadata_store").values()
    assert store["encryption_spec"]["kms_key_name"].startswith(key_ref)
    grants = resources(stack, "google_kms_crypto_key_iam_member").values()
    assert all(g["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter" for g in grants)
    assert {i["service"] for i in resources(stack, "google_project_service_identity").values()} == agents
    assert len(grants) == len(agents) + 1  # those agents and Cloud Storage's


def test_without_cmek_there_is_no_key_and_no_encryption_settings(fixture_stacks):
    stack = fixture_stacks["nothing"]
    assert not resources(stack, "google_kms_crypto_key")
    assert all("encryption" not in b for b in resources(stack, "google_storage_bucket").values())
    assert all("kms_key_name" not in r for r in resources(stack, "google_artifact_registry_repository").values())


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ("nothing", set()),
        ("cmek", set()),
        ("composer", {"composer-worker"}),
        ("budgets", set()),
        ("teams", {"team-forecasting"}),
        ("delivery", {"cloudbuild-checks", "cloudbuild-publisher"}),
        ("everything", {"composer-worker", "team-forecasting", "cloudbuild-checks", "cloudbuild-publisher"}),
    ],
)
def test_one_service_account_per_workload_and_no_keys(fixture_stacks, env, extra):
    accounts = {a["account_id"] for a in resources(fixture_stacks[env], "google_service_account").values()}
    assert accounts == WORKLOADS | extra
    assert not resources(fixture_stacks[env], "google_service_account_key")


@pytest.mark.parametrize("env", SWITCHES)
def test_iam_has_no_primitive_roles_no_public_members_and_only_additive_grants(fixture_stacks, env):
    for resource_type, body in all_resources(fixture_stacks[env]):
        assert not resource_type.endswith(("_iam_policy", "_iam_binding")), resource_type
        if resource_type.endswith("_iam_member"):
            assert body["role"] not in {"roles/owner", "roles/editor", "roles/viewer"}
            assert body["member"] not in {"allUsers", "allAuthenticatedUsers"}


WORKLOAD_PROJECT_ROLES = {
    ("roles/aiplatform.user", "pipelines-runner"),
    ("roles/logging.logWriter", "pipelines-runner"),
    ("roles/aiplatform.user", "pipeline-trigger"),
    ("roles/aiplatform.viewer", "model-serving"),
    ("roles/logging.logWriter", "function-builder"),
}


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ("nothing", set()),
        ("composer", {("roles/composer.worker", "composer_worker")}),
        (
            "teams",
            {
                ("projects/fixture-teams/roles/platformTeamRunner", "team-forecasting_runner"),
                ("roles/logging.logWriter", "team-forecasting_runner"),
                ("projects/fixture-teams/roles/platformTeamRunner", "group:forecasting@example.com"),
            },
        ),
        (
            "delivery",
            {("roles/logging.logWriter", "cloudbuild-checks"), ("roles/logging.logWriter", "cloudbuild-publisher")},
        ),
    ],
)
def test_project_level_roles_are_only_those_without_a_narrower_resource(fixture_stacks, env, extra):
    grants = {  # the deployer's are asserted with the GitOps tests
        (g["role"], account_of(g["member"]))
        for g in resources(fixture_stacks[env], "google_project_iam_member").values()
        if account_of(g["member"]) != "cloudbuild-deployer"
    }
    assert grants == WORKLOAD_PROJECT_ROLES | extra


WORKLOAD_BUCKET_GRANTS = {
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
WORKLOAD_REPOSITORY_GRANTS = {
    ("containers", "roles/artifactregistry.reader", "pipelines-runner"),
    ("pipelines", "roles/artifactregistry.reader", "pipeline-trigger"),
    ("functions", "roles/artifactregistry.writer", "function-builder"),
}
PUBLISHER_GRANTS = {
    ("containers", "roles/artifactregistry.writer", "cloudbuild-publisher"),
    ("pipelines", "roles/artifactregistry.writer", "cloudbuild-publisher"),
}


@pytest.mark.parametrize(("env", "publisher"), [("nothing", set()), ("delivery", PUBLISHER_GRANTS)])
def test_workloads_get_resource_level_grants(fixture_stacks, env, publisher):
    stack = fixture_stacks[env]
    bucket_grants = {
        (path.split("/")[0], g["role"], account_of(g["member"]))
        for path, g in by_path(stack, "google_storage_bucket_iam_member").items()
    }
    assert bucket_grants == WORKLOAD_BUCKET_GRANTS
    repository_grants = {
        (path.split("/")[0], g["role"], account_of(g["member"]))
        for path, g in by_path(stack, "google_artifact_registry_repository_iam_member").items()
    }
    assert repository_grants == WORKLOAD_REPOSITORY_GRANTS | publisher
    (act_as,) = [
        g for p, g in by_path(stack, "google_service_account_iam_member").items() if p.startswith("pipelines-runner/")
    ]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["member"].startswith("${google_service_account.pipeline-trigger_account")


@pytest.mark.parametrize("env", SWITCHES)
def test_registries_hold_images_and_templates_with_cleanup_policies(fixture_stacks, env):
    repositories = {
        r["repository_id"]: r
        for r in resources(fixture_stacks[env], "google_artifact_registry_repository").values()
        if r["mode"] == "STANDARD_REPOSITORY"  # Composer's PyPI proxy: tests/infra/test_composer_cycle.py
    }
    assert sorted(repositories) == ["containers", "functions", "pipelines"]
    assert repositories["containers"]["format"] == "DOCKER"
    assert repositories["containers"]["docker_config"] == {"immutable_tags": True}
    assert repositories["functions"]["docker_config"] == {"immutable_tags": False}
    assert repositories["pipelines"]["format"] == "KFP"
    for repository in repositories.values():
        policies = {p["id"]: p for p in repository["cleanup_policies"]}
        assert policies["delete-untagged"]["condition"]["tag_state"] == "UNTAGGED"
        assert policies["keep-recent"]["most_recent_versions"]["keep_count"] > 0
        assert repository["cleanup_policy_dry_run"] is False


def test_composer_is_off_unless_enabled_and_private_with_its_own_worker(fixture_stacks):
    assert not resources(fixture_stacks["nothing"], "google_composer_environment")
    stack = fixture_stacks["composer"]
    (composer,) = resources(stack, "google_composer_environment").values()
    config = composer["config"]
    assert config["environment_size"] == "ENVIRONMENT_SIZE_MEDIUM"
    assert config["enable_private_environment"] is True
    assert config["software_config"]["image_version"] == "composer-3-airflow-2.10.5"
    assert config["node_config"]["service_account"].startswith("${google_service_account.composer_worker_account")
    worker_roles = [
        g["role"] for g in resources(stack, "google_project_iam_member").values() if "composer_worker" in g["member"]
    ]
    assert worker_roles == ["roles/composer.worker"]


def test_with_cmek_the_metadata_store_is_created_with_the_key_and_otherwise_left_to_vertex(fixture_stacks):
    (store,) = resources(fixture_stacks["cmek"], "google_vertex_ai_metadata_store").values()
    assert store["name"] == "default" and store["provider"] == "google-beta"
    assert store["region"] == "europe-west4"
    assert not resources(fixture_stacks["nothing"], "google_vertex_ai_metadata_store")


@pytest.mark.parametrize("env", ["nothing", "everything"])
def test_functions_are_private_gen2_scaled_to_zero_with_their_own_accounts(fixture_stacks, env):
    functions = {f["name"]: f for f in resources(fixture_stacks[env], "google_cloudfunctions2_function").values()}
    assert sorted(functions) == ["pipeline-trigger", "predict"]
    accounts = {"pipeline-trigger": "pipeline-trigger", "predict": "model-serving"}
    # The scheduler (same project) reaches an internal trigger; predict's callers come from outside.
    ingress = {"pipeline-trigger": "ALLOW_INTERNAL_ONLY", "predict": "ALLOW_ALL"}
    for name, function in functions.items():
        service = function["service_config"]
        assert function["build_config"]["runtime"] == "python311"
        assert service["min_instance_count"] == 0
        assert service["max_instance_count"] == 3
        assert service["available_memory"] == "1G"
        assert service["ingress_settings"] == ingress[name]
        assert account_of(service["service_account_email"]) == accounts[name]
    # One request at a time, Cloud Run functions' default, set explicitly: predict's one gunicorn
    # thread (THREADS) is chosen for it (cloud.google.com/functions/docs/configuring/max-instances).
    assert [function["service_config"]["max_instance_request_concurrency"] for function in functions.values()] == [1, 1]
    assert functions["predict"]["service_config"]["environment_variables"]["THREADS"] == "1"
    # `make serve` gives its local server the deployed request timeout (gunicorn's worker timeout).
    from functions.serve import local_environment

    for function in ("predict", "pipeline_trigger"):
        local = int(local_environment(function, "dev")["CLOUD_RUN_TIMEOUT_SECONDS"])
        assert functions[function.replace("_", "-")]["service_config"]["timeout_seconds"] == local == 60
    trigger_env = functions["pipeline-trigger"]["service_config"]["environment_variables"]
    assert trigger_env["TEMPLATE_REPOSITORY"] == f"https://{REGION[env]}-kfp.pkg.dev/fixture-{env}/pipelines"
    assert trigger_env["RUNNER_SERVICE_ACCOUNT"] == f"pipelines-runner@fixture-{env}.iam.gserviceaccount.com"
    assert trigger_env["DRY_RUN"] == "false"


@pytest.mark.parametrize(("env", "teams"), [("nothing", {}), ("teams", {"forecasting": "team-forecasting"})])
def test_the_trigger_runs_a_teams_pipelines_as_the_teams_own_identity(fixture_stacks, env, teams):
    stack = fixture_stacks[env]
    (trigger,) = [
        f for f in resources(stack, "google_cloudfunctions2_function").values() if f["name"] == "pipeline-trigger"
    ]
    accounts = json.loads(trigger["service_config"]["environment_variables"]["TEAM_SERVICE_ACCOUNTS"])
    assert sorted(accounts) == sorted(teams)
    for team, email in accounts.items():
        # A reference to the team identity's account, never an email rebuilt from a naming convention.
        (logical_id,) = re.fullmatch(r"\$\{google_service_account\.([\w-]+)\.email\}", email).groups()
        assert resources(stack, "google_service_account")[logical_id]["account_id"] == teams[team]


@pytest.mark.parametrize("env", SWITCHES)
def test_function_sources_are_named_by_content_hash(fixture_stacks, env):
    objects = [
        o
        for o in resources(fixture_stacks[env], "google_storage_bucket_object").values()
        if o["name"].startswith("functions/")  # Composer's pip.conf: tests/infra/test_composer_cycle.py
    ]
    names = sorted(o["name"] for o in objects)
    assert [n.split("-")[0] for n in names] == ["functions/pipeline_trigger", "functions/predict"]
    assert all(len(n.rsplit("-", 1)[1]) == len("0123456789abcdef.zip") for n in names)
    assert all(o["source"].startswith("assets/") for o in objects)


@pytest.mark.parametrize(
    ("env", "predict_invoker"), [("nothing", "user:ana@example.com"), ("everything", "group:callers@example.com")]
)
def test_the_scheduler_invoker_is_the_triggers_only_invoker_and_predict_has_its_listed_callers(
    fixture_stacks, env, predict_invoker
):
    grants = list(resources(fixture_stacks[env], "google_cloud_run_v2_service_iam_member").values())
    assert {(g["role"], account_of(g["member"]), g["name"].split(".")[1].rsplit("_", 2)[0]) for g in grants} == {
        ("roles/run.invoker", predict_invoker, "function-predict"),
        ("roles/run.invoker", "scheduler-invoker", "function-pipeline-trigger"),
    }
    assert len(grants) == 2
    assert not resources(fixture_stacks[env], "google_cloudfunctions2_function_iam_member")


def test_schedules_call_the_trigger_with_an_oidc_token_and_retries(fixture_stacks):
    jobs = {j["name"]: j for j in resources(fixture_stacks["everything"], "google_cloud_scheduler_job").values()}
    assert sorted(jobs) == ["everything-forecasting-weekly", "everything-nightly"]
    expected = {
        "everything-nightly": ("0 1 * * *", {"pipeline": "training", "version": "latest", "parameters": {}}),
        "everything-forecasting-weekly": (
            "0 4 * * 1",
            {"pipeline": "training", "version": "latest", "parameters": {}, "team": "forecasting"},
        ),
    }
    for name, (cron, body) in expected.items():
        job, target = jobs[name], jobs[name]["http_target"]
        assert (job["schedule"], job["time_zone"]) == (cron, "Etc/UTC")
        assert target["http_method"] == "POST"
        assert target["uri"] == target["oidc_token"]["audience"]
        assert target["uri"].startswith("${google_cloudfunctions2_function.function-pipeline-trigger_function")
        assert account_of(target["oidc_token"]["service_account_email"]) == "scheduler-invoker"
        assert json.loads(base64.b64decode(target["body"])) == body
        assert job["retry_config"]["retry_count"] == 3


def test_a_first_team_changes_no_role_and_no_deployer_condition(fixture_stacks):
    """The deploy build applies a team's onboarding, and it can neither create a custom role nor
    change its own project IAM condition: a stack with teams needs no role or condition that the
    same stack without teams lacks."""

    def roles_and_condition(stack: dict) -> tuple[set[str], str]:
        roles = {role["role_id"] for role in resources(stack, "google_project_iam_custom_role").values()}
        (admin,) = [
            grant
            for grant in resources(stack, "google_project_iam_member").values()
            if grant["role"] == "roles/resourcemanager.projectIamAdmin"
        ]
        return roles, admin["condition"]["expression"].replace("fixture-teams", "fixture-nothing")

    assert (
        resources(fixture_stacks["teams"], "google_service_account").keys()
        - resources(fixture_stacks["nothing"], "google_service_account").keys()
    ), "the teams fixture has teams"
    assert roles_and_condition(fixture_stacks["teams"]) == roles_and_condition(fixture_stacks["nothing"])
