"""GitOps: the Cloud Build triggers of one environment, running as the deployer identity."""

from __future__ import annotations

from cdktn_provider_google.cloudbuild_trigger import (
    CloudbuildTrigger,
    CloudbuildTriggerApprovalConfig,
    CloudbuildTriggerRepositoryEventConfig,
    CloudbuildTriggerRepositoryEventConfigPullRequest,
    CloudbuildTriggerRepositoryEventConfigPush,
)
from constructs import Construct

from environments.config import Delivery
from infra.constructs.identity import WorkloadIdentity

# What each build reads. A change outside these paths (e.g. documentation) starts no build.
DOCS = ["**/*.md", "docs/**"]
SHARED = ["Makefile", "pyproject.toml", "uv.lock", "environments/**"]
DEPLOY_FILES = [*SHARED, "infra/**", "functions/**", "pipelines/**", "cloudbuild/deploy.yaml"]
PUBLISH_FILES = [*SHARED, "pipelines/**", "cloudbuild/publish-pipelines.yaml"]


class DeliveryTriggers(Construct):
    """Pull-request checks (where enabled), deploy and publish on pushes to a branch or on release
    tags, approval where required. Builds run as the deployer and log to Cloud Logging only (the
    cloudbuild/*.yaml files say so)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        delivery: Delivery,
        environment: str,
        region: str,
        deployer: WorkloadIdentity,
        components_image: str,
    ) -> None:
        super().__init__(scope, id)
        account = deployer.account.id  # projects/<p>/serviceAccounts/<email>
        on_release = CloudbuildTriggerRepositoryEventConfigPush(
            **({"branch": delivery.pattern} if delivery.deploy_on == "branch" else {"tag": delivery.pattern})
        )
        approval = CloudbuildTriggerApprovalConfig(approval_required=delivery.approval_required)

        def trigger(name: str, filename: str, included: list[str], event, description: str, **options):
            return CloudbuildTrigger(
                self,
                name,
                name=f"{environment}-{name}",
                location=region,
                description=description,
                service_account=account,
                filename=filename,
                included_files=included,
                ignored_files=DOCS,
                repository_event_config=CloudbuildTriggerRepositoryEventConfig(repository=delivery.repository, **event),
                **options,
            )

        self.triggers = [
            trigger(
                "deploy",
                "cloudbuild/deploy.yaml",
                DEPLOY_FILES,
                {"push": on_release},
                f"Synthesize, plan and apply {environment}",
                approval_config=approval,
                substitutions={"_ENV": environment},
            ),
            trigger(
                "publish-pipelines",
                "cloudbuild/publish-pipelines.yaml",
                PUBLISH_FILES,
                {"push": on_release},
                f"Build the components image and publish pipeline templates to {environment}",
                approval_config=approval,
                substitutions={"_ENV": environment, "_COMPONENTS_IMAGE": components_image},
            ),
        ]
        if delivery.pull_request_checks:
            self.triggers.append(
                trigger(
                    "pull-request-checks",
                    "cloudbuild/pull-request.yaml",
                    ["**"],
                    {
                        "pull_request": CloudbuildTriggerRepositoryEventConfigPullRequest(
                            branch=delivery.pull_request_branch,
                            comment_control="COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY",
                        )
                    },
                    "Lint, test, synthesize, policy-check, compile and diff",
                )
            )
