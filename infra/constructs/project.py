"""Project-wide pieces: the enabled APIs, and the few roles Google Cloud grants only per project."""

from __future__ import annotations

from collections.abc import Iterable

from cdktn_provider_google.project_iam_custom_role import ProjectIamCustomRole
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

from infra import google_rules
from infra.constructs.grants import Grantee, granted
from infra.constructs.lazy import lazy_string


class ProjectServices(Construct):
    """The Google APIs the platform uses. Every resource of the stack waits for the APIs it calls
    (infra/google_rules.py). Destroying the stack never disables an API: other workloads in the
    project may depend on it."""

    def __init__(self, scope: Construct, id: str, *, project_id: str, apis: Iterable[str]) -> None:
        super().__init__(scope, id)
        for api in sorted(set(apis)):
            ProjectService(
                self,
                api.split(".")[0],
                project=project_id,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
        google_rules.attach(self.node.scope)


# Custom roles replace predefined roles that bundle data access, destruction or IAM powers the
# stack never uses. Only a project administrator can create or change them (the deployer holds no
# iam.roles.* write permission), so the deployer cannot widen them.
# (cloud.google.com/iam/docs/creating-custom-roles; role ids: letters, digits, `_` and `.`)
CUSTOM_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "platformBucketAdmin": (
        "Create the platform's buckets, managed folders and their IAM, without reading objects",
        (
            "storage.buckets.create",
            "storage.buckets.delete",
            "storage.buckets.get",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
            "storage.buckets.update",
            "storage.managedFolders.create",
            "storage.managedFolders.delete",
            "storage.managedFolders.get",
            "storage.managedFolders.getIamPolicy",
            "storage.managedFolders.setIamPolicy",
        ),
    ),
    "platformIdentityAdmin": (
        "Create the workload service accounts and set who may act as them; no keys",
        (
            "iam.roles.get",
            "iam.roles.list",
            "iam.serviceAccounts.create",
            "iam.serviceAccounts.delete",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.getIamPolicy",
            "iam.serviceAccounts.list",
            "iam.serviceAccounts.setIamPolicy",
            "iam.serviceAccounts.update",
        ),
    ),
    "platformRepositoryAdmin": (
        "Create the Artifact Registry repositories and their IAM, without pushing or pulling",
        (
            "artifactregistry.repositories.create",
            "artifactregistry.repositories.delete",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.getIamPolicy",
            "artifactregistry.repositories.list",
            "artifactregistry.repositories.setIamPolicy",
            "artifactregistry.repositories.update",
        ),
    ),
    "platformInvokerAdmin": (
        "Say who may call the functions' Cloud Run services",
        ("run.services.get", "run.services.getIamPolicy", "run.services.setIamPolicy"),
    ),
    "platformKeyAdmin": (
        "Create the key ring and key and grant their use; never destroy key versions",
        (
            "cloudkms.cryptoKeys.create",
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeys.getIamPolicy",
            "cloudkms.cryptoKeys.list",
            "cloudkms.cryptoKeys.setIamPolicy",
            "cloudkms.cryptoKeys.update",
            "cloudkms.keyRings.create",
            "cloudkms.keyRings.get",
            "cloudkms.keyRings.getIamPolicy",
            "cloudkms.keyRings.list",
        ),
    ),
    "platformMetadataStoreAdmin": (
        "Create the Vertex AI metadata store with the environment's key",
        ("aiplatform.metadataStores.create", "aiplatform.metadataStores.get", "aiplatform.metadataStores.list"),
    ),
    "platformAlertingAdmin": (
        "Create the platform's notification channels, log-based metrics and alert policies",
        (
            "logging.logMetrics.create",
            "logging.logMetrics.delete",
            "logging.logMetrics.get",
            "logging.logMetrics.list",
            "logging.logMetrics.update",
            "monitoring.alertPolicies.create",
            "monitoring.alertPolicies.delete",
            "monitoring.alertPolicies.get",
            "monitoring.alertPolicies.list",
            "monitoring.alertPolicies.update",
            "monitoring.notificationChannels.create",
            "monitoring.notificationChannels.delete",
            "monitoring.notificationChannels.get",
            "monitoring.notificationChannels.list",
            "monitoring.notificationChannels.update",
        ),
    ),
    "platformCycleTableAdmin": (
        "Create the daily cycle's BigQuery dataset and external table, without reading table data",
        (
            "bigquery.datasets.create",
            "bigquery.datasets.delete",
            "bigquery.datasets.get",
            "bigquery.datasets.update",
            "bigquery.tables.create",
            "bigquery.tables.delete",
            "bigquery.tables.get",
            "bigquery.tables.update",
        ),
    ),
    "platformTeamRunner": (
        "Run a team's pipelines and register into its own model; never move another model's aliases",
        (
            "aiplatform.artifacts.create",
            "aiplatform.artifacts.get",
            "aiplatform.artifacts.list",
            "aiplatform.artifacts.update",
            "aiplatform.contexts.addContextArtifactsAndExecutions",
            "aiplatform.contexts.addContextChildren",
            "aiplatform.contexts.create",
            "aiplatform.contexts.get",
            "aiplatform.contexts.list",
            "aiplatform.contexts.update",
            "aiplatform.customJobs.cancel",
            "aiplatform.customJobs.create",
            "aiplatform.customJobs.get",
            "aiplatform.customJobs.list",
            "aiplatform.executions.addExecutionEvents",
            "aiplatform.executions.create",
            "aiplatform.executions.get",
            "aiplatform.executions.list",
            "aiplatform.executions.update",
            "aiplatform.metadataStores.get",
            "aiplatform.models.get",
            "aiplatform.models.list",
            "aiplatform.models.upload",
            "aiplatform.operations.list",
            "aiplatform.pipelineJobs.cancel",
            "aiplatform.pipelineJobs.create",
            "aiplatform.pipelineJobs.get",
            "aiplatform.pipelineJobs.list",
        ),
    ),
}

# What applying a platform stack needs, and why: the deployer's project roles. Predefined roles
# are kept only where they bundle nothing the deployer could read data or escalate with.
DEPLOYER_ROLES = {
    "roles/serviceusage.serviceUsageAdmin": "enable the platform's APIs",
    "platformBucketAdmin": "create the buckets, their IAM and managed folders (only buckets named <project>-*)",
    "platformIdentityAdmin": "create the workload service accounts and set who may act as them",
    "platformRepositoryAdmin": "create the repositories and their IAM",
    "roles/cloudfunctions.developer": "deploy the functions (no IAM)",
    "platformInvokerAdmin": "grant run.invoker on the functions' Cloud Run services",
    "roles/run.developer": "deploy the dashboard's Cloud Run service (no IAM)",
    "roles/cloudscheduler.admin": "create the schedules",
    "roles/cloudbuild.builds.editor": "manage the Cloud Build triggers",
    "roles/logging.logWriter": "write build logs to Cloud Logging",
    "roles/browser": "read the project (its number names the service agents)",
    # Not roles/logging.configWriter: it also writes log sinks, which could send logs elsewhere.
    "platformAlertingAdmin": "create the notification channels, log-based metrics and alert policies",
}
DEPLOYER_ROLES_WITH_CMEK = {
    "platformKeyAdmin": "create the key ring and key, and grant their use",
    "platformMetadataStoreAdmin": "create the Vertex AI metadata store with the key",
}
DEPLOYER_ROLES_WITH_COMPOSER = {"roles/composer.admin": "create the Composer environment"}
DEPLOYER_ROLES_WITH_CYCLE_TABLE = {
    "platformCycleTableAdmin": "create the BigQuery dataset and external table over the cycle's forecasts"
}
# Granting the stack's project roles: limited by an IAM condition to the roles the stack grants
# to others, so the deployer can never grant itself (or anyone) more at the project level
# (cloud.google.com/iam/docs/setting-limits-on-granting-roles).
PROJECT_IAM_ADMIN = "roles/resourcemanager.projectIamAdmin"


class ProjectRoles(Construct):
    """Project-level grants, for the services that offer no narrower resource to grant on.

    Each method names the role it grants; nothing else in the app grants project roles. Custom
    roles (`CUSTOM_ROLES`) are defined here the first time they are granted.
    """

    def __init__(self, scope: Construct, id: str, *, project_id: str) -> None:
        super().__init__(scope, id)
        self.project_id = project_id
        self.workload_roles: set[str] = set()  # what the deployer may grant
        self._custom: dict[str, ProjectIamCustomRole] = {}

    def role(self, name: str) -> str:
        """A predefined role as it is (`roles/...`), or a custom role's full name, defining it."""
        if name.startswith("roles/"):
            return name
        if name not in self._custom:
            title, permissions = CUSTOM_ROLES[name]
            self._custom[name] = ProjectIamCustomRole(
                self,
                f"custom-{name}",
                project=self.project_id,
                role_id=name,
                title=name,
                description=title,
                permissions=list(permissions),
            )
        return f"projects/{self.project_id}/roles/{name}"

    def _grant(self, name: str, role: str, grantee: Grantee, condition: dict | None = None) -> ProjectIamMember:
        full = self.role(role)
        grant = ProjectIamMember(
            self,
            f"{name}-{grantee.grant_id}",
            project=self.project_id,
            role=full,
            member=grantee.member,
            condition=condition,
            depends_on=[self._custom[role]] if role in self._custom else None,
        )
        return granted(grantee, grant)

    def _grant_workload(self, name: str, role: str, grantee: Grantee) -> ProjectIamMember:
        self.workload_roles.add(self.role(role))
        return self._grant(name, role, grantee)

    def grant_vertex_user(self, grantee: Grantee) -> ProjectIamMember:
        """Run Vertex AI pipelines, jobs, experiments and models (Vertex has no per-resource IAM
        for these)."""
        return self._grant_workload("vertex-user", "roles/aiplatform.user", grantee)

    def grant_vertex_viewer(self, grantee: Grantee) -> ProjectIamMember:
        """Read Vertex AI resources, e.g. find the champion model version (no per-model IAM)."""
        return self._grant_workload("vertex-viewer", "roles/aiplatform.viewer", grantee)

    def allow_team_runner(self) -> None:
        """Define the team runner role and let the deployer grant it, whether or not a team exists.
        Teams join through the deploy build, whose identity can neither create a custom role nor
        change its own condition: both must already be there from the administrator's first apply,
        so that a team's first onboarding (or its last offboarding) only adds (or removes) grants."""
        self.workload_roles.add(self.role("platformTeamRunner"))

    def grant_team_runner(self, grantee: Grantee) -> ProjectIamMember:
        """Run pipelines and upload model versions, without `aiplatform.models.update`: a team cannot
        move an alias, so never the platform's `champion` (Vertex AI has no per-model IAM)."""
        return self._grant_workload("team-runner", "platformTeamRunner", grantee)

    def grant_composer_worker(self, grantee: Grantee) -> ProjectIamMember:
        """Run Composer environment workloads; the only role a Composer worker account needs."""
        return self._grant_workload("composer-worker", "roles/composer.worker", grantee)

    def grant_log_writer(self, grantee: Grantee) -> ProjectIamMember:
        """Write logs, e.g. from pipeline components and builds, to Cloud Logging."""
        return self._grant_workload("log-writer", "roles/logging.logWriter", grantee)


class DeployerRoles(Construct):
    """The apply job's project roles: `DEPLOYER_ROLES` (plus those of CMEK and Composer when on),
    buckets limited by condition to the platform's own (`bucket_prefix*`), and project IAM limited
    by condition to the roles the stack grants to workloads and teams — read when the stack
    synthesizes, so grants made after this construct are included."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        project_id: str,
        bucket_prefix: str,
        project_roles: ProjectRoles,
        cmek: bool,
        composer: bool,
        cycle_table: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.project_roles = project_roles
        self.bucket_prefix = bucket_prefix
        self.roles = dict(DEPLOYER_ROLES)
        self.roles |= DEPLOYER_ROLES_WITH_CMEK if cmek else {}
        self.roles |= DEPLOYER_ROLES_WITH_COMPOSER if composer else {}
        self.roles |= DEPLOYER_ROLES_WITH_CYCLE_TABLE if cycle_table else {}

    def grant(self, deployer: Grantee) -> None:
        roles = self.project_roles
        for role in sorted(self.roles):
            condition = None
            if role == "platformBucketAdmin":
                # Cloud Storage evaluates resource.name on buckets with uniform access
                # (cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).
                condition = {
                    "title": "only-the-platform-buckets",
                    "description": "Buckets named after the project only",
                    "expression": (
                        '!resource.type.startsWith("storage.googleapis.com/") || '
                        f'resource.name.startsWith("projects/_/buckets/{self.bucket_prefix}")'
                    ),
                }
            roles._grant(f"deployer-{role.removeprefix('roles/').replace('.', '-')}", role, deployer, condition)

        def expression() -> str:
            allowed = ", ".join(f"'{role}'" for role in sorted(roles.workload_roles))
            return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])"

        roles._grant(
            "deployer-project-iam",
            PROJECT_IAM_ADMIN,
            deployer,
            condition={
                "title": "only-the-platform-roles",
                "description": "Grant only the project roles the platform stack grants to its workloads",
                "expression": lazy_string(expression),
            },
        )
