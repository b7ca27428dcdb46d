"""Cloud Composer 3: small, private, running as its own worker identity."""

from __future__ import annotations

from typing import Literal

from cdktn_provider_google.composer_environment import (
    ComposerEnvironment,
    ComposerEnvironmentConfigA,
    ComposerEnvironmentConfigEncryptionConfig,
    ComposerEnvironmentConfigNodeConfig,
    ComposerEnvironmentConfigSoftwareConfig,
)
from constructs import Construct

from infra import google_rules
from infra.constructs.encryption import EncryptionKey
from infra.constructs.grants import Grantee
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import ProjectRoles

ENVIRONMENT_SIZES = {
    "small": "ENVIRONMENT_SIZE_SMALL",
    "medium": "ENVIRONMENT_SIZE_MEDIUM",
    "large": "ENVIRONMENT_SIZE_LARGE",
}


class Composer(Construct):
    """A private Composer 3 environment (no public IPs, private builds) whose workers run as a
    dedicated identity holding `roles/composer.worker` and nothing else.

    Google checks at create time that the worker holds `roles/composer.worker` and that the
    Composer service agent holds `roles/composer.ServiceAgentV2Ext` on the worker
    (cloud.google.com/composer/docs/composer-3/create-environments#grant-permissions,
    cloud.google.com/composer/docs/composer-3/access-control#service-account), and that whoever
    creates it may act as the worker: the environment waits for all three."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        worker_account_id: str,
        region: str,
        size: Literal["small", "medium", "large"],
        image_version: str,
        labels: dict[str, str],
        project_roles: ProjectRoles,
        composer_agent: Grantee,
        encryption_key: EncryptionKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.worker = WorkloadIdentity(
            self, "worker", account_id=worker_account_id, description="Cloud Composer worker"
        )
        project_roles.grant_composer_worker(self.worker)
        self.worker.grant_agent_extension(composer_agent)
        self.environment = ComposerEnvironment(
            self,
            "environment",
            name=name,
            region=region,
            labels=labels,
            config=ComposerEnvironmentConfigA(
                environment_size=ENVIRONMENT_SIZES[size],
                enable_private_environment=True,
                enable_private_builds_only=True,
                software_config=ComposerEnvironmentConfigSoftwareConfig(image_version=image_version),
                node_config=ComposerEnvironmentConfigNodeConfig(service_account=self.worker.email),
                encryption_config=(
                    ComposerEnvironmentConfigEncryptionConfig(kms_key_name=encryption_key.id)
                    if encryption_key
                    else None
                ),
            ),
        )
        google_rules.wait_for(self.environment, lambda: [*self.worker.received, *self.worker.delegations])
        if encryption_key:
            encryption_key.encrypts(self.environment)
