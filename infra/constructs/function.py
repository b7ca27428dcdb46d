"""A Cloud Function (gen2) built from its source archive, private by default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cdktn import AssetType, ITerraformDependable, TerraformAsset
from cdktn_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from cdktn_provider_google.cloudfunctions2_function import (
    Cloudfunctions2Function,
    Cloudfunctions2FunctionBuildConfig,
    Cloudfunctions2FunctionBuildConfigSource,
    Cloudfunctions2FunctionBuildConfigSourceStorageSource,
    Cloudfunctions2FunctionServiceConfig,
)
from cdktn_provider_google.storage_bucket_object import StorageBucketObject
from constructs import Construct

from infra.constructs.bucket import SecureBucket
from infra.constructs.grants import Grantee
from infra.constructs.identity import WorkloadIdentity

INGRESS = {
    "internal": "ALLOW_INTERNAL_ONLY",
    "internal-and-load-balancer": "ALLOW_INTERNAL_AND_GCLB",
    "all": "ALLOW_ALL",
}
RUNTIME = "python311"


class CloudFunction(Construct):
    """An HTTP function running as its own identity, scaling to zero, reachable only from inside
    Google Cloud unless `ingress` says otherwise, and always requiring an authenticated caller
    (callers are added with `grant_invoke`). The source object is named by the archive's content
    hash, so unchanged code never redeploys."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        region: str,
        archive: Path,
        sources: SecureBucket,
        entry_point: str,
        identity: WorkloadIdentity,
        environment_variables: dict[str, str],
        labels: dict[str, str],
        max_instances: int,
        memory: str,
        ingress: str = "internal",
        depends_on: Sequence[ITerraformDependable] = (),
    ) -> None:
        super().__init__(scope, id)
        self.region = region
        asset = TerraformAsset(self, "archive", path=str(archive.resolve()), type=AssetType.FILE)
        source = StorageBucketObject(
            self, "source", bucket=sources.name, name=f"functions/{archive.name}", source=asset.path
        )
        self.function = Cloudfunctions2Function(
            self,
            "function",
            name=name,
            location=region,
            description=f"{name} ({archive.name})",
            labels=labels,
            build_config=Cloudfunctions2FunctionBuildConfig(
                runtime=RUNTIME,
                entry_point=entry_point,
                source=Cloudfunctions2FunctionBuildConfigSource(
                    storage_source=Cloudfunctions2FunctionBuildConfigSourceStorageSource(
                        bucket=sources.name, object=source.name
                    )
                ),
            ),
            service_config=Cloudfunctions2FunctionServiceConfig(
                min_instance_count=0,
                max_instance_count=max_instances,
                available_memory=memory,
                timeout_seconds=60,
                ingress_settings=INGRESS[ingress],
                all_traffic_on_latest_revision=True,
                service_account_email=identity.email,
                environment_variables=environment_variables,
            ),
            depends_on=list(depends_on) or None,
        )

    @property
    def url(self) -> str:
        return self.function.url

    def grant_invoke(self, grantee: Grantee) -> None:
        """Let `grantee` call the function (run.invoker on its Cloud Run service, nothing wider)."""
        CloudRunV2ServiceIamMember(
            self,
            f"invoker-{grantee.grant_id}",
            project=self.function.project,
            location=self.region,
            name=self.function.name,
            role="roles/run.invoker",
            member=grantee.member,
        )
