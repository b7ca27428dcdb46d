"""Customer-managed encryption: one key ring and key per environment, rotated, never destroyed."""

from __future__ import annotations

from functools import cached_property

from cdktn import TerraformResource, TerraformResourceLifecycle
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktn_provider_google.kms_key_ring import KmsKeyRing
from constructs import Construct

from infra import google_rules
from infra.constructs.grants import Grantee, granted
from pipelines.logic.spec import SECONDS_PER_DAY


class EncryptionKey(Construct):
    """A symmetric key in a regional key ring. Destroying it would make every object, image and
    metadata record encrypted with it unreadable, so it carries `prevent_destroy`."""

    def __init__(
        self, scope: Construct, id: str, *, name: str, location: str, rotation_days: int, labels: dict[str, str]
    ) -> None:
        super().__init__(scope, id)
        ring = KmsKeyRing(self, "ring", name=name, location=location)
        self.key = KmsCryptoKey(
            self,
            "key",
            name=name,
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=f"{rotation_days * SECONDS_PER_DAY}s",
            labels=labels,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True),
        )
        self.grants: list[KmsCryptoKeyIamMember] = []

    @cached_property
    def id(self) -> str:
        return self.key.id  # read through jsii once, then kept: every encrypted resource names it

    def grant_encrypt_decrypt(self, grantee: Grantee) -> KmsCryptoKeyIamMember:
        """Let a service agent use the key for the resources it manages."""
        grant = KmsCryptoKeyIamMember(
            self,
            f"encrypt-decrypt-{grantee.grant_id}",
            crypto_key_id=self.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=grantee.member,
        )
        self.grants.append(grant)
        return granted(grantee, grant)

    def encrypts(self, resource: TerraformResource) -> None:
        """`resource` is encrypted with this key: Google checks at creation that the resource's
        service agent may use it (cloud.google.com/kms/docs/cmek#cmek-integrations), so the
        resource waits for every grant of the key, however late in the stack they are made."""
        google_rules.wait_for(resource, lambda: self.grants)
