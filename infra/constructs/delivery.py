"""GitOps: the Cloud Build triggers of one environment, each running as the identity of its job.

| trigger | runs as | does |
|---|---|---|
| `<env>-pull-request-checks` | checks: build logs only | lint, test, synth, policy, compile, diff: offline |
| `<env>-pull-request-plan` | the read-only planner, when configured | plan against the real state, no lock |
| `<env>-publish-pipelines` | publisher: push to two repositories | components image and templates |
| `<env>-deploy` (no approval) | deployer | plan, then apply that plan |
| `<env>-plan` + `<env>-apply` (approval) | deployer | plan saved and shown; after approval, apply exactly it |

No trigger runs as the default Cloud Build account. Builds log to Cloud Logging only (each
cloudbuild/*.yaml says so), as user-specified accounts require
(cloud.google.com/build/docs/securing-builds/configure-user-specified-service-accounts).
"""

from __future__ import annotations

from cdktn_provider_google.cloudbuild_trigger import (
    CloudbuildTrigger,
    CloudbuildTriggerApprovalConfig,
    CloudbuildTriggerGitFileSource,
    CloudbuildTriggerRepositoryEventConfig,
    CloudbuildTriggerRepositoryEventConfigPullRequest,
    CloudbuildTriggerRepositoryEventConfigPush,
    CloudbuildTriggerSourceToBuild,
)
from constructs import Construct

from environments.schema import Delivery
from infra import google_rules
from infra.constructs.identity import WorkloadIdentity

# What each build reads. A change outside these paths (e.g. documentation) starts no build.
DOCS = ["**/*.md", "docs/**"]
SHARED = ["Makefile", "pyproject.toml", "uv.lock", "environments/**"]
# What the components image holds (pipelines/Dockerfile copies it: the pipelines' steps and the dashboard).
IMAGE_FILES = [*SHARED, "infra/**", "functions/**", "pipelines/**", "tools/**"]
DEPLOY_FILES = [*IMAGE_FILES, "cloudbuild/deploy.yaml", "cloudbuild/plan.yaml"]
# A deploy waits for the image of its own commit (`make wait-dashboard-image`): whatever starts a
# deploy starts the publish that builds that image, and so does any change to what the image holds.
PUBLISH_FILES = [*DEPLOY_FILES, "cloudbuild/publish-pipelines.yaml"]
# Collaborators' pull requests build at once; outsiders' after a maintainer comments /gcbrun. The
# real plan reads the project, so it always waits for a maintainer's /gcbrun
# (cloud.google.com/build/docs/automating-builds/github/build-repos-from-github#creating_a_github_trigger).
CHECKS_COMMENTS = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"
PLAN_COMMENTS = "COMMENTS_ENABLED"


class DeliveryTriggers(Construct):
    """The triggers of one environment (table above). With `approval_required` (prod), a release
    tag starts `<env>-plan`, which saves and shows the plan; `<env>-apply`, run by hand for that
    tag, waits for approval and then applies exactly the saved plan."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        delivery: Delivery,
        environment: str,
        region: str,
        deployer: WorkloadIdentity,
        checks: WorkloadIdentity,
        publisher: WorkloadIdentity,
        components_image: str,
        planner: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        on_release = CloudbuildTriggerRepositoryEventConfigPush(
            **({"branch": delivery.pattern} if delivery.deploy_on == "branch" else {"tag": delivery.pattern})
        )

        def trigger(name: str, runs_as: WorkloadIdentity | str, filename: str | None, description: str, **options):
            account = runs_as if isinstance(runs_as, str) else runs_as.account.id
            built = CloudbuildTrigger(
                self,
                name,
                name=f"{environment}-{name}",
                location=region,
                description=description,
                service_account=account,  # projects/<p>/serviceAccounts/<email>
                filename=filename,
                ignored_files=DOCS if filename else None,
                **options,
            )
            if not isinstance(runs_as, str):
                # Google checks at create time that the trigger's creator may act as its account, and
                # the account needs its log grant before its first build.
                google_rules.wait_for(built, lambda: [*runs_as.delegations, *runs_as.received])
            return built

        def on(event: dict, included: list[str]) -> dict:
            return {
                "included_files": included,
                "repository_event_config": CloudbuildTriggerRepositoryEventConfig(
                    repository=delivery.repository, **event
                ),
            }

        def pull_requests(comment_control: str) -> dict:
            return {
                "pull_request": CloudbuildTriggerRepositoryEventConfigPullRequest(
                    branch=delivery.pull_request_branch, comment_control=comment_control
                )
            }

        # Builds of main-branch pushes and release tags (the alerts watch these; pull requests' are
        # the author's to watch).
        self.release_triggers = [
            trigger(
                "publish-pipelines",
                publisher,
                "cloudbuild/publish-pipelines.yaml",
                f"Build the components image and publish pipeline templates to {environment}",
                substitutions={"_ENV": environment, "_COMPONENTS_IMAGE": components_image},
                approval_config=CloudbuildTriggerApprovalConfig(approval_required=delivery.approval_required),
                **on({"push": on_release}, PUBLISH_FILES),
            )
        ]
        if delivery.approval_required:
            self.release_triggers += [
                trigger(
                    "plan",
                    deployer,
                    "cloudbuild/plan.yaml",
                    f"Plan {environment}: save the plan and show it for approval",
                    substitutions={"_ENV": environment},
                    **on({"push": on_release}, DEPLOY_FILES),
                ),
                trigger(
                    "apply",
                    deployer,
                    None,
                    f"Apply the approved plan of {environment} (run it for the release tag that was planned)",
                    substitutions={"_ENV": environment},
                    approval_config=CloudbuildTriggerApprovalConfig(approval_required=True),
                    source_to_build=CloudbuildTriggerSourceToBuild(
                        repository=delivery.repository, ref="refs/heads/main", repo_type=delivery.repository_type
                    ),
                    git_file_source=CloudbuildTriggerGitFileSource(
                        path="cloudbuild/apply.yaml", repository=delivery.repository, repo_type=delivery.repository_type
                    ),
                ),
            ]
        else:
            self.release_triggers.append(
                trigger(
                    "deploy",
                    deployer,
                    "cloudbuild/deploy.yaml",
                    f"Synthesize, plan and apply {environment}",
                    substitutions={"_ENV": environment},
                    **on({"push": on_release}, DEPLOY_FILES),
                )
            )
        if delivery.pull_request_checks:
            trigger(
                "pull-request-checks",
                checks,
                "cloudbuild/pull-request.yaml",
                "Lint, test, synthesize, policy-check, compile and diff, offline",
                **on(pull_requests(CHECKS_COMMENTS), ["**"]),
            )
        if delivery.pull_request_checks and planner:
            trigger(
                "pull-request-plan",
                planner,
                "cloudbuild/pull-request-plan.yaml",
                f"Plan the pull request against {environment}'s real state (read-only, no lock)",
                substitutions={"_ENV": environment},
                **on(pull_requests(PLAN_COMMENTS), [*DEPLOY_FILES, "cloudbuild/pull-request-plan.yaml"]),
            )
