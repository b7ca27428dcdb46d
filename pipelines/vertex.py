"""Submitting a compiled pipeline to Vertex AI Pipelines.

The CLI (`make run-pipeline ENV=`) and the trigger function build the same request here: project,
region and pipeline root, CMEK when the environment has it, a service account, labels and
parameters. Only plain values come in, so the trigger function can ship this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from environments.config import Environment


@dataclass(frozen=True)
class Target:
    """Where and how pipelines of one environment run."""

    project: str
    region: str
    pipeline_root: str
    labels: dict[str, str]
    kms_key: str | None = None

    @classmethod
    def of(cls, environment: Environment) -> Target:
        return cls(
            project=environment.project_id,
            region=environment.region,
            pipeline_root=environment.names.pipeline_root,
            labels=environment.resource_labels(),
            kms_key=environment.names.kms_key if environment.encryption.cmek else None,
        )

    def job_labels(self, pipeline: str, trigger: str, team: str | None = None) -> dict[str, str]:
        return self.labels | ({"team": team} if team else {}) | {"pipeline": pipeline, "trigger": trigger}


def pipeline_job(
    target: Target,
    pipeline: str,
    template: str,
    parameters: dict[str, Any],
    *,
    labels: dict[str, str],
    job_id: str | None = None,
    enable_caching: bool | None = None,
    credentials=None,
):
    """An unsubmitted `aiplatform.PipelineJob`; `template` is a local compiled template file."""
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(
        display_name=pipeline,
        template_path=template,
        job_id=job_id,
        pipeline_root=target.pipeline_root,
        parameter_values=parameters,
        enable_caching=enable_caching,
        labels=labels,
        encryption_spec_key_name=target.kms_key,
        project=target.project,
        location=target.region,
        credentials=credentials,
    )


def request_of(job, service_account: str) -> dict:
    """The exact create request `job.submit(service_account=...)` sends: URL and JSON body."""
    from google.protobuf import json_format

    # The unsubmitted proto: `job.gca_resource` refuses to return it before the job exists.
    body = json_format.MessageToDict(job._gca_resource._pb) | {"serviceAccount": service_account}
    parent = f"projects/{job.project}/locations/{job.location}"
    return {
        "method": "POST",
        "url": f"https://{job.location}-aiplatform.googleapis.com/v1/{parent}/pipelineJobs",
        "query": {"pipelineJobId": job.job_id},
        "body": body,
    }


MODEL = "forecaster"


def default_registry_uri(project: str, region: str, model: str = MODEL) -> str:
    return f"vertex://{project}/{region}/{model}"


def vertex_defaults(template: dict, project: str, region: str) -> dict:
    """Parameters every run on Vertex AI gets unless given: the Vertex model registry and, where
    the pipeline trains, the Vertex AI experiment its runs are logged to."""
    inputs = template["root"].get("inputDefinitions", {}).get("parameters", {})
    defaults = {"registry_uri": default_registry_uri(project, region), "experiment": MODEL}
    return {name: value for name, value in defaults.items() if name in inputs}
