"""Vertex AI pieces that must exist before the first pipeline run."""

from __future__ import annotations

from collections.abc import Sequence

from cdktn import ITerraformDependable
from constructs import Construct

from infra.constructs.beta import BetaResource, GoogleBetaProvider
from infra.constructs.encryption import EncryptionKey


class MetadataStore(Construct):
    """The region's `default` Vertex ML Metadata store, where pipeline runs record lineage.

    Vertex would create it lazily on the first run, but then without the environment's key:
    CMEK can only be set when the store is created, so the platform creates it up front.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        provider: GoogleBetaProvider,
        project: str,
        region: str,
        encryption_key: EncryptionKey | None = None,
        depends_on: Sequence[ITerraformDependable] = (),
    ) -> None:
        super().__init__(scope, id)
        attributes = {"project": project, "region": region, "name": "default", "description": "Pipeline lineage"}
        if encryption_key:
            attributes["encryption_spec"] = {"kms_key_name": encryption_key.id}
        self.store = BetaResource(
            self,
            "store",
            provider=provider,
            resource_type="google_vertex_ai_metadata_store",
            attributes=attributes,
            depends_on=[*depends_on, *(encryption_key.grants if encryption_key else [])],
        )
