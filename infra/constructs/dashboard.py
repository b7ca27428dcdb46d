"""The dashboard (tools/dashboard) as a Cloud Run service, behind IAM only.

Resource reference: registry.terraform.io/providers/hashicorp/google/latest/docs/resources/cloud_run_v2_service
(hashicorp/terraform-provider-google, website/docs/r/cloud_run_v2_service.html.markdown) and
.../docs/resources/cloud_run_v2_service_iam (the invoker grants).

Why Cloud Run: the dashboard is a long-running HTTP server (tools/dashboard/server.py) already in
the components image, so a service runs it unchanged; it scales to zero, so idle costs nothing,
and `gcloud run services proxy` opens it with the viewer's own identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktn import TerraformResource
from cdktn_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplate,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersPorts,
    CloudRunV2ServiceTemplateContainersResources,
    CloudRunV2ServiceTemplateScaling,
)
from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from constructs import Construct

from infra import google_rules
from infra.constructs.encryption import EncryptionKey
from infra.constructs.grants import Grantee, granted
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.registry import ArtifactRepository

SERVICE_NAME = "dashboard"
PORT = 8080
# Reachable from anywhere, like `gcloud run services proxy` needs (it calls the service's URL from
# the viewer's machine); every request still needs an identity token of a listed viewer, since the
# service has no public member. `internal` would need a VPC or load balancer this platform does not create.
INGRESS = "INGRESS_TRAFFIC_ALL"
MAX_INSTANCES = 2  # a page view loads the champion once per instance: a few viewers, not traffic
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - inside the container: Cloud Run forwards to the container port


@dataclass(frozen=True)
class _Tracked:
    """A principal whose grants are kept (`received`), so what needs them can wait for them."""

    principal: Grantee
    received: list[TerraformResource] = field(default_factory=list)

    @property
    def member(self) -> str:
        return self.principal.member

    @property
    def grant_id(self) -> str:
        return self.principal.grant_id


class DashboardService(Construct):
    """The dashboard running as `identity` (which the stack gives read access only), scaling to
    zero, with run.invoker only for the members `grant_view` is called with.

    Google checks at create time that the deployer may act as `identity` and, when the image is
    pulled, that Cloud Run's service agent may read it (and use `encryption_key`); the first
    revision starts the dashboard, which reads as `identity` at once. So the service waits for the
    grants to act as and to `identity`, and for the agent's."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        region: str,
        image: str,
        identity: WorkloadIdentity,
        registry_uri: str,
        runs_root: str,
        cycle_root: str | None,
        labels: dict[str, str],
        images: ArtifactRepository,
        run_agent: Grantee,
        encryption_key: EncryptionKey | None,
    ) -> None:
        super().__init__(scope, id)
        self.region = region
        # Cloud Run's service agent pulls the image (cloud.google.com/run/docs/deploying#other-projects
        # names the reader role it needs) and, with CMEK, encrypts it with the key
        # (cloud.google.com/run/docs/securing/using-cmek#grant-key-access).
        agent = _Tracked(run_agent)
        images.grant_read(agent)
        if encryption_key:
            encryption_key.grant_encrypt_decrypt(agent)
        self.service = CloudRunV2Service(
            self,
            "service",
            name=SERVICE_NAME,
            location=region,
            description="The platform's dashboard (tools/dashboard), read-only",
            ingress=INGRESS,
            labels=labels,
            # Stateless: removing `dashboard` from the environment file removes the service.
            deletion_protection=False,
            template=CloudRunV2ServiceTemplate(
                service_account=identity.email,
                encryption_key=encryption_key.id if encryption_key else None,
                scaling=CloudRunV2ServiceTemplateScaling(min_instance_count=0, max_instance_count=MAX_INSTANCES),
                containers=[
                    CloudRunV2ServiceTemplateContainers(
                        image=image,
                        command=["python", "-m", "tools.dashboard.server"],
                        args=[
                            *("--host", ALL_INTERFACES, "--port", str(PORT)),
                            *("--registry", registry_uri, "--runs", runs_root),
                            *(("--cycle", cycle_root) if cycle_root else ()),
                        ],
                        ports=CloudRunV2ServiceTemplateContainersPorts(container_port=PORT),
                        resources=CloudRunV2ServiceTemplateContainersResources(
                            limits={"cpu": "1", "memory": "1Gi"}, cpu_idle=True
                        ),
                    )
                ],
            ),
        )
        if encryption_key:
            encryption_key.encrypts(self.service)
        google_rules.wait_for(self.service, lambda: [*identity.delegations, *identity.received, *agent.received])

    def grant_view(self, grantee: Grantee) -> None:
        """Let `grantee` open the dashboard (run.invoker on this service, nothing wider)."""
        granted(
            grantee,
            CloudRunV2ServiceIamMember(
                self,
                f"viewer-{grantee.grant_id}",
                project=self.service.project,
                location=self.region,
                name=self.service.name,
                role="roles/run.invoker",
                member=grantee.member,
            ),
        )
