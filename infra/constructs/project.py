"""Project-wide pieces: the enabled APIs, and the few roles Google Cloud grants only per project."""

from __future__ import annotations

from collections.abc import Iterable

from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

from infra.constructs.grants import Grantee


class ProjectServices(Construct):
    """The Google APIs the platform uses. Destroying the stack never disables an API: other
    workloads in the project may depend on it."""

    def __init__(self, scope: Construct, id: str, *, project_id: str, apis: Iterable[str]) -> None:
        super().__init__(scope, id)
        self.enabled = [
            ProjectService(
                self,
                api.split(".")[0],
                project=project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
            for api in sorted(set(apis))
        ]


# What applying a platform stack needs, and why: the deployer's project roles. Each is the
# narrowest predefined role that can create the resource (creation is project-level in GCP).
DEPLOYER_ROLES = {
    "roles/serviceusage.serviceUsageAdmin": "enable the platform's APIs",
    "roles/storage.admin": "create the buckets, their IAM, managed folders and function sources",
    "roles/iam.serviceAccountAdmin": "create the workload service accounts and set their IAM",
    "roles/artifactregistry.admin": "create the repositories and their IAM; push images and templates",
    "roles/cloudfunctions.admin": "deploy the functions",
    "roles/run.admin": "grant run.invoker on the functions' Cloud Run services",
    "roles/cloudscheduler.admin": "create the schedules",
    "roles/cloudbuild.builds.editor": "manage the Cloud Build triggers",
    "roles/aiplatform.user": "create the Vertex AI metadata store",
    "roles/logging.logWriter": "write build logs to Cloud Logging",
    "roles/browser": "read the project (its number names the service agents)",
}
DEPLOYER_ROLES_WITH_CMEK = {"roles/cloudkms.admin": "create the key ring and key, and grant their use"}
DEPLOYER_ROLES_WITH_COMPOSER = {"roles/composer.admin": "create the Composer environment"}
DEPLOYER_ROLES_WITH_BUDGETS = {"roles/monitoring.notificationChannelEditor": "create budget notification channels"}
# Granting the stack's project roles: limited by an IAM condition to the roles the stack grants
# to others, so the deployer can never grant itself (or anyone) more.
PROJECT_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin"


class ProjectRoles(Construct):
    """Project-level grants, for the services that offer no narrower resource to grant on.

    Each method names the role it grants; nothing else in the app grants project roles.
    """

    def __init__(self, scope: Construct, id: str, *, project_id: str) -> None:
        super().__init__(scope, id)
        self.project_id = project_id
        self.granted: set[str] = set()

    def _grant(self, name: str, role: str, grantee: Grantee, condition: dict | None = None) -> None:
        ProjectIamMember(
            self,
            f"{name}-{grantee.grant_id}",
            project=self.project_id,
            role=role,
            member=grantee.member,
            condition=condition,
        )
        self.granted.add(role)

    def grant_deployer(self, grantee: Grantee, roles: dict[str, str]) -> None:
        """What applying the stacks needs (`roles`, each with its reason), plus project IAM limited
        to the roles granted so far to the workloads and teams."""
        grantable = sorted(self.granted)
        for role in sorted(roles):
            self._grant(f"deployer-{role.removeprefix('roles/').replace('.', '-')}", role, grantee)
        allowed = ", ".join(f"'{role}'" for role in grantable)
        self._grant(
            "deployer-project-iam",
            PROJECT_IAM_ADMIN,
            grantee,
            condition={
                "title": "only-the-platform-roles",
                "description": "Grant only the project roles the platform stack grants to its workloads",
                "expression": f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])",
            },
        )

    def grant_vertex_user(self, grantee: Grantee) -> None:
        """Run Vertex AI pipelines, jobs, experiments and models (Vertex has no per-resource IAM
        for these)."""
        self._grant("vertex-user", "roles/aiplatform.user", grantee)

    def grant_vertex_viewer(self, grantee: Grantee) -> None:
        """Read Vertex AI resources, e.g. find the champion model version (no per-model IAM)."""
        self._grant("vertex-viewer", "roles/aiplatform.viewer", grantee)

    def grant_composer_worker(self, grantee: Grantee) -> None:
        """Run Composer environment workloads; the only role a Composer worker account needs."""
        self._grant("composer-worker", "roles/composer.worker", grantee)

    def grant_log_writer(self, grantee: Grantee) -> None:
        """Write logs, e.g. from pipeline components, to Cloud Logging."""
        self._grant("log-writer", "roles/logging.logWriter", grantee)
