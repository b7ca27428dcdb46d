"""The pipeline trigger: Cloud Scheduler POSTs `{pipeline, version?, parameters?, team?}`; it
submits a Vertex AI PipelineJob from the environment's KFP repository, exactly once per firing.

Validation comes first: anything wrong gets 400 `{"error", "field"}`. The job id derives from the
pipeline, the team, the `X-CloudScheduler-ScheduleTime` header (or `X-Request-Id`) and a hash of
the body, so a redelivered request finds its job already submitted (200 `already_submitted`).

Configuration (environment variables, set by the stack; `make serve` sets local ones):
  PROJECT_ID, REGION, PIPELINE_ROOT, JOB_LABELS (JSON), KMS_KEY (optional)
  TEMPLATE_REPOSITORY       the KFP repository URL, or a local folder of <pipeline>.yaml
  RUNNER_SERVICE_ACCOUNT    runs the pipelines; TEAM_SERVICE_ACCOUNTS (JSON team -> account)
  ENABLE_CACHING            true/false;  DRY_RUN  true: answer with the request instead of sending it
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import functions_framework
import yaml

from environments.config import PIPELINES
from functions.http_json import BadRequest, json_object, string_field
from pipelines.parameters import check
from pipelines.vertex import Target, pipeline_job, request_of, vertex_defaults

BODY_KEYS = ("pipeline", "version", "parameters", "team")
MAX_BODY_BYTES = 64 * 1024
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _config() -> dict:
    env = os.environ
    return {
        "target": Target(
            project=env["PROJECT_ID"],
            region=env["REGION"],
            pipeline_root=env["PIPELINE_ROOT"],
            labels=json.loads(env.get("JOB_LABELS", "{}")),
            kms_key=env.get("KMS_KEY") or None,
        ),
        "templates": env["TEMPLATE_REPOSITORY"],
        "runner": env["RUNNER_SERVICE_ACCOUNT"],
        "teams": json.loads(env.get("TEAM_SERVICE_ACCOUNTS", "{}")),
        "caching": env.get("ENABLE_CACHING", "false").lower() == "true",
        "dry_run": env.get("DRY_RUN", "false").lower() == "true",
    }


def parse(request, teams: dict) -> dict:
    """The validated body, or BadRequest naming the field."""
    body = json_object(request, BODY_KEYS, MAX_BODY_BYTES)
    pipeline = body.get("pipeline")
    if pipeline not in PIPELINES:
        raise BadRequest(
            "pipeline", f"{json.dumps(pipeline)[:80]} is not a pipeline; expected one of {', '.join(PIPELINES)}"
        )
    version = body.get("version", "latest")
    if not isinstance(version, str) or not TAG.fullmatch(version):
        raise BadRequest("version", f"{json.dumps(version)[:80]} is not a template tag; expected e.g. latest or v1.2.0")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequest("parameters", "expected a JSON object of pipeline parameters")
    team = string_field(body, "team")
    if team is not None and team not in teams:
        known = ", ".join(sorted(teams)) or "none are onboarded"
        raise BadRequest("team", f"{json.dumps(team)[:80]} is not a team of this environment; expected one of {known}")
    return {"pipeline": pipeline, "version": version, "parameters": parameters, "team": team}


def job_id(body: dict, headers) -> str:
    """Stable for one scheduled firing: the same firing redelivered gets the same id."""
    schedule_time, request_id = headers.get("X-CloudScheduler-ScheduleTime"), headers.get("X-Request-Id")
    if schedule_time:
        try:
            stamp = datetime.fromisoformat(schedule_time.replace("Z", "+00:00")).strftime("%Y%m%dt%H%M%S")
        except ValueError:
            raise BadRequest(
                "X-CloudScheduler-ScheduleTime", f"{schedule_time[:40]!r} is not an RFC 3339 time"
            ) from None
    elif request_id:
        if not REQUEST_ID.match(request_id):
            raise BadRequest("X-Request-Id", "expected 1 to 100 letters, digits, '.', '_', ':' or '-'")
        stamp = re.sub(r"[^a-z0-9-]", "-", request_id.lower())[:40]
    else:
        raise BadRequest(
            "X-CloudScheduler-ScheduleTime",
            "missing; expected the header Cloud Scheduler sends "
            "(or X-Request-Id) so that a redelivered request never starts a second run",
        )
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return f"{body['pipeline']}-{body['team'] or 'platform'}-{stamp}-{digest}"[:128]


def load_template(templates: str, pipeline: str, version: str, credentials) -> Path:
    """Download `<repository>/<pipeline>/<version>` (or read `<folder>/<pipeline>.yaml`) to a file."""
    if not templates.startswith(("https://", "http://")):
        return Path(templates) / f"{pipeline}.yaml"
    import requests

    headers = {}
    if credentials is not None and templates.startswith("https://"):
        from google.auth.transport.requests import Request

        if not credentials.valid:
            credentials.refresh(Request())
        headers["Authorization"] = f"Bearer {credentials.token}"
    response = requests.get(f"{templates}/{pipeline}/{version}", headers=headers, timeout=30)
    if response.status_code == 404:
        raise BadRequest("version", f"no template {pipeline}:{version} in the KFP repository", 404)
    response.raise_for_status()
    path = Path(tempfile.mkdtemp()) / f"{pipeline}.yaml"
    path.write_bytes(response.content)
    return path


@functools.cache
def _credentials(dry_run: bool):
    """Looked up once per instance, not per request; the token is refreshed only when it expires."""
    if dry_run:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    return google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0]


@functions_framework.http
def trigger(request):
    config = _config()
    try:
        body = parse(request, config["teams"])
        identifier = job_id(body, request.headers)
        credentials = _credentials(config["dry_run"])
        template_path = load_template(config["templates"], body["pipeline"], body["version"], credentials)
        template = yaml.safe_load(template_path.read_text())
        values = vertex_defaults(template, config["target"].project, config["target"].region) | body["parameters"]
        problems = check(template, values, where="parameters")
        if problems:
            field, message = problems[0]
            raise BadRequest(field, message)
    except BadRequest as bad:
        return bad.response()

    target = config["target"]
    account = config["runner"]
    if body["team"]:  # a team's runs execute as its account, inside its own prefix of the pipeline root
        account = config["teams"][body["team"]]
        target = replace(target, pipeline_root=f"{target.pipeline_root}/teams/{body['team']}")
    job = pipeline_job(
        target,
        body["pipeline"],
        str(template_path),
        values,
        job_id=identifier,
        labels=target.job_labels(body["pipeline"], trigger="scheduler", team=body["team"]),
        enable_caching=config["caching"],
        credentials=credentials,
    )
    if config["dry_run"]:
        return {"status": "dry_run", "job_id": identifier, "request": request_of(job, account)}, 200

    from google.api_core.exceptions import AlreadyExists, Conflict

    try:
        job.submit(service_account=account)
    except (AlreadyExists, Conflict):
        return {"status": "already_submitted", "job_id": identifier}, 200
    return {"status": "submitted", "job_id": identifier, "job": job.resource_name}, 200
