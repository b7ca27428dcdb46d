"""The few resources the platform needs that only the google-beta provider offers.

They are declared through CDK Terrain's generic resource class (untyped) instead of the
`cdktn-provider-google-beta` bindings: those would load a second provider bundle of the same size
at every synth for two resource types.
"""

from __future__ import annotations

from typing import Any

from cdktn import TerraformProvider, TerraformProviderGeneratorMetadata, TerraformResource
from cdktn_provider_google.provider import GoogleProvider
from constructs import Construct

from infra.constructs.grants import Principal

BETA_PROVIDER = "google-beta"


class GoogleBetaProvider(TerraformProvider):
    """google-beta at the same version as the typed google provider, on the same project and region."""

    def __init__(self, scope: Construct, id: str, *, google: GoogleProvider) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=BETA_PROVIDER,
            terraform_provider_source=f"hashicorp/{BETA_PROVIDER}",
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                provider_name=BETA_PROVIDER,
                provider_version=google.terraform_generator_metadata.provider_version,
            ),
        )
        self.add_override("project", google.project_input)
        self.add_override("region", google.region_input)


class BetaResource(TerraformResource):
    """A google-beta resource with its attributes given as a plain (snake_case) mapping."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        provider: GoogleBetaProvider,
        resource_type: str,
        attributes: dict[str, Any],
    ) -> None:
        super().__init__(
            scope,
            id,
            terraform_resource_type=resource_type,
            provider=provider,
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(provider_name=BETA_PROVIDER),
        )
        for key, value in attributes.items():
            self.add_override(key, value)


def service_agent(scope: Construct, id: str, *, provider: GoogleBetaProvider, project: str, api: str) -> Principal:
    """The Google-managed service agent of `api`, created now if Google has not created it yet."""
    identity = BetaResource(
        scope,
        id,
        provider=provider,
        resource_type="google_project_service_identity",
        attributes={"project": project, "service": api},
    )
    return Principal(member=identity.get_string_attribute("member"), grant_id=id)
