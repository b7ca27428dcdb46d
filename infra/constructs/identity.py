"""A workload identity: one service account per workload, never with keys."""

from __future__ import annotations

from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from infra.constructs.grants import Grantee


class WorkloadIdentity(Construct):
    """The service account a single workload runs as.

    Keys are never created: workloads get credentials from the platform they run on (Vertex AI,
    Cloud Run, Cloud Build, Composer). Roles come from the resources the workload uses.
    """

    def __init__(self, scope: Construct, id: str, *, account_id: str, description: str) -> None:
        super().__init__(scope, id)
        self.account_id = account_id
        self.account = ServiceAccount(
            self,
            "account",
            account_id=account_id,
            display_name=account_id,
            description=description,
        )

    @property
    def email(self) -> str:
        return self.account.email

    @property
    def member(self) -> str:
        return self.account.member

    @property
    def grant_id(self) -> str:
        return self.account_id

    def grant_act_as(self, grantee: Grantee) -> None:
        """Let `grantee` start workloads that run as this identity (and nothing else)."""
        ServiceAccountIamMember(
            self,
            f"act-as-{grantee.grant_id}",
            service_account_id=self.account.name,
            role="roles/iam.serviceAccountUser",
            member=grantee.member,
        )

    def grant_agent_extension(self, composer_agent: Grantee) -> None:
        """Let the Composer service agent run environments as this identity (Composer 2 and 3)."""
        ServiceAccountIamMember(
            self,
            f"composer-agent-{composer_agent.grant_id}",
            service_account_id=self.account.name,
            role="roles/composer.ServiceAgentV2Ext",
            member=composer_agent.member,
        )
