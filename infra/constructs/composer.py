"""Cloud Composer 3: small, private, running as its own worker identity, on a bucket of the platform's."""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Literal

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryRemoteRepositoryConfig,
    ArtifactRegistryRepositoryRemoteRepositoryConfigPythonRepository,
)
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from cdktn_provider_google.composer_environment import (
    ComposerEnvironment,
    ComposerEnvironmentConfigA,
    ComposerEnvironmentConfigEncryptionConfig,
    ComposerEnvironmentConfigNodeConfig,
    ComposerEnvironmentConfigSoftwareConfig,
    ComposerEnvironmentStorageConfig,
)
from cdktn_provider_google.storage_bucket_object import StorageBucketObject
from constructs import Construct
from packaging.markers import Marker

from environments.loading import REPO_ROOT
from infra import google_rules
from infra.constructs.bucket import SecureBucket
from infra.constructs.encryption import EncryptionKey
from infra.constructs.grants import Grantee, granted
from infra.constructs.identity import WorkloadIdentity
from infra.constructs.project import ProjectRoles

ENVIRONMENT_SIZES = {
    "small": "ENVIRONMENT_SIZE_SMALL",
    "medium": "ENVIRONMENT_SIZE_MEDIUM",
    "large": "ENVIRONMENT_SIZE_LARGE",
}
# The dependency group (pyproject.toml) listing what the cycle's tasks import; pinned from uv.lock.
PACKAGES_GROUP = "composer-cycle"
# Composer 3's Airflow 2.10 images run Python 3.11 (cloud.google.com/composer/docs/composer-versions):
# where the lock splits a package by Python version, the 3.11 one is pinned.
COMPOSER_PYTHON = "3.11.0"
PYPI_REPOSITORY = "pypi-remote"
# Where Composer reads pip's settings for installing the environment's PyPI packages
# (cloud.google.com/composer/docs/composer-3/install-python-dependencies,
# "Install from an Artifact Registry repository").
PIP_CONF_OBJECT = "config/pip/pip.conf"


@cache  # the same for every environment: read once per synth
def cycle_packages() -> dict[str, str]:
    """`PACKAGES_GROUP`'s packages at their uv.lock versions, as `software_config.pypi_packages` wants
    them (name -> "==version"). Shared between callers: not to be changed."""
    group = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["dependency-groups"][PACKAGES_GROUP]
    locked = _locked_packages(set(group))
    python = {"python_full_version": COMPOSER_PYTHON, "python_version": COMPOSER_PYTHON.rsplit(".", 1)[0]}
    packages = {}
    for name in group:
        versions = [
            entry["version"]
            for entry in locked
            if entry["name"] == name
            and any(
                Marker(marker).evaluate(python) for marker in entry.get("resolution-markers", ["python_version>'0'"])
            )
        ]
        if len(versions) != 1:
            raise ValueError(f"uv.lock: expected one version of {name} for Python {COMPOSER_PYTHON}, found {versions}")
        packages[name] = f"=={versions[0]}"
    return packages


def _locked_packages(names: set[str]) -> list[dict]:
    """uv.lock's `[[package]]` entries named in `names`, each parsed on its own: parsing the whole
    lock (a megabyte of TOML) took a third of a second of every synth."""
    entries = []
    for block in (REPO_ROOT / "uv.lock").read_text().split("\n[[package]]\n")[1:]:
        first_line = block.split("\n", 1)[0]  # uv writes each entry's name first
        if first_line.startswith('name = "') and first_line[len('name = "') : -1] in names:
            entries.append(tomllib.loads(block))
    return entries


class Composer(Construct):
    """A private Composer 3 environment (no public IPs, private builds) whose workers run as a
    dedicated identity holding `roles/composer.worker`; what the cycle's tasks need beyond it is
    granted where the stack decides who may do what (infra/stacks/platform.py `workload_access`).

    Google checks at create time that the worker holds `roles/composer.worker` and that the
    Composer service agent holds `roles/composer.ServiceAgentV2Ext` on the worker
    (cloud.google.com/composer/docs/composer-3/create-environments#grant-permissions,
    cloud.google.com/composer/docs/composer-3/access-control#service-account), and that whoever
    creates it may act as the worker: the environment waits for all three.

    - **Its bucket** is `bucket`, one of the platform's (`storage_config.bucket`,
      registry.terraform.io/providers/hashicorp/google/latest/docs/resources/composer_environment):
      versioned, logged and CMEK-encrypted like the others, so the deploy build can be given write
      access on it alone (`grant_dag_upload`) instead of a project role that reaches every bucket.
    - **PyPI packages**: the cycle's packages (`cycle_packages`) in `software_config.pypi_packages`.
      With `enable_private_builds_only`, the builds that install them have no internet access
      (registry.terraform.io/providers/hashicorp/google/latest/docs/resources/composer_environment
      `enable_private_builds_only`), so they install from an Artifact Registry remote repository
      that proxies PyPI (cloud.google.com/composer/docs/composer-3/install-python-dependencies,
      "Install from an Artifact Registry repository"): pip's `index-url` points at it in
      `config/pip/pip.conf` in the environment's bucket, and the environment's service account (the
      worker) reads the repository, as that page asks.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        worker_account_id: str,
        project_id: str,
        region: str,
        size: Literal["small", "medium", "large"],
        image_version: str,
        labels: dict[str, str],
        project_roles: ProjectRoles,
        composer_agent: Grantee,
        bucket: SecureBucket,
        pypi_packages: dict[str, str],
        encryption_key: EncryptionKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.bucket = bucket
        self.worker = WorkloadIdentity(
            self, "worker", account_id=worker_account_id, description="Cloud Composer worker"
        )
        project_roles.grant_composer_worker(self.worker)
        self.worker.grant_agent_extension(composer_agent)
        # Composer's workers sync the DAG folder and write task logs into the environment's bucket.
        bucket.grant_object_admin(self.worker)
        self.pypi = ArtifactRegistryRepository(
            self,
            "pypi",
            repository_id=PYPI_REPOSITORY,
            format="PYTHON",
            location=region,
            mode="REMOTE_REPOSITORY",
            description="PyPI, proxied for Composer's private builds",
            labels=labels,
            kms_key_name=encryption_key.id if encryption_key else None,
            remote_repository_config=ArtifactRegistryRepositoryRemoteRepositoryConfig(
                description="PyPI",
                python_repository=ArtifactRegistryRepositoryRemoteRepositoryConfigPythonRepository(
                    public_repository="PYPI"
                ),
            ),
        )
        if encryption_key:
            encryption_key.encrypts(self.pypi)
        granted(
            self.worker,
            ArtifactRegistryRepositoryIamMember(
                self,
                "pypi-read-worker",
                project=self.pypi.project,
                location=region,
                repository=self.pypi.name,
                role="roles/artifactregistry.reader",
                member=self.worker.member,
            ),
        )
        pip_conf = StorageBucketObject(
            self,
            "pip-conf",
            bucket=bucket.bucket_name,
            name=PIP_CONF_OBJECT,
            content=f"[global]\nindex-url = https://{region}-python.pkg.dev/{project_id}/{PYPI_REPOSITORY}/simple/\n",
            content_type="text/plain",
        )
        self.environment = ComposerEnvironment(
            self,
            "environment",
            name=name,
            region=region,
            labels=labels,
            storage_config=ComposerEnvironmentStorageConfig(bucket=bucket.bucket_name),
            config=ComposerEnvironmentConfigA(
                environment_size=ENVIRONMENT_SIZES[size],
                enable_private_environment=True,
                enable_private_builds_only=True,
                software_config=ComposerEnvironmentConfigSoftwareConfig(
                    image_version=image_version, pypi_packages=pypi_packages
                ),
                node_config=ComposerEnvironmentConfigNodeConfig(service_account=self.worker.email),
                encryption_config=(
                    ComposerEnvironmentConfigEncryptionConfig(kms_key_name=encryption_key.id)
                    if encryption_key
                    else None
                ),
            ),
            depends_on=[pip_conf, self.pypi],
        )
        google_rules.wait_for(self.environment, lambda: [*self.worker.received, *self.worker.delegations])
        if encryption_key:
            encryption_key.encrypts(self.environment)

    def grant_dag_upload(self, grantee: Grantee) -> None:
        """Put DAGs and their code into the environment's bucket (`make deploy-dags`), and manage
        `config/pip/pip.conf` there: object rights on this bucket only, never
        `roles/composer.environmentAndStorageObjectAdmin`, whose object rights reach every bucket of
        the project (cloud.google.com/composer/docs/composer-3/access-control)."""
        self.bucket.grant_object_admin(grantee)
