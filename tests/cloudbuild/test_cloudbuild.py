"""GitOps: the Cloud Build configs call real make targets with pinned images and declared
substitutions; the triggers in the stacks point at them, filter real paths, run as the deployer,
and prod's require approval. The deployer holds only what applying the stacks needs."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from environments.loading import REPO_ROOT
from infra.constructs.project import (
    DEPLOYER_ROLES,
    DEPLOYER_ROLES_WITH_CMEK,
    DEPLOYER_ROLES_WITH_COMPOSER,
    PROJECT_IAM_ADMIN,
)
from tests.support.stacks import account_of, resources

CONFIGS = sorted((REPO_ROOT / "cloudbuild").glob("*.yaml"))
BUILT_IN = {
    "PROJECT_ID",
    "BUILD_ID",
    "COMMIT_SHA",
    "SHORT_SHA",
    "TAG_NAME",
    "BRANCH_NAME",
    "REPO_NAME",
    "REVISION_ID",
    "LOCATION",
    "_BASE_BRANCH",
    "_HEAD_BRANCH",
    "_PR_NUMBER",
}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE))


def tracked_files() -> list[str]:
    return subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()


def matches(pattern: str, path: str) -> bool:
    """Cloud Build's glob (doublestar): `**/` is any number of folders, even none; `*` stays in one."""
    regex = re.escape(pattern).replace(r"\*\*/", "\1").replace(r"\*\*", "\0").replace(r"\*", "[^/]*")
    regex = regex.replace("\1", "(?:.*/)?").replace("\0", ".*")
    return re.fullmatch(regex, path) is not None


def test_there_are_configs_for_every_delivery_job():
    assert [c.name for c in CONFIGS] == [
        "apply.yaml",
        "deploy.yaml",
        "plan.yaml",
        "publish-pipelines.yaml",
        "pull-request-plan.yaml",
        "pull-request.yaml",
    ]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_steps_call_make_targets_on_pinned_images_with_declared_substitutions(config):
    build = yaml.safe_load(config.read_text())
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert build["options"]["substitution_option"] == "MUST_MATCH"
    declared = set(build.get("substitutions", {}))
    for step in build["steps"]:
        image = step["name"]
        assert re.search(r":\d+(\.\d+)+", image), f"{config.name}: {image} is not pinned to a version"
        if step.get("entrypoint") == "make":
            assert step["args"][0] in make_targets(), f"{config.name}: make {step['args'][0]} does not exist"
    used = set(re.findall(r"\$\{(\w+)\}", config.read_text()))
    assert used - BUILT_IN <= declared, f"{config.name}: undeclared substitutions {used - BUILT_IN - declared}"
    assert declared <= used | {"_BASE_BRANCH"}, f"{config.name}: declared but unused {declared - used}"


def test_pull_request_checks_run_everything_a_reviewer_needs_offline():
    build = yaml.safe_load((REPO_ROOT / "cloudbuild" / "pull-request.yaml").read_text())
    assert [s["args"][0] for s in build["steps"]] == [
        "setup",
        "lint",
        "test",
        "synth",
        "policy",
        "compile-pipelines",
        "diff",
        "real-plans",
    ]


def steps(config: str) -> list[list[str]]:
    build = yaml.safe_load((REPO_ROOT / "cloudbuild" / config).read_text())
    return [step["args"] if step.get("entrypoint") == "make" else [step["id"]] for step in build["steps"]]


def test_prod_plans_shows_and_saves_then_applies_exactly_that_plan_after_approval():
    assert steps("plan.yaml") == [
        ["terraform"],
        ["setup"],
        ["synth", "ENV=${_ENV}"],
        ["policy", "ENV=${_ENV}"],
        ["plan-release", "ENV=${_ENV}"],
    ]
    assert steps("apply.yaml") == [
        ["terraform"],
        ["setup"],
        ["synth", "ENV=${_ENV}"],
        ["apply-release", "ENV=${_ENV}"],
        ["verify-deploy", "ENV=${_ENV}"],
    ]
    assert steps("pull-request-plan.yaml") == [
        ["terraform"],
        ["setup"],
        ["synth", "ENV=${_ENV}"],
        ["plan", "ENV=${_ENV}", "READ_ONLY=1"],
    ]


def test_a_deploy_applies_its_plan_then_verifies_what_runs():
    assert steps("deploy.yaml") == [
        ["terraform"],
        ["setup"],
        ["synth", "ENV=${_ENV}"],
        ["policy", "ENV=${_ENV}"],
        ["plan", "ENV=${_ENV}"],
        ["wait-dashboard-image", "ENV=${_ENV}"],
        ["apply", "ENV=${_ENV}"],
        ["deploy-dags", "ENV=${_ENV}"],
        ["verify-deploy", "ENV=${_ENV}"],
    ]


def all_triggers(stacks):
    return [(env, t) for env, stack in stacks.items() for t in resources(stack, "google_cloudbuild_trigger").values()]


def runs_as(trigger: dict) -> str:
    account = trigger["service_account"]
    return account_of(account.replace("}", ".x}")) if account.startswith("${") else account.rsplit("/", 1)[1]


def test_each_trigger_runs_as_the_identity_of_its_job(fixture_stacks):
    triggers = {t["name"]: runs_as(t) for _, t in all_triggers(fixture_stacks)}
    assert triggers == {
        "delivery-deploy": "cloudbuild-deployer",
        "delivery-publish-pipelines": "cloudbuild-publisher",
        "delivery-pull-request-checks": "cloudbuild-checks",
        "everything-plan": "cloudbuild-deployer",
        "everything-apply": "cloudbuild-deployer",
        "everything-publish-pipelines": "cloudbuild-publisher",
        "everything-pull-request-checks": "cloudbuild-checks",
        "everything-pull-request-plan": "planner@fixture-everything.iam.gserviceaccount.com",
    }


def test_every_trigger_names_a_real_config_and_filters_real_paths(fixture_stacks):
    files = tracked_files() + [f"cloudbuild/{c.name}" for c in CONFIGS]
    for _, trigger in all_triggers(fixture_stacks):
        config = trigger.get("filename") or trigger["git_file_source"]["path"]
        assert (REPO_ROOT / config).is_file()
        if "filename" not in trigger:  # the manual apply trigger: no repository event, no file filters
            continue
        for pattern in trigger["included_files"]:
            assert any(matches(pattern, f) for f in files), f"{trigger['name']}: {pattern} matches no file"
        assert trigger["filename"] in [f for f in files if any(matches(p, f) for p in trigger["included_files"])]
        docs_only = ["README.md", "environments/teams/README.md"]
        assert all(any(matches(p, f) for p in trigger["ignored_files"]) for f in docs_only), "docs must not build"


def test_whatever_starts_a_deploy_starts_the_publish_of_the_image_it_waits_for(fixture_stacks):
    """A deploy (or plan) waits for the components image of its commit, which only the publish
    builds; and a change to anything the image copies in (pipelines/Dockerfile) must ship."""
    copied = [
        source
        for line in (REPO_ROOT / "pipelines" / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    files = tracked_files()
    image_files = [f for f in files if any(f == source or f.startswith(f"{source}/") for source in copied)]
    assert len(image_files) > 100 and "tools/dashboard/server.py" in image_files
    triggers = {t["name"]: t for _, t in all_triggers(fixture_stacks)}
    for name, trigger in triggers.items():
        if not name.endswith(("-deploy", "-plan")) or "pull-request" in name:
            continue
        publish = triggers[name.rsplit("-", 1)[0] + "-publish-pipelines"]
        started = [f for f in files if any(matches(p, f) for p in trigger["included_files"])]
        published = {f for f in files if any(matches(p, f) for p in publish["included_files"])}
        assert set(started) <= published, f"{name} starts without a publish: {sorted(set(started) - published)[:3]}"
        assert set(image_files) - {"README.md"} <= published, sorted(set(image_files) - published)[:3]


def test_a_tag_deployed_environment_changes_only_from_release_tags_after_approval(fixture_stacks):
    """`everything` deploys tags with approval; `delivery` deploys every push to main."""
    for env, trigger in all_triggers(fixture_stacks):
        if trigger["name"] == "everything-apply":
            assert trigger["approval_config"] == {"approval_required": True}
            assert "repository_event_config" not in trigger  # run by hand for the planned tag
            continue
        event = trigger["repository_event_config"]
        if "pull_request" in event:
            # The real plan reads the project: it always waits for a maintainer's comment.
            comments = (
                "COMMENTS_ENABLED"
                if trigger["name"].endswith("-plan")
                else "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
            )
            assert event["pull_request"] == {"branch": "^main$", "comment_control": comments}
        elif env == "everything":
            assert event["push"] == {"tag": "^v.*$"}
            approval = trigger.get("approval_config", {}).get("approval_required", False)
            assert approval is (trigger["name"] == "everything-publish-pipelines")
        else:
            assert event["push"] == {"branch": "^main$"}


def project_grants(stack, account: str) -> dict[str, dict]:
    return {
        g["role"]: g
        for g in resources(stack, "google_project_iam_member").values()
        if account_of(g["member"]) == account
    }


DEPLOYER_NOTHING = {
    "roles/serviceusage.serviceUsageAdmin",
    "projects/fixture-nothing/roles/platformBucketAdmin",
    "projects/fixture-nothing/roles/platformIdentityAdmin",
    "projects/fixture-nothing/roles/platformRepositoryAdmin",
    "projects/fixture-nothing/roles/platformInvokerAdmin",
    "projects/fixture-nothing/roles/platformAlertingAdmin",
    "roles/cloudfunctions.developer",
    "roles/run.developer",
    "roles/cloudscheduler.admin",
    "roles/cloudbuild.builds.editor",
    "roles/logging.logWriter",
    "roles/browser",
    "roles/resourcemanager.projectIamAdmin",
}


@pytest.mark.parametrize(
    ("env", "expected", "grantable"),
    [
        (
            "nothing",
            DEPLOYER_NOTHING,
            # The team role too, before any team: the deploy build applies a team's onboarding.
            [
                "projects/fixture-nothing/roles/platformTeamRunner",
                "roles/aiplatform.user",
                "roles/aiplatform.viewer",
                "roles/logging.logWriter",
            ],
        ),
        (
            "everything",
            {r.replace("fixture-nothing", "fixture-everything") for r in DEPLOYER_NOTHING}
            | {
                "projects/fixture-everything/roles/platformKeyAdmin",
                "projects/fixture-everything/roles/platformMetadataStoreAdmin",
                "roles/composer.admin",
            },
            [
                "projects/fixture-everything/roles/platformTeamRunner",
                "roles/aiplatform.user",
                "roles/aiplatform.viewer",
                "roles/composer.worker",
                "roles/logging.logWriter",
            ],
        ),
    ],
)
def test_the_deployer_holds_exactly_the_roles_applying_needs(fixture_stacks, env, expected, grantable):
    grants = project_grants(fixture_stacks[env], "cloudbuild-deployer")
    assert set(grants) == expected
    condition = grants["roles/resourcemanager.projectIamAdmin"]["condition"]["expression"]
    assert condition == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(["
        + ", ".join(f"'{r}'" for r in grantable)
        + "])"
    )
    buckets = grants[f"projects/fixture-{env}/roles/platformBucketAdmin"]["condition"]["expression"]
    assert buckets.endswith(f'resource.name.startsWith("projects/_/buckets/fixture-{env}-")')


@pytest.mark.parametrize("env", ["delivery", "everything"])
def test_checks_only_write_logs_and_publishing_only_pushes(fixture_stacks, env):
    stacks = fixture_stacks
    assert set(project_grants(stacks[env], "cloudbuild-checks")) == {"roles/logging.logWriter"}
    assert set(project_grants(stacks[env], "cloudbuild-publisher")) == {"roles/logging.logWriter"}
    repository_grants = {
        (g["//"]["metadata"]["path"].split("/")[1], g["role"])
        for g in resources(stacks[env], "google_artifact_registry_repository_iam_member").values()
        if account_of(g["member"]) == "cloudbuild-publisher"
    }
    assert repository_grants == {
        ("containers", "roles/artifactregistry.writer"),
        ("pipelines", "roles/artifactregistry.writer"),
    }
    for kind in ("google_storage_bucket_iam_member", "google_service_account_iam_member"):
        members = {account_of(g["member"]) for g in resources(stacks[env], kind).values()}
        assert not {"cloudbuild-checks", "cloudbuild-publisher"} & members


def test_custom_roles_read_no_data_and_move_no_alias(fixture_stacks):
    roles = {
        r["role_id"]: set(r["permissions"])
        for r in resources(fixture_stacks["everything"], "google_project_iam_custom_role").values()
    }
    everything = set().union(*roles.values())
    assert not {p for p in everything if p.startswith("storage.objects.")}
    assert "aiplatform.models.update" not in everything
    assert not {p for p in everything if p.startswith("iam.roles.") and not p.endswith((".get", ".list"))}
    assert "cloudkms.cryptoKeyVersions.destroy" not in everything


def test_a_team_gets_its_own_registry_space_and_cannot_move_aliases(fixture_stacks):
    stack = fixture_stacks["everything"]
    team = project_grants(stack, "team-forecasting_runner")
    team = team or {
        g["role"]: g
        for g in resources(stack, "google_project_iam_member").values()
        if "team-forecasting" in g["member"]
    }
    assert set(team) == {"projects/fixture-everything/roles/platformTeamRunner", "roles/logging.logWriter"}
    managed_folders = resources(stack, "google_storage_managed_folder")
    folders = []
    for grant in resources(stack, "google_storage_managed_folder_iam_member").values():
        if "team-forecasting" in grant["member"] and "runner" in grant["member"]:
            # The grant names the folder it waits for: the same bucket, the same path.
            (waited,) = [a.split(".")[1] for a in grant["depends_on"] if a.startswith("google_storage_managed_folder.")]
            folder = managed_folders[waited]
            assert (folder["bucket"], folder["name"]) == (grant["bucket"], grant["managed_folder"])
            folders.append((grant["bucket"].split(".")[1].split("_")[0], grant["managed_folder"], grant["role"]))
    assert sorted(folders) == [
        ("data", "teams/forecasting/", "roles/storage.objectUser"),
        ("models", "teams/forecasting/", "roles/storage.objectUser"),
        ("pipeline-root", "teams/forecasting/", "roles/storage.objectUser"),
    ]
    bucket_members = {g["member"] for g in resources(stack, "google_storage_bucket_iam_member").values()}
    assert not [m for m in bucket_members if "team-forecasting" in m], (
        "no bucket-wide access: never the platform's models"
    )


def test_readme_lists_every_deployer_role_and_why():
    readme = (REPO_ROOT / "README.md").read_text()
    roles = DEPLOYER_ROLES | DEPLOYER_ROLES_WITH_CMEK | DEPLOYER_ROLES_WITH_COMPOSER
    for role in [*roles, PROJECT_IAM_ADMIN]:
        assert f"`{role}`" in readme, f"README does not list {role}"
