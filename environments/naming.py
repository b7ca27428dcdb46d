"""The naming contract: what the platform's resources are called in one environment. The stacks
create them under these names, and pipelines, functions and make targets find them by the same
names. Plain Python (no pydantic, no YAML): the function archives ship it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MANAGED_BY = "mlops-platform"
# Labels the platform sets itself on every resource; environment files may not override them.
PLATFORM_LABEL_KEYS = frozenset({"env", "managed-by", "team"})

# A template tag (a KFP repository tag, a release): also what `TAG=` and schedules' versions must be.
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Where the daily cycle may collect from over HTTP: an http(s) URL, `{day}` standing for the day.
SOURCE_URL = re.compile(r"https?://[^\s]{1,2000}")

# The pipelines the platform ships (pipelines/kfp_glue/definitions.py builds them; schedules name them).
# `daily` runs one day of the daily cycle (pipelines/logic/cycle.py) where Composer is off.
PIPELINES = ("training", "prediction", "monitoring", "daily")
LOCAL_COMPONENTS_IMAGE = "mlops-platform/python-components:local"  # what local runs and compiles name
MODEL = "forecaster"  # the platform's model (pipelines/logic/model_names.py names the others)
# Vertex AI model ids. A model's resource id is its name, so it is looked up by id, never by
# display name (anyone with aiplatform.user can create a model with any display name).
MODEL_ID = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def bucket_name(project_id: str, purpose: str) -> str:
    """Bucket names are global: they carry the project id, e.g. `acme-ml-dev-data`."""
    return f"{project_id}-{purpose}"


@dataclass(frozen=True)
class ResourceNames:
    """The names of the platform's resources in one environment: the stacks create them under
    these names, and pipelines, functions and make targets find them by the same names."""

    environment: str
    project_id: str
    region: str

    # One service account per workload (account ids: 6 to 30 characters).
    RUNNER = "pipelines-runner"
    TRIGGER = "pipeline-trigger"
    SCHEDULER_INVOKER = "scheduler-invoker"
    SERVING = "model-serving"
    FUNCTION_BUILDER = "function-builder"
    COMPOSER_WORKER = "composer-worker"
    DASHBOARD = "dashboard-viewer"
    # One identity per delivery job: pull-request checks, publishing, applying.
    CHECKS = "cloudbuild-checks"
    PUBLISHER = "cloudbuild-publisher"
    DEPLOYER = "cloudbuild-deployer"

    CONTAINERS_REPOSITORY = "containers"
    PIPELINES_REPOSITORY = "pipelines"
    FUNCTIONS_REPOSITORY = "functions"

    def bucket(self, purpose: str) -> str:
        return bucket_name(self.project_id, purpose)

    @staticmethod
    def team_prefix(team: str) -> str:
        """A team's corner of the data, pipeline-root and models buckets (a managed folder)."""
        return f"teams/{team}/"

    @staticmethod
    def team_account(team: str) -> str:
        """A team's runner account id (team names are at most 25 characters)."""
        return f"team-{team}"

    def service_account_email(self, account_id: str) -> str:
        return f"{account_id}@{self.project_id}.iam.gserviceaccount.com"

    @property
    def kms_key_ring(self) -> str:
        return f"{self.environment}-platform"

    @property
    def kms_key(self) -> str:
        """The CMEK key's resource name (the key carries the key ring's name)."""
        return (
            f"projects/{self.project_id}/locations/{self.region}/keyRings/{self.kms_key_ring}"
            f"/cryptoKeys/{self.kms_key_ring}"
        )

    @property
    def pipeline_root(self) -> str:
        return f"gs://{self.bucket('pipeline-root')}"

    @property
    def kfp_repository_url(self) -> str:
        return f"https://{self.region}-kfp.pkg.dev/{self.project_id}/{self.PIPELINES_REPOSITORY}"

    @property
    def components_image(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project_id}/{self.CONTAINERS_REPOSITORY}/python-components"
