"""Google's create-time rules, checked on the synthesized stacks of every committed environment and
of fixture environments with every switch on and off (infra/google_rules.py cites the pages)."""

from __future__ import annotations

import json

import pytest

from infra.google_rules import API_OF, BOOTSTRAP_APIS, apis_of, check_synthesized

RULES = [
    "apis-enabled",
    "apis-before-use",
    "agents-of-enabled-apis",
    "grants-before-use",
    "function-build-account",
    "access-log-delivery",
]


@pytest.fixture(scope="session")
def every_stack(stacks, fixture_stacks) -> dict[str, dict]:
    return stacks | fixture_stacks


def test_the_fixtures_switch_every_feature_on_and_off(fixture_stacks):
    everything, nothing = fixture_stacks["everything"]["resource"], fixture_stacks["nothing"]["resource"]
    for resource_type in (
        "google_kms_crypto_key",
        "google_composer_environment",
        "google_billing_budget",
        "google_cloudbuild_trigger",
        "google_vertex_ai_metadata_store",
        "google_storage_managed_folder",
    ):
        assert resource_type in everything and resource_type not in nothing, resource_type


@pytest.mark.parametrize("rule", RULES)
def test_no_stack_breaks_a_create_time_rule(every_stack, rule):
    for name, stack in every_stack.items():
        assert check_synthesized(stack)[rule] == [], name


def test_every_resource_type_in_any_stack_names_its_apis(every_stack):
    used = {
        f"{prefix}{kind}"
        for stack in every_stack.values()
        for section, prefix in (("resource", ""), ("data", "data."))
        for kind in stack.get(section, {})
    }
    assert used <= API_OF.keys()


def test_terraform_needs_resource_manager_and_service_usage_before_the_first_plan():
    assert BOOTSTRAP_APIS == ("serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com")
    assert apis_of("google_project_iam_member", {}) == ("cloudresourcemanager.googleapis.com",)
    assert apis_of("data.google_project", {}) == ("cloudresourcemanager.googleapis.com",)
    # A service agent exists only once its own service is enabled.
    assert apis_of("google_project_service_identity", {"service": "composer.googleapis.com"}) == (
        "composer.googleapis.com",
    )


def test_the_checks_find_what_a_fresh_project_would_refuse():
    """A hand-made stack breaking each rule once: the checks name each problem."""
    stack = {
        "resource": {
            "google_project_service": {"iam": {"service": "iam.googleapis.com"}},
            "google_service_account": {"runner": {"account_id": "runner"}},
            "google_project_service_identity": {"pubsub": {"service": "pubsub.googleapis.com"}},
            "google_storage_bucket": {"data": {"name": "d", "logging": {"log_bucket": "logs"}}},
            "google_cloudfunctions2_function": {"f": {"build_config": {"runtime": "python311"}}},
        }
    }
    found = check_synthesized(stack)
    assert found["apis-enabled"] == [
        "serviceusage.googleapis.com is not enabled; Terraform itself calls it",
        "cloudresourcemanager.googleapis.com is not enabled; Terraform itself calls it",
        "google_project_service_identity.pubsub calls pubsub.googleapis.com, which the stack does not enable",
        "google_storage_bucket.data calls storage.googleapis.com, which the stack does not enable",
        "google_cloudfunctions2_function.f calls cloudfunctions.googleapis.com, which the stack does not enable",
        "google_cloudfunctions2_function.f calls cloudbuild.googleapis.com, which the stack does not enable",
        "google_cloudfunctions2_function.f calls artifactregistry.googleapis.com, which the stack does not enable",
        "google_cloudfunctions2_function.f calls run.googleapis.com, which the stack does not enable",
        "google_cloudfunctions2_function.f calls logging.googleapis.com, which the stack does not enable",
    ]
    assert found["apis-before-use"] == ["google_service_account.runner does not wait for iam.googleapis.com"]
    assert found["agents-of-enabled-apis"] == [
        "google_project_service_identity.pubsub: agent of pubsub.googleapis.com, which is not enabled"
    ]
    assert found["function-build-account"] == ["google_cloudfunctions2_function.f builds as the default build account"]
    assert found["access-log-delivery"] == ["logs: Cloud Storage cannot write access logs into it"]


def test_composer_waits_for_its_workers_grants(fixture_stacks):
    stack = fixture_stacks["everything"]
    (composer,) = stack["resource"]["google_composer_environment"].values()
    waits = set(composer["depends_on"])
    roles = {
        address.split(".")[0]: body
        for address, body in (
            (f"{kind}.{name}", body)
            for kind in ("google_project_iam_member", "google_service_account_iam_member")
            for name, body in stack["resource"][kind].items()
            if f"{kind}.{name}" in waits
        )
    }
    assert roles["google_project_iam_member"]["role"] == "roles/composer.worker"
    assert roles["google_service_account_iam_member"]["role"] in {
        "roles/composer.ServiceAgentV2Ext",
        "roles/iam.serviceAccountUser",
    }
    agent_grants = [
        body["role"]
        for name, body in stack["resource"]["google_service_account_iam_member"].items()
        if f"google_service_account_iam_member.{name}" in waits
    ]
    assert sorted(agent_grants) == ["roles/composer.ServiceAgentV2Ext", "roles/iam.serviceAccountUser"]


def test_cmek_agents_are_exactly_those_of_enabled_services(fixture_stacks):
    stack = fixture_stacks["everything"]
    identities = sorted(i["service"] for i in stack["resource"]["google_project_service_identity"].values())
    assert identities == ["aiplatform.googleapis.com", "artifactregistry.googleapis.com", "composer.googleapis.com"]
    members = sorted(g["member"] for g in stack["resource"]["google_kms_crypto_key_iam_member"].values())
    assert members == [
        "${data.google_storage_project_service_account.storage-agent.member}",
        "${google_project_service_identity.aiplatform-agent.member}",
        "${google_project_service_identity.artifactregistry-agent.member}",
        "${google_project_service_identity.composer-agent.member}",
    ]


def test_functions_build_as_their_own_account_into_the_functions_repository(every_stack):
    for name, stack in every_stack.items():
        for function in stack["resource"]["google_cloudfunctions2_function"].values():
            build = function["build_config"]
            assert build["service_account"].startswith("${google_service_account.function-builder_account_"), name
            assert build["docker_repository"].startswith("${google_artifact_registry_repository.functions_"), name


def test_access_logs_are_delivered_into_the_log_bucket_only(every_stack):
    for name, stack in every_stack.items():
        grants = [
            g
            for g in stack["resource"]["google_storage_bucket_iam_member"].values()
            if g["member"] == "group:cloud-storage-analytics@google.com"
        ]
        assert [(g["role"], g["bucket"].split(".")[1].split("_")[0]) for g in grants] == [
            ("roles/storage.objectCreator", "access-logs")
        ], name


def test_an_existing_metadata_store_is_adopted_not_created_again(fixture_stacks):
    (store,) = fixture_stacks["everything"]["resource"]["google_vertex_ai_metadata_store"].values()
    assert store["name"] == "default" and store["encryption_spec"]["kms_key_name"].startswith(
        "${google_kms_crypto_key.cmek_key_"
    )
    # Without CMEK there is nothing to set at creation: Vertex AI creates the store itself.
    assert "google_vertex_ai_metadata_store" not in fixture_stacks["nothing"]["resource"]


def test_the_order_the_stack_builds_its_parts_in_changes_nothing(fixture_environments, fixture_stacks, tmp_path):
    from infra.stacks.platform import PARTS
    from tests.support.stacks import synthesized

    reordered = synthesized(list(fixture_environments.values()), tmp_path, order=tuple(reversed(PARTS)))
    for name, stack in fixture_stacks.items():
        assert json.dumps(reordered[name], sort_keys=True) == json.dumps(stack, sort_keys=True), name


def order_test_stack(tmp_path, name: str):
    """A stack of its own that enables only the IAM API, with the create-order rules attached."""
    from cdktn import TerraformStack
    from cdktn_provider_google.provider import GoogleProvider

    from infra.constructs.project import ProjectServices
    from infra.stack_checks import CheckedApp

    app = CheckedApp(outdir=str(tmp_path))
    stack = TerraformStack(app, name)
    GoogleProvider(stack, "google", project="order-test", region="europe-west1")
    ProjectServices(stack, "apis", project_id="order-test", apis=["iam.googleapis.com"])
    return app, stack


def test_synth_writes_each_resource_waiting_for_the_apis_it_calls(tmp_path):
    from cdktn_provider_google.service_account import ServiceAccount

    app, stack = order_test_stack(tmp_path, "ordered")
    ServiceAccount(stack, "runner", account_id="runner")
    app.synth()
    text = (tmp_path / "stacks" / "ordered" / "cdk.tf.json").read_text(encoding="utf-8")
    written = json.loads(text)
    # Rewritten as cdktn writes every stack (JSON.stringify(document, null, 2)).
    assert text == json.dumps(written, indent=2, ensure_ascii=False)
    (service,) = written["resource"]["google_project_service"]
    ((_, account),) = written["resource"]["google_service_account"].items()
    assert account["depends_on"] == [f"google_project_service.{service}"]


def test_synth_refuses_a_resource_whose_apis_are_unknown_or_not_enabled(tmp_path):
    from cdktn_provider_google.pubsub_topic import PubsubTopic
    from cdktn_provider_google.storage_bucket import StorageBucket

    from infra.policy import PolicyViolation

    app, stack = order_test_stack(tmp_path, "unordered")
    StorageBucket(stack, "data", name="data", location="EU")
    PubsubTopic(stack, "events", name="events")
    with pytest.raises(PolicyViolation) as refused:
        app.synth()
    assert sorted(refused.value.problems) == [
        "[unordered/data] [apis-before-use] google_storage_bucket needs storage.googleapis.com, which this stack "
        "does not enable; expected every API a resource calls to be enabled by the stack",
        "[unordered/events] [apis-before-use] google_pubsub_topic is not in infra/google_rules.py API_OF; expected "
        "every resource type to name the APIs its create call goes to",
    ]


def test_an_error_annotation_of_any_construct_refuses_synth_naming_it(tmp_path):
    from cdktn import Annotations
    from cdktn_provider_google.service_account import ServiceAccount

    from infra.policy import PolicyViolation

    app, stack = order_test_stack(tmp_path, "annotated")
    Annotations.of(ServiceAccount(stack, "runner", account_id="runner")).add_error("no runner here")
    with pytest.raises(PolicyViolation) as refused:
        app.synth()
    assert refused.value.problems == ["[annotated/runner] no runner here"]
