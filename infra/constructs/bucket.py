"""A Cloud Storage bucket that is private, uniform, versioned, logged and labelled by default."""

from __future__ import annotations

from functools import cached_property

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.storage_bucket import (
    StorageBucket,
    StorageBucketEncryption,
    StorageBucketLifecycleRule,
    StorageBucketLifecycleRuleAction,
    StorageBucketLifecycleRuleCondition,
    StorageBucketLogging,
    StorageBucketVersioning,
)
from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember
from cdktn_provider_google.storage_managed_folder import StorageManagedFolder
from cdktn_provider_google.storage_managed_folder_iam_member import StorageManagedFolderIamMember
from constructs import Construct

from infra.constructs.encryption import EncryptionKey
from infra.constructs.grants import Grantee, Principal, granted

# Cloud Storage writes usage logs as this group; the log bucket must let it create objects
# (cloud.google.com/storage/docs/access-logs#delivery).
LOG_DELIVERY = Principal(member="group:cloud-storage-analytics@google.com", grant_id="log-delivery")


class _ObjectAccess:
    """Grants on a bucket's objects; `self.bucket_name` names the bucket."""

    bucket_name: str

    def grant_read(self, grantee: Grantee) -> None:
        """List and read objects."""
        self._grant("read", "roles/storage.objectViewer", grantee)

    def grant_read_write(self, grantee: Grantee) -> None:
        """List, read, create, overwrite and delete objects; never change the bucket or its IAM."""
        self._grant("read-write", "roles/storage.objectUser", grantee)

    def _grant(self, access: str, role: str, grantee: Grantee) -> None:
        granted(
            grantee,
            StorageBucketIamMember(
                self, f"{access}-{grantee.grant_id}", bucket=self.bucket_name, role=role, member=grantee.member
            ),
        )


class ExistingBucket(_ObjectAccess, Construct):
    """A bucket made outside the stack (e.g. the Terraform state bucket of `make bootstrap`)."""

    def __init__(self, scope: Construct, id: str, *, name: str) -> None:
        super().__init__(scope, id)
        self.bucket_name = name


class SecureBucket(_ObjectAccess, Construct):
    """A regional bucket: uniform access, public access prevention enforced, versioned, access
    logged into `access_logs` (only the access-logs bucket itself passes None), replaced object
    versions deleted after `noncurrent_version_retention_days`, objects expiring after
    `expire_after_days` when given, and encrypted with `encryption_key` when given."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        location: str,
        labels: dict[str, str],
        access_logs: SecureBucket | None,
        noncurrent_version_retention_days: int,
        expire_after_days: int | None = None,
        encryption_key: EncryptionKey | None = None,
        prevent_destroy: bool = False,
    ) -> None:
        super().__init__(scope, id)
        rules = [
            StorageBucketLifecycleRule(
                action=StorageBucketLifecycleRuleAction(type="Delete"),
                condition=StorageBucketLifecycleRuleCondition(
                    days_since_noncurrent_time=noncurrent_version_retention_days, with_state="ARCHIVED"
                ),
            )
        ]
        if expire_after_days is not None:
            rules.append(
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=StorageBucketLifecycleRuleCondition(age=expire_after_days, with_state="ANY"),
                )
            )
        self.bucket = StorageBucket(
            self,
            "bucket",
            name=name,
            location=location.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=StorageBucketVersioning(enabled=True),
            logging=StorageBucketLogging(log_bucket=access_logs.bucket_name, log_object_prefix=name)
            if access_logs
            else None,
            lifecycle_rule=rules,
            encryption=StorageBucketEncryption(default_kms_key_name=encryption_key.id) if encryption_key else None,
            labels=labels,
            force_destroy=False,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if prevent_destroy else None,
        )
        if encryption_key:
            encryption_key.encrypts(self.bucket)
        if access_logs is None:  # this is the log sink: Cloud Storage must be able to deliver into it
            self._grant("write", "roles/storage.objectCreator", LOG_DELIVERY)

    @cached_property
    def bucket_name(self) -> str:
        return self.bucket.name  # read through jsii once, then kept

    def grant_object_admin(self, grantee: Grantee) -> None:
        """Create, read, replace and delete objects, and read their metadata (what Terraform needs to
        manage objects, e.g. function sources); never change the bucket or its IAM."""
        self._grant("object-admin", "roles/storage.objectAdmin", grantee)

    def grant_inspect(self, grantee: Grantee) -> None:
        """See that the bucket exists and list it, without reading objects (Vertex AI checks a
        pipeline root this way before each submission)."""
        self._grant("inspect", "roles/storage.legacyBucketReader", grantee)

    def managed_folder(self, id: str, path: str) -> ManagedFolder:
        """A prefix (`path`, ending in /) with IAM of its own, e.g. one team's corner of a bucket."""
        return ManagedFolder(self, id, bucket=self, path=path)


class ManagedFolder(_ObjectAccess, Construct):
    """A managed folder: a prefix of a bucket whose own IAM adds to the bucket's."""

    def __init__(self, scope: Construct, id: str, *, bucket: SecureBucket, path: str) -> None:
        super().__init__(scope, id)
        self.bucket_name = bucket.bucket_name
        self.path = path
        self.folder = StorageManagedFolder(self, "folder", bucket=self.bucket_name, name=path, force_destroy=False)

    def _grant(self, access: str, role: str, grantee: Grantee) -> None:
        # The folder is named by its path, as the folder names itself: reading its attributes back
        # would cost two jsii round trips per folder, so the grant waits for it by depends_on.
        granted(
            grantee,
            StorageManagedFolderIamMember(
                self,
                f"{access}-{grantee.grant_id}",
                bucket=self.bucket_name,
                managed_folder=self.path,
                role=role,
                member=grantee.member,
                depends_on=[self.folder],
            ),
        )
