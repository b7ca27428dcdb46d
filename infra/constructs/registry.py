"""Artifact Registry repositories: container images and KFP pipeline templates."""

from __future__ import annotations

from functools import cached_property

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryCleanupPolicies,
    ArtifactRegistryRepositoryCleanupPoliciesCondition,
    ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
    ArtifactRegistryRepositoryDockerConfig,
)
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from constructs import Construct

from infra.constructs.encryption import EncryptionKey
from infra.constructs.grants import Grantee, granted
from pipelines.logic.spec import SECONDS_PER_DAY


class ArtifactRepository(Construct):
    """A standard repository of `format` (DOCKER or KFP) with cleanup policies: untagged versions
    go after `untagged_retention_days`, and beyond that the `keep_recent` newest versions of each
    package are always kept. Docker tags are immutable unless `mutable_tags` (a tag then names one
    image for good; function builds re-tag their images, so their repository allows it)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        repository_id: str,
        format: str,
        location: str,
        description: str,
        labels: dict[str, str],
        encryption_key: EncryptionKey | None = None,
        untagged_retention_days: int = 14,
        keep_recent: int = 20,
        mutable_tags: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.location = location
        self.repository = ArtifactRegistryRepository(
            self,
            "repository",
            repository_id=repository_id,
            format=format,
            location=location,
            mode="STANDARD_REPOSITORY",
            description=description,
            labels=labels,
            kms_key_name=encryption_key.id if encryption_key else None,
            docker_config=(
                ArtifactRegistryRepositoryDockerConfig(immutable_tags=not mutable_tags) if format == "DOCKER" else None
            ),
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="delete-untagged",
                    action="DELETE",
                    condition=ArtifactRegistryRepositoryCleanupPoliciesCondition(
                        tag_state="UNTAGGED", older_than=f"{untagged_retention_days * SECONDS_PER_DAY}s"
                    ),
                ),
                ArtifactRegistryRepositoryCleanupPolicies(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                        keep_count=keep_recent
                    ),
                ),
            ],
        )
        if encryption_key:
            encryption_key.encrypts(self.repository)

    @cached_property
    def id(self) -> str:
        """`projects/<p>/locations/<region>/repositories/<id>`, as functions' builds name it."""
        return self.repository.id

    @cached_property
    def _reference(self) -> tuple[str, str]:
        """The repository's project and name as references, read through jsii once."""
        return self.repository.project, self.repository.name

    def grant_read(self, grantee: Grantee) -> None:
        """Pull images or download templates."""
        self._grant("read", "roles/artifactregistry.reader", grantee)

    def grant_write(self, grantee: Grantee) -> None:
        """Push images or upload templates, and tag them; never delete or change the repository."""
        self._grant("write", "roles/artifactregistry.writer", grantee)

    def _grant(self, access: str, role: str, grantee: Grantee) -> None:
        granted(
            grantee,
            ArtifactRegistryRepositoryIamMember(
                self,
                f"{access}-{grantee.grant_id}",
                project=self._reference[0],
                location=self.location,
                repository=self._reference[1],
                role=role,
                member=grantee.member,
            ),
        )
