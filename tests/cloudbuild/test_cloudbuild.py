"""GitOps: the Cloud Build configs call real make targets with pinned images and declared
substitutions; the triggers in the stacks point at them, filter real paths, run as the deployer,
and prod's require approval. The deployer holds only what applying the stacks needs."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from infra.constructs.project import (
    DEPLOYER_ROLES,
    DEPLOYER_ROLES_WITH_CMEK,
    DEPLOYER_ROLES_WITH_COMPOSER,
    PROJECT_IAM_ADMIN,
)
from tests.conftest import REPO_ROOT
from tests.infra.test_stacks import account_of, resources

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


def test_there_are_pull_request_deploy_and_publish_configs():
    assert [c.name for c in CONFIGS] == ["deploy.yaml", "publish-pipelines.yaml", "pull-request.yaml"]


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


def test_pull_request_checks_run_everything_a_reviewer_needs():
    build = yaml.safe_load((REPO_ROOT / "cloudbuild" / "pull-request.yaml").read_text())
    assert [s["args"][0] for s in build["steps"]] == [
        "setup",
        "lint",
        "test",
        "synth",
        "policy",
        "compile-pipelines",
        "diff",
    ]


def all_triggers(stacks):
    return [(env, t) for env, stack in stacks.items() for t in resources(stack, "google_cloudbuild_trigger").values()]


def test_every_trigger_names_a_real_config_and_filters_real_paths(stacks):
    files = tracked_files()
    triggers = all_triggers(stacks)
    assert {t["name"] for _, t in triggers} == {
        "dev-deploy",
        "dev-publish-pipelines",
        "dev-pull-request-checks",
        "prod-deploy",
        "prod-publish-pipelines",
    }
    for _, trigger in triggers:
        assert (REPO_ROOT / trigger["filename"]).is_file()
        for pattern in trigger["included_files"]:
            assert any(matches(pattern, f) for f in files), f"{trigger['name']}: {pattern} matches no file"
        assert trigger["filename"] in [f for f in files if any(matches(p, f) for p in trigger["included_files"])]
        docs_only = ["README.md", "environments/teams/README.md"]
        assert all(any(matches(p, f) for p in trigger["ignored_files"]) for f in docs_only), "docs must not build"
        assert account_of(trigger["service_account"].replace("}", ".x}")) == "cloudbuild-deployer"


def test_prod_deploys_and_publishes_only_release_tags_after_approval(stacks):
    for env, trigger in all_triggers(stacks):
        event = trigger["repository_event_config"]
        if env == "prod":
            assert trigger["approval_config"] == {"approval_required": True}
            assert event["push"] == {"tag": "^v.*$"}
        elif "push" in event:
            assert event["push"] == {"branch": "^main$"}
        else:
            assert event["pull_request"]["branch"] == "^main$"


def deployer_grants(stack) -> dict[str, dict]:
    return {
        g["role"]: g
        for g in resources(stack, "google_project_iam_member").values()
        if account_of(g["member"]) == "cloudbuild-deployer"
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_deployer_holds_exactly_the_roles_applying_needs(stacks, env):
    grants = deployer_grants(stacks[env])
    expected = set(DEPLOYER_ROLES) | {PROJECT_IAM_ADMIN}
    if env == "prod":
        expected |= set(DEPLOYER_ROLES_WITH_CMEK) | set(DEPLOYER_ROLES_WITH_COMPOSER)
    assert set(grants) == expected
    assert not {"roles/owner", "roles/editor", "roles/viewer"} & set(grants)
    others = {
        g["role"]
        for g in resources(stacks[env], "google_project_iam_member").values()
        if account_of(g["member"]) != "cloudbuild-deployer"
    }
    condition = grants[PROJECT_IAM_ADMIN]["condition"]["expression"]
    assert sorted(re.findall(r"'(roles/[^']+)'", condition)) == sorted(others)


def test_readme_lists_every_deployer_role_and_why():
    readme = (REPO_ROOT / "README.md").read_text()
    roles = DEPLOYER_ROLES | DEPLOYER_ROLES_WITH_CMEK | DEPLOYER_ROLES_WITH_COMPOSER
    for role in [*roles, PROJECT_IAM_ADMIN]:
        assert f"`{role}`" in readme, f"README does not list {role}"
