"""A Cloud Function (gen2) built from its source archive, private by default."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from cdktn import AssetType, TerraformAsset
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

from functions.settings import REQUEST_CONCURRENCY, REQUEST_TIMEOUT_SECONDS
from infra import google_rules
from infra.constructs.bucket import SecureBucket
from infra.constructs.grants import Grantee, granted
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.registry import ArtifactRepository
from infra.deployed import source_object

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
    hash, so unchanged code never redeploys.

    Builds run as `builder`, a dedicated account, and push into `images`: since mid-2024 new
    projects no longer let the default build account build functions
    (cloud.google.com/functions/docs/securing/build-custom-sa). Google checks at create time that
    the deployer may act as both accounts and, during the build, that the builder holds its
    roles, so the function waits for those grants."""

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
        builder: WorkloadIdentity,
        images: ArtifactRepository,
        environment_variables: dict[str, str],
        labels: dict[str, str],
        max_instances: int,
        memory: str,
        ingress: str = "all",
    ) -> None:
        super().__init__(scope, id)
        self.name = name  # also the name of the Cloud Run service it runs as
        self.region = region
        asset = TerraformAsset(self, "archive", path=str(archive.resolve()), type=AssetType.FILE)
        source = StorageBucketObject(
            self, "source", bucket=sources.bucket_name, name=source_object(archive), source=asset.path
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
                service_account=builder.account.id,
                docker_repository=images.id,
                source=Cloudfunctions2FunctionBuildConfigSource(
                    storage_source=Cloudfunctions2FunctionBuildConfigSourceStorageSource(
                        bucket=sources.bucket_name, object=source.name
                    )
                ),
            ),
            service_config=Cloudfunctions2FunctionServiceConfig(
                min_instance_count=0,
                max_instance_count=max_instances,
                max_instance_request_concurrency=REQUEST_CONCURRENCY,
                available_memory=memory,
                timeout_seconds=REQUEST_TIMEOUT_SECONDS,
                ingress_settings=INGRESS[ingress],
                all_traffic_on_latest_revision=True,
                service_account_email=identity.email,
                environment_variables=environment_variables,
            ),
        )
        google_rules.wait_for(self.function, lambda: [*identity.delegations, *builder.delegations, *builder.received])

    @cached_property
    def url(self) -> str:
        return self.function.url  # read through jsii once, then kept

    def grant_invoke(self, grantee: Grantee) -> None:
        """Let `grantee` call the function (run.invoker on its Cloud Run service, nothing wider)."""
        granted(
            grantee,
            CloudRunV2ServiceIamMember(
                self,
                f"invoker-{grantee.grant_id}",
                project=self.function.project,
                location=self.region,
                name=self.function.name,
                role="roles/run.invoker",
                member=grantee.member,
            ),
        )
