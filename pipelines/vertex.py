"""Submitting a compiled pipeline to Vertex AI Pipelines for one environment.

The CLI (`make run-pipeline ENV=`) and the trigger function build the same request here: the
environment's project, region and pipeline root, a service account, labels and parameters.
"""

from __future__ import annotations

from typing import Any

from environments.config import Environment


def pipeline_job(
    environment: Environment,
    pipeline: str,
    template: str,
    parameters: dict[str, Any],
    *,
    labels: dict[str, str],
    job_id: str | None = None,
    enable_caching: bool | None = None,
    credentials=None,
):
    """An unsubmitted `aiplatform.PipelineJob`; `template` is a local file or a KFP repository URL."""
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(
        display_name=pipeline,
        template_path=template,
        job_id=job_id,
        pipeline_root=environment.names.pipeline_root,
        parameter_values=parameters,
        enable_caching=enable_caching,
        labels=labels,
        encryption_spec_key_name=environment.names.kms_key if environment.encryption.cmek else None,
        project=environment.project_id,
        location=environment.region,
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


def job_labels(environment: Environment, pipeline: str, trigger: str, team: str | None = None) -> dict[str, str]:
    return environment.resource_labels(team=team) | {"pipeline": pipeline, "trigger": trigger}


def default_registry_uri(environment: Environment, model: str = "forecaster") -> str:
    return f"vertex://{environment.project_id}/{environment.region}/{model}"
