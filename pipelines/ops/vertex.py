"""Submitting a compiled pipeline to Vertex AI Pipelines.

The CLI (`make run-pipeline ENV=`) and the trigger function check a submission with
submission.py, then build the same request here: project, region and pipeline root, CMEK when the
environment has it, a service account, labels and parameters. Only plain values come in, so the
trigger function can ship this module without the ML libraries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines.logic.model_names import default_registry_uri, derived_model, team_model
from pipelines.logic.parameters import DEFAULTS

if TYPE_CHECKING:
    from environments.schema import Environment
    from pipelines.ops.submission import Submission


@dataclass(frozen=True)
class Target:
    """Where and how pipelines of one environment run: the facts a submission is checked against.

    The stack hands them to the trigger function as environment variables (`variables`), the
    trigger reads them back (`from_variables`); the CLI builds them from the environment file."""

    project: str
    region: str
    pipeline_root: str
    labels: dict[str, str]
    runner: str
    team_accounts: dict[str, str] = field(default_factory=dict)
    kms_key: str | None = None
    enable_caching: bool = False  # a scheduled run trains on new data: reusing old steps would hide it

    @classmethod
    def of(cls, environment: Environment, team_accounts: dict[str, str] | None = None) -> Target:
        names = environment.names
        if team_accounts is None:
            team_accounts = {t.name: names.service_account_email(names.team_account(t.name)) for t in environment.teams}
        return cls(
            project=environment.project_id,
            region=environment.region,
            pipeline_root=names.pipeline_root,
            labels=environment.resource_labels(),
            runner=names.service_account_email(names.RUNNER),
            team_accounts=team_accounts,
            kms_key=names.kms_key if environment.encryption.cmek else None,
        )

    def variables(self) -> dict[str, str]:
        return {
            "PROJECT_ID": self.project,
            "REGION": self.region,
            "PIPELINE_ROOT": self.pipeline_root,
            "JOB_LABELS": json.dumps(self.labels, sort_keys=True),
            "RUNNER_SERVICE_ACCOUNT": self.runner,
            "TEAM_SERVICE_ACCOUNTS": json.dumps(self.team_accounts, sort_keys=True),
            "KMS_KEY": self.kms_key or "",
            "ENABLE_CACHING": str(self.enable_caching).lower(),
        }

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> Target:
        return cls(
            project=variables["PROJECT_ID"],
            region=variables["REGION"],
            pipeline_root=variables["PIPELINE_ROOT"],
            labels=json.loads(variables.get("JOB_LABELS", "{}")),
            runner=variables["RUNNER_SERVICE_ACCOUNT"],
            team_accounts=json.loads(variables.get("TEAM_SERVICE_ACCOUNTS", "{}")),
            kms_key=variables.get("KMS_KEY") or None,
            enable_caching=variables.get("ENABLE_CACHING", "false").lower() == "true",
        )


def pipeline_job(target: Target, submission: Submission, template: str, *, job_id: str | None = None, credentials=None):
    """An unsubmitted `aiplatform.PipelineJob`; `template` is a local compiled template file."""
    from google.cloud import aiplatform

    return aiplatform.PipelineJob(
        display_name=submission.pipeline,
        template_path=template,
        job_id=job_id,
        pipeline_root=submission.pipeline_root,
        parameter_values=submission.parameters,
        enable_caching=target.enable_caching,
        labels=submission.labels,
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


def existing_job(target: Target, job_id: str, credentials=None) -> dict:
    """The job with this id, as the API returns it (JSON field names)."""
    from google.cloud import aiplatform
    from google.protobuf import json_format

    job = aiplatform.PipelineJob.get(
        f"projects/{target.project}/locations/{target.region}/pipelineJobs/{job_id}",
        project=target.project,
        location=target.region,
        credentials=credentials,
    )
    return json_format.MessageToDict(job.gca_resource._pb)


def conflicts(existing: dict, expected: dict) -> list[str]:
    """How an existing job differs from the create request this submission sends: labels, service
    account, pipeline, pipeline root and parameters. Empty: the job is this submission's own."""

    def at(body: dict, path: str):
        for key in path.split("."):
            body = body.get(key, {}) if isinstance(body, dict) else {}
        return body or None

    checked = (
        "labels",
        "serviceAccount",
        "pipelineSpec.pipelineInfo.name",
        "runtimeConfig.gcsOutputDirectory",
        "runtimeConfig.parameterValues",
    )
    return [
        f"{path} is {json.dumps(at(existing, path), sort_keys=True)[:200]}, expected "
        f"{json.dumps(at(expected, path), sort_keys=True)[:200]}"
        for path in checked
        if at(existing, path) != at(expected, path)
    ]


def vertex_defaults(template: dict, target: Target, team: str | None = None, parameters: dict | None = None) -> dict:
    """Parameters every run on Vertex AI gets unless given: the model registry (the team's model
    for team runs, else the model of the run's source and data spec, model_names.derived_model)
    and, where the pipeline trains, the Vertex AI experiment named after the model."""
    inputs = template["root"].get("inputDefinitions", {}).get("parameters", {})
    given = parameters or {}
    model = (
        team_model(team)
        if team
        else derived_model(given.get("source", DEFAULTS["source"]), given.get("data_spec", DEFAULTS["data_spec"]))
    )
    defaults = {"registry_uri": default_registry_uri(target.project, target.region, model), "experiment": model}
    return {name: value for name, value in defaults.items() if name in inputs}
