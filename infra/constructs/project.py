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


class ProjectRoles(Construct):
    """Project-level grants, for the services that offer no narrower resource to grant on.

    Each method names the one role it grants; nothing else in the app grants project roles.
    """

    def __init__(self, scope: Construct, id: str, *, project_id: str) -> None:
        super().__init__(scope, id)
        self.project_id = project_id

    def _grant(self, name: str, role: str, grantee: Grantee) -> None:
        ProjectIamMember(self, f"{name}-{grantee.grant_id}", project=self.project_id, role=role, member=grantee.member)

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
