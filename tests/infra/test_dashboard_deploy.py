"""The deployed dashboard in the synthesized stacks: a Cloud Run service behind IAM only, running as
its own read-only service account, opened only by the environment file's viewers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from environments.loading import load_environment
from environments.messages import ConfigError
from infra.google_rules import check_synthesized
from tests.support.stacks import account_of, all_resources, by_path, resources, synthesized

VIEWERS = """
project_id: dash-viewers
region: europe-west1
state_bucket: dash-viewers-tfstate
encryption: {cmek: true}
functions:
  predict: {invokers: [group:callers@example.com]}
dashboard:
  viewers: [group:ml@example.com, user:ana@example.com]
"""
WITHOUT = """
project_id: dash-without
region: europe-west4
state_bucket: dash-without-tfstate
functions:
  predict: {invokers: [group:callers@example.com]}
"""
WITH_CYCLE = """
project_id: dash-cycle
region: europe-west1
state_bucket: dash-cycle-tfstate
functions:
  predict: {invokers: [group:callers@example.com]}
dashboard:
  viewers: [group:ml@example.com]
cycle:
  enabled: true
  source: {kind: drop}
"""
SERVICE = "google_cloud_run_v2_service"


@pytest.fixture(scope="module")
def own_stacks(tmp_path_factory) -> dict[str, dict]:
    """Two environments of this test's own, synthesized with a known image tag."""
    from environments.loading import load_environments

    directory = tmp_path_factory.mktemp("dashboard") / "environments"
    (directory / "teams").mkdir(parents=True)
    (directory / "viewers.yaml").write_text(VIEWERS)
    (directory / "without.yaml").write_text(WITHOUT)
    (directory / "cycle.yaml").write_text(WITH_CYCLE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_ENVIRONMENTS_DIR", str(directory))
        patch.setenv("IMAGE_TAG", "0123456789ab")
        environments = load_environments()
        return synthesized(environments, tmp_path_factory.mktemp("dashboard-out"))


def grants_to(stack: dict, account: str) -> set[tuple[str, str, str]]:
    """(resource type, what it is granted on, role) of every grant to `account` of the stack."""
    found = set()
    for resource_type, body in all_resources(stack):
        if resource_type.endswith("_iam_member") and account_of(body["member"]) == account:
            target = body.get("bucket") or body.get("repository") or body.get("project") or body.get("name")
            found.add((resource_type, target, body["role"]))
    return found


def test_the_service_runs_the_dashboard_on_the_components_image_as_its_own_account(own_stacks):
    (service,) = resources(own_stacks["viewers"], SERVICE).values()
    template = service["template"]
    (container,) = template["containers"]
    assert service["name"] == "dashboard" and service["location"] == "europe-west1"
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert account_of(template["service_account"].replace(".email}", ".member}")) == "dashboard-viewer"
    assert container["image"] == "europe-west1-docker.pkg.dev/dash-viewers/containers/python-components:0123456789ab"
    assert container["command"] == ["python", "-m", "tools.dashboard.server"]
    assert container["args"] == [
        "--host",
        "0.0.0.0",  # noqa: S104 - the container listens on every interface
        "--port",
        "8080",
        "--registry",
        "vertex://dash-viewers/europe-west1/forecaster",
        "--runs",
        "gs://dash-viewers-pipeline-root/${data.google_project.project.number}",
    ]
    assert container["ports"] == {"container_port": 8080}
    assert template["scaling"] == {"min_instance_count": 0, "max_instance_count": 2}
    assert template["encryption_key"] == "${google_kms_crypto_key.cmek_key_843228E1.id}"
    assert service["labels"]["env"] == "viewers"


def test_its_account_reads_exactly_the_models_and_pipeline_root_buckets_and_the_registry(own_stacks):
    (account,) = [
        a for a in resources(own_stacks["viewers"], "google_service_account").values() if "dashboard" in a["account_id"]
    ]
    assert account["account_id"] == "dashboard-viewer"
    models, pipeline_root = (
        f"${{google_storage_bucket.{name}.name}}"
        for name in ("models_bucket_03E03D20", "pipeline-root_bucket_F24EA593")
    )
    assert grants_to(own_stacks["viewers"], "dashboard-viewer") == {
        ("google_storage_bucket_iam_member", models, "roles/storage.objectViewer"),
        ("google_storage_bucket_iam_member", pipeline_root, "roles/storage.objectViewer"),
        ("google_project_iam_member", "dash-viewers", "roles/aiplatform.viewer"),
    }


def test_with_the_daily_cycle_it_also_reads_the_cycles_store_in_the_data_bucket(own_stacks):
    (service,) = resources(own_stacks["cycle"], SERVICE).values()
    (container,) = service["template"]["containers"]
    assert container["args"][-2:] == ["--cycle", "gs://dash-cycle-data/cycle/forecaster"]
    (data_id,) = [
        i for i, b in resources(own_stacks["cycle"], "google_storage_bucket").items() if b["name"] == "dash-cycle-data"
    ]
    data = f"${{google_storage_bucket.{data_id}.name}}"
    assert ("google_storage_bucket_iam_member", data, "roles/storage.objectViewer") in grants_to(
        own_stacks["cycle"], "dashboard-viewer"
    )
    assert not any(grant[1] == data for grant in grants_to(own_stacks["viewers"], "dashboard-viewer"))


def test_only_the_deployer_may_act_as_it(own_stacks):
    acting = [
        (account_of(body["member"]), body["role"])
        for body in resources(own_stacks["viewers"], "google_service_account_iam_member").values()
        if "dashboard-viewer" in body["service_account_id"]
    ]
    assert acting == [("cloudbuild-deployer", "roles/iam.serviceAccountUser")]


def test_the_deployer_may_deploy_cloud_run_services(own_stacks):
    roles = {
        (account_of(b["member"]), b["role"])
        for b in resources(own_stacks["viewers"], "google_project_iam_member").values()
    }
    assert ("cloudbuild-deployer", "roles/run.developer") in roles


def test_invokers_are_exactly_the_viewers_of_the_environment_file(own_stacks):
    invokers = by_path(own_stacks["viewers"], "google_cloud_run_v2_service_iam_member")
    dashboard = {path: body for path, body in invokers.items() if path.startswith("dashboard/")}
    assert sorted((b["role"], b["member"]) for b in dashboard.values()) == [
        ("roles/run.invoker", "group:ml@example.com"),
        ("roles/run.invoker", "user:ana@example.com"),
    ]
    assert all(
        b["name"] == "${google_cloud_run_v2_service.dashboard_service_B4CC5F26.name}" for b in dashboard.values()
    )


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_committed_environments_invokers_come_from_their_files(stacks, env):
    invokers = by_path(stacks[env], "google_cloud_run_v2_service_iam_member")
    members = sorted(b["member"] for path, b in invokers.items() if path.startswith("dashboard/"))
    assert members == ["group:ml-platform@example.com"]
    assert load_environment(env).dashboard.viewers == ["group:ml-platform@example.com"]


def test_no_stack_has_a_public_member(own_stacks, stacks):
    for name, stack in {**own_stacks, **stacks}.items():
        text = json.dumps(stack.get("resource", {}))
        assert "allUsers" not in text and "allAuthenticatedUsers" not in text, name


def test_cloud_runs_agent_reads_the_image_and_uses_the_key_before_the_service_is_created(own_stacks):
    stack = own_stacks["viewers"]
    agent = "${google_project_service_identity.run-agent.member}"
    image_read = [
        address
        for address, body in resources(stack, "google_artifact_registry_repository_iam_member").items()
        if body["member"] == agent
    ]
    key_use = [
        address
        for address, body in resources(stack, "google_kms_crypto_key_iam_member").items()
        if body["member"] == agent
    ]
    assert [resources(stack, "google_artifact_registry_repository_iam_member")[a]["role"] for a in image_read] == [
        "roles/artifactregistry.reader"
    ]
    assert len(key_use) == 1
    (service,) = resources(stack, SERVICE).values()
    waits = set(service["depends_on"])
    assert {
        f"google_artifact_registry_repository_iam_member.{image_read[0]}",
        f"google_kms_crypto_key_iam_member.{key_use[0]}",
        "google_project_service.apis_run_8855F8C0",
        "google_project_service.apis_artifactregistry_451C969A",
    } <= waits
    assert any(
        d.startswith("google_service_account_iam_member.dashboard-viewer_act-as-cloudbuild-deployer") for d in waits
    )


def test_googles_create_time_rules_hold(own_stacks, stacks):
    for name, stack in {**own_stacks, **stacks}.items():
        assert {rule: problems for rule, problems in check_synthesized(stack).items() if problems} == {}, name


def test_without_dashboard_settings_nothing_is_deployed(own_stacks):
    stack = own_stacks["without"]
    assert resources(stack, SERVICE) == {}
    assert grants_to(stack, "dashboard-viewer") == set()
    assert all(a["account_id"] != "dashboard-viewer" for a in resources(stack, "google_service_account").values())
    assert all(
        i["service"] != "run.googleapis.com" for i in resources(stack, "google_project_service_identity").values()
    )


@pytest.mark.parametrize("viewer", ["allUsers", "allAuthenticatedUsers", "user:allUsers", "ana@example.com"])
def test_a_public_or_malformed_viewer_is_a_config_error(viewer: str, environments_dir: Path):
    (environments_dir / "public.yaml").write_text(VIEWERS.replace("user:ana@example.com", viewer))
    with pytest.raises(ConfigError) as raised:
        load_environment("public")
    assert raised.value.problems == [
        f"environments/public.yaml: dashboard.viewers[1]: {viewer!r} is not valid; expected a user, group, "
        "service account or domain such as group:ml@acme.com (never allUsers or allAuthenticatedUsers: "
        "the dashboard is not public)"
    ]


def test_at_least_one_viewer_is_required(environments_dir: Path):
    (environments_dir / "empty.yaml").write_text(VIEWERS.replace("[group:ml@example.com, user:ana@example.com]", "[]"))
    with pytest.raises(ConfigError) as raised:
        load_environment("empty")
    assert raised.value.problems == ["environments/empty.yaml: dashboard.viewers: none given; expected at least 1"]
