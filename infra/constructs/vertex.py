"""Vertex AI pieces that must exist before the first pipeline run."""

from __future__ import annotations

from constructs import Construct

from infra.constructs.beta import BetaResource, GoogleBetaProvider
from infra.constructs.encryption import EncryptionKey


class MetadataStore(Construct):
    """The region's `default` Vertex ML Metadata store, where pipeline runs record lineage,
    encrypted with the environment's key.

    Vertex creates the store lazily on the first pipeline run or experiment, but then without the
    key: CMEK can only be set when the store is created, so environments with CMEK create it up
    front (without CMEK there is nothing to set, and Vertex's own lazy creation is left alone).
    A store that exists already (an earlier run in the region) is adopted by `make plan`, which
    adds an import block for it (`infra/terraform.py`), since creating it again returns 409.
    """

    NAME = "default"

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        provider: GoogleBetaProvider,
        project: str,
        region: str,
        encryption_key: EncryptionKey,
    ) -> None:
        super().__init__(scope, id)
        self.store = BetaResource(
            self,
            "store",
            provider=provider,
            resource_type="google_vertex_ai_metadata_store",
            attributes={
                "project": project,
                "region": region,
                "name": self.NAME,
                "description": "Pipeline lineage",
                "encryption_spec": {"kms_key_name": encryption_key.id},
            },
        )
        encryption_key.encrypts(self.store)

    @staticmethod
    def resource_name(project: str, region: str) -> str:
        """The store's id, as Vertex names it and as an import block adopts it."""
        return f"projects/{project}/locations/{region}/metadataStores/{MetadataStore.NAME}"
