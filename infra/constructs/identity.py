"""A workload identity: one service account per workload, never with keys."""

from __future__ import annotations

from functools import cached_property

from cdktn import TerraformResource
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from infra.constructs.grants import Grantee, granted


class WorkloadIdentity(Construct):
    """The service account a single workload runs as.

    Keys are never created: workloads get credentials from the platform they run on (Vertex AI,
    Cloud Run, Cloud Build, Composer). Roles come from the resources the workload uses; `received`
    lists every grant made to it and `delegations` every grant to act as it, so that what runs as
    it can wait for both.
    """

    def __init__(self, scope: Construct, id: str, *, account_id: str, description: str) -> None:
        super().__init__(scope, id)
        self.account_id = account_id
        self.received: list[TerraformResource] = []
        self.delegations: list[TerraformResource] = []
        self.account = ServiceAccount(
            self,
            "account",
            account_id=account_id,
            display_name=account_id,
            description=description,
        )

    # The account's attributes are read through jsii (a round trip to node) once, then kept.
    @cached_property
    def email(self) -> str:
        return self.account.email

    @cached_property
    def member(self) -> str:
        return self.account.member

    @cached_property
    def name(self) -> str:
        return self.account.name

    @property
    def grant_id(self) -> str:
        return self.account_id

    def grant_act_as(self, grantee: Grantee) -> ServiceAccountIamMember:
        """Let `grantee` start workloads that run as this identity (and nothing else)."""
        return self._grant("act-as", "roles/iam.serviceAccountUser", grantee)

    def grant_agent_extension(self, composer_agent: Grantee) -> ServiceAccountIamMember:
        """Let the Composer service agent run environments as this identity (Composer 2 and 3)."""
        return self._grant("composer-agent", "roles/composer.ServiceAgentV2Ext", composer_agent)

    def _grant(self, access: str, role: str, grantee: Grantee) -> ServiceAccountIamMember:
        grant = ServiceAccountIamMember(
            self, f"{access}-{grantee.grant_id}", service_account_id=self.name, role=role, member=grantee.member
        )
        self.delegations.append(grant)
        return granted(grantee, grant)
